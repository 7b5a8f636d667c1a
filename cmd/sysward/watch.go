package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/kube"
	"github.com/sysward/sysward/internal/watch"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// watchFlags are the flags `sysward watch` and `sysward run --watch` share.
func watchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "rules", Usage: "Falco rules `FILE` loaded after sysward's built-in rules (repeatable; later files append to and override earlier ones)"},
		&cli.BoolFlag{Name: "no-default-rules", Usage: "leave out sysward's built-in rules (then --rules is required)"},
		skipUnknownFieldsFlag,
		&cli.StringFlag{Name: "format", Value: "text", Usage: "alert `FORMAT` on stdout: text (Falco's line) or json (Falco's JSON alert, one per line)"},
		&cli.StringFlag{Name: "http-url", Usage: "also POST each alert as Falco's JSON to `URL` (falcosidekick)"},
		&cli.StringFlag{Name: "outputs", Usage: "outputs `FILE` (YAML: stdout, file, http, program, dedup, queue_size; see deploy/base/configmap.yaml); replaces --http-url, --no-stdout and --dedup-window"},
		&cli.BoolFlag{Name: "no-stdout", Usage: "do not print alerts on stdout (with --http-url)"},
		&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus /metrics and /healthz on `ADDR` (e.g. 127.0.0.1:9376; unauthenticated: keep it off shared interfaces)"},
		&cli.StringFlag{Name: "health-addr", Usage: "serve /healthz alone on `ADDR` (kubelet probes, e.g. :9377); no metrics there"},
		&cli.DurationFlag{Name: "health-stall", Value: watch.DefaultStallAfter, Usage: "/healthz answers 503 (with the reason) once the kernel event reader, container discovery or an output holding queued alerts has made no progress for `D`"},
		&cli.StringFlag{Name: "record", Usage: "record every event as JSONL to `FILE` (replay: sysward rules test --events FILE)"},
		&cli.IntFlag{Name: "record-max-mib", Value: detector.MaxEventsFileSize >> 20, Usage: fmt.Sprintf("stop recording after `N` MiB, 1 to %d (what rules test --events reads); events past it are counted in the summary", detector.MaxEventsFileSize>>20)},
		&cli.StringFlag{Name: "min-priority", Usage: "only rules at least as severe as `PRIORITY` (e.g. warning)"},
		&cli.DurationFlag{Name: "dedup-window", Value: watch.DefaultDedupWindow, Usage: "repeats of an alert (same rule, workload, syscall) within `D` are counted into one summary alert; 0 off"},
		&cli.BoolFlag{Name: "first-only", Usage: "one kernel event per (workload, syscall): cheaper, repeats are not counted"},
		&cli.StringFlag{Name: "name", Usage: "workload `NAME` in alerts (default: the command line, container id or cgroup path)"},
		&cli.StringFlag{Name: "update", Usage: "when the session ends, write to `OUT` the profile plus the syscalls made outside it (sysward profile absorb of this session's record)"},
		&cli.BoolFlag{Name: "fail-on-undelivered", Usage: "exit 1 if an alert could not be delivered (an output unreachable or too slow) and the command itself succeeded; by default the command's status wins and undelivered alerts are reported on stderr, in the summary and in sysward_output_drops_total"},
	}
}

func watchCommand() *cli.Command {
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "profile", Aliases: []string{"p"}, Usage: "seccomp profile `FILE` the workload is held to (required)"},
		&cli.StringFlag{Name: "cgroup", Usage: "watch the cgroup2 directory `PATH` (absolute or relative to the mount)"},
		&cli.StringFlag{Name: "container", Usage: "watch the runc/containerd/crun container `ID` (or unique prefix)"},
		&cli.StringFlag{Name: "mode", Value: watch.ModeWatch, Usage: "what enforces the profile on the target, for the alerts: watch (nothing), complain or enforce"},
		&cli.BoolFlag{Name: "all-containers", Usage: "node agent: watch every container on the host, each against its installed profile under --profiles-dir"},
		&cli.StringFlag{Name: "profiles-dir", Value: enforcer.DefaultKubeletRoot, Usage: "with --all-containers: `DIR` searched recursively for installed profiles (sysward profile install / the kubelet's seccomp root)"},
		&cli.StringSliceFlag{Name: "container-root", Usage: "with --all-containers: runtime state `DIR` to discover containers in (repeatable; default /run/runc, /run/containerd/runc, /run/crun, /run/user/0/{runc,crun})"},
		&cli.StringFlag{Name: "install-from", Usage: "with --all-containers: install the profiles in `DIR` (a ConfigMap volume: one \"<namespace>.<name>.json\" per profile) under --profiles-dir/sysward/ as \"sysward profile install\" names them, and remove installed ones DIR no longer holds once no running container uses them"},
		&cli.BoolFlag{Name: "runtime-itself", Usage: "watch a container runtime command (runc run, podman run, ctr run ...) as it is: the runtime's calls, not the container's (refused without it)"},
		&cli.IntFlag{Name: "max-containers", Value: watch.DefaultMaxContainers, Usage: "with --all-containers: watch at most `N` containers (beyond: a warning alert and the sysward_containers_untracked metric)"},
	}, append(append(kubeFlags(), auditInputFlags()...), watchFlags()...)...)
	return &cli.Command{
		Name:      "watch",
		Usage:     "watch a workload for syscalls outside its profile and alert with Falco-style rules",
		ArgsUsage: "[-- CMD ARGS...]",
		UsageText: `sysward watch --profile FILE [--rules FILE...] [--format text|json] [--http-url URL]
              [--metrics-addr ADDR] [--record FILE] (-- CMD ARGS... | --cgroup PATH | --container ID)
   sysward watch --all-containers [--profiles-dir DIR] [--container-root DIR...] [--install-from DIR]
              [--rules FILE...] [--outputs FILE] [--metrics-addr ADDR] [--kubeconfig FILE] [--node-name NAME]
              [--store [--store-interval D]]
              [--audit-listen ADDR --audit-cert FILE --audit-key FILE | --audit-log FILE]

Puts the profile's allowed syscalls into the kernel's state for the
workload's cgroup (eBPF). A call outside the profile sets a bit in a
per-cgroup deviation bitmap and sends one event; exec events come too. Each
event is enriched from /proc (executable, command line, parent, user,
container) and run through the rules: sysward's built-in rules (syscall
outside profile, shell spawned in the workload, package manager or network
tool launched) plus any --rules files in Falco's language. The first alert
per (rule, workload, syscall) is printed in full, repeats within
--dedup-window are counted into one summary alert.

A container runtime starting a container (runc run, podman run, ctr run ...)
is refused with status 2 and the commands that watch the container instead
(--runtime-itself watches the runtime). A command runs in a fresh cgroup and
watch returns its exit status (if
sysward is killed, the command dies with it: it is not left unwatched). A
--cgroup or --container target is watched until it empties or Ctrl-C. On
exit a summary goes to stderr: every syscall outside the profile (from the
kernel bitmap, complete even if events were dropped), counts, and drops.
To enforce and watch in one step: sysward run --profile FILE --watch -- CMD.

Node agent (--all-containers, what the DaemonSet runs): every new cgroup is
held by the kernel from its creation, so a container is watched from its
first instruction (a shell its entrypoint starts at once alerts, however
short-lived the container); the runtime state roots are read at once and
every second to tell which container it is. Each container's cgroup is tracked; its
bundle's linux.seccomp is hashed like "sysward profile install" names files,
and a profile under --profiles-dir with that hash becomes its profile
(sysward.profile is the file; enforce/complain/watch from its actions). A
container without one is tracked unrestricted: exec rules (shell spawned,
package manager, network tool) still fire, deviations cannot. Containers
that disappear are untracked. With --install-from DIR, every profile in DIR
is installed under --profiles-dir/sysward/ (content-hashed names, checked
and compiled first, written atomically; a bad file is skipped with one
warning and counted in sysward_profiles_install_skipped_total), so pods can
reference it as a Localhost profile on this node; an installed file
(hashed name) DIR no longer holds is removed once no running container uses
it. Runs until SIGINT/SIGTERM.
With a Kubernetes API (the pod's service-account token, or --kubeconfig),
a pod informer limited to --node-name adds each container's pod to its
alerts: k8s.ns.name, k8s.pod.name, k8s.pod.uid, k8s.pod.labels,
container.name, container.image.*, and sysward.workload becomes
namespace/kind/name of the owning workload (deployment, statefulset,
daemonset, cronjob, job, or pod for a bare pod).
With --store (and an API) the agent also works with the cluster store, the
WorkloadProfile objects (sysward.io), one per workload and container: the
containers of pods labelled sysward.io/learn=true, on the pod (its
template) or on its namespace, are learned on every node; every
--store-interval each node merges what is new (the syscalls, the time it
first noticed each, the pod, the node, the image) into the object, one
optimistic update per workload and container for all its replicas on the
node. Containers running under a profile the store applied report the
calls outside it (complain mode: absorbed; enforce: counted). The applied
profiles of every object are installed as --profiles-dir/sysward/<namespace>/
<file>.json (checked: path, size, content, hash) and removed once no
object names them and no running container uses them. An object in
Complain annotated sysward.io/auto-promote=<window> is promoted to
Enforcing once the window passed without a new syscall or deviation.
With --audit-listen (the kube-apiserver's audit webhook, as sysward audit
serve) and/or --audit-log (its audit log file, as sysward audit follow) the
agent also reads the API server's audit records: they go through the
k8s_audit rules of --rules (e.g. Falco's k8s_audit_rules.yaml), and an exec,
attach, port-forward or ephemeral container into a pod followed within
--correlation-window by a call outside that pod's profile raises one
Critical alert "Syscall outside profile after interactive access to pod"
naming the Kubernetes user, the pod, the command and the call (needs the
pod informer: --kubeconfig or the service account). Which agent should
receive the audit stream: docs/audit.md.

Example:
   sysward watch --profile app.json -- ./app --serve
   sysward watch --profile web.json --container 3f2a --format json --http-url http://127.0.0.1:2801/
   sysward watch --profile app.json --rules local_rules.yaml --record events.jsonl -- ./app
   sysward watch --all-containers --profiles-dir=/var/lib/kubelet/seccomp --outputs=/etc/sysward/outputs.yaml --metrics-addr=:9376`,
		Flags:  flags,
		Action: watchAction,
	}
}

func watchAction(c *cli.Context) error {
	if c.Bool("all-containers") {
		if c.IsSet("update") {
			return usagef("watch: --update needs one workload, not --all-containers")
		}
		return nodeAction(c)
	}
	for _, f := range append([]string{"container-root", "max-containers", "install-from", "kubeconfig", "node-name", "store", "store-interval"}, auditInputFlagNames...) {
		if c.IsSet(f) {
			return usagef("watch: --%s needs --all-containers", f)
		}
	}
	t := watch.Target{Command: c.Args().Slice(), Cgroup: c.String("cgroup"), Container: c.String("container"), Name: c.String("name"),
		RuntimeItself: c.Bool("runtime-itself")}
	n := 0
	for _, set := range []bool{len(t.Command) > 0, t.Cgroup != "", t.Container != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return usagef("watch: give exactly one of -- CMD ARGS..., --cgroup or --container (see --help)")
	}
	if c.String("profile") == "" {
		return usagef("watch: --profile FILE is required")
	}
	mode := c.String("mode")
	switch mode {
	case watch.ModeWatch, watch.ModeComplain, watch.ModeEnforce:
	default:
		return usagef("watch: --mode %q: want watch, complain or enforce", mode)
	}
	if len(t.Command) > 0 {
		if _, err := exec.LookPath(t.Command[0]); err != nil {
			return usagef("watch: %v", err)
		}
	}
	path := c.String("profile")
	p, err := inputfile.Profile(path)
	if err != nil {
		return usageErr(err)
	}
	cfg, err := watchConfig(c, p, path, mode)
	if err != nil {
		return err
	}
	return withUpdate(c, p, &cfg, func() error { return runSession(c, cfg, t) })
}

// watchConfig turns the shared flags into a watch.Config; bad flags and
// rules files are usage errors (exit 2).
func watchConfig(c *cli.Context, p *profiles.Profile, path, mode string) (watch.Config, error) {
	cfg := watch.Config{Profile: p, ProfileName: path, Mode: mode,
		HTTPURL: c.String("http-url"), NoStdout: c.Bool("no-stdout"), MetricsAddr: c.String("metrics-addr"),
		HealthAddr: c.String("health-addr"), Record: c.String("record"), MinPriority: c.String("min-priority"), FirstOnly: c.Bool("first-only"),
		Stdout: c.App.Writer, Stderr: c.App.ErrWriter, StallAfter: c.Duration("health-stall")}
	if cfg.StallAfter <= 0 {
		return cfg, usagef("--health-stall: %v is not a positive duration", cfg.StallAfter)
	}
	// Delivery errors (rate-limited by the outputs) go to stderr: an alert
	// that does not arrive must not go unnoticed.
	cfg.Logger = slog.New(slog.NewTextHandler(errWriter(c), nil))
	f, err := output.ParseFormat(c.String("format"))
	if err != nil {
		return cfg, usagef("--format: %v", err)
	}
	cfg.Format = f
	if path := c.String("outputs"); path != "" {
		for _, fl := range []string{"http-url", "no-stdout", "dedup-window"} {
			if c.IsSet(fl) {
				return cfg, usagef("--%s and --outputs: set it in the outputs file %s", fl, path)
			}
		}
		oc, err := output.LoadConfig(path)
		if err != nil {
			return cfg, usageErr(fmt.Errorf("--outputs: %w", err))
		}
		cfg.Outputs = oc
	}
	m := c.Int("record-max-mib")
	if m < 1 || int64(m) > detector.MaxEventsFileSize>>20 {
		return cfg, usagef("--record-max-mib %d: want 1 to %d", m, detector.MaxEventsFileSize>>20)
	}
	cfg.RecordMax = int64(m) << 20
	if mp := cfg.MinPriority; mp != "" {
		if _, err := detector.ParsePriority(mp); err != nil {
			return cfg, usagef("--min-priority: %v", err)
		}
	}
	switch d := c.Duration("dedup-window"); {
	case d < 0:
		return cfg, usagef("--dedup-window: must not be negative")
	case d == 0:
		cfg.DedupWindow = -1
	default:
		cfg.DedupWindow = d
	}
	if cfg.NoStdout && cfg.HTTPURL == "" {
		return cfg, usagef("--no-stdout needs --http-url (alerts would go nowhere)")
	}
	rules := c.StringSlice("rules")
	if c.Bool("no-default-rules") && len(rules) == 0 {
		return cfg, usagef("--no-default-rules needs at least one --rules FILE")
	}
	rs, err := watch.LoadRulesWith(loadOptions(c), c.Bool("no-default-rules"), rules...)
	if err != nil {
		return cfg, rulesLoadErr(err)
	}
	cfg.Rules = rs
	return cfg, nil
}

// nodeAction is `sysward watch --all-containers`: the node agent.
func nodeAction(c *cli.Context) error {
	if c.NArg() > 0 || c.IsSet("cgroup") || c.IsSet("container") || c.IsSet("profile") || c.IsSet("name") || c.IsSet("mode") {
		return usagef("watch --all-containers takes no command, --cgroup, --container, --profile, --name or --mode: each container's profile is found under --profiles-dir")
	}
	if c.Int("max-containers") <= 0 {
		return usagef("--max-containers: must be positive")
	}
	dir := c.String("profiles-dir")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if c.IsSet("profiles-dir") {
			return usagef("--profiles-dir %s: not a directory", dir)
		}
		dir = "" // the default kubelet root is absent: nothing to match
	}
	from := c.String("install-from")
	if from != "" {
		if st, err := os.Stat(from); err != nil || !st.IsDir() {
			return usagef("--install-from %s: not a directory", from)
		}
		if dir == "" {
			return usagef("--install-from needs --profiles-dir: the default %s is absent", enforcer.DefaultKubeletRoot)
		}
	}
	cfg, err := watchConfig(c, nil, "", watch.ModeWatch)
	if err != nil {
		return err
	}
	nopts := watch.NodeOptions{ProfilesDir: dir, InstallFrom: from, MaxContainers: c.Int("max-containers"), Logger: cfg.Logger}
	if roots := c.StringSlice("container-root"); len(roots) > 0 {
		nopts.Roots = roots
	}
	if nopts.Audit, err = auditInput(c); err != nil {
		return err
	}
	so, err := storeOptions(c)
	if err != nil {
		return err
	}
	if nopts.Audit != nil && nopts.Audit.Listener != nil {
		defer nopts.Audit.Listener.Close() // closed by the webhook too, unless the session never started
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	pods, so, err := startPods(ctx, c, cfg.Logger, so)
	if err != nil {
		return err
	}
	nopts.Store = so
	if pods != nil {
		cfg.Pods, cfg.ExtraFields = pods, kube.Fields
	}
	if _, err := watch.NodeSession(ctx, cfg, nopts, nil); err != nil {
		if errors.Is(err, cgroups.ErrNoCgroup2) {
			return fmt.Errorf("watch: %w (mount one: mount -t cgroup2 none /sys/fs/cgroup/unified)", err)
		}
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}

// runSession runs a watch session with Ctrl-C/SIGTERM as the stop signal and
// maps its errors to exit statuses.
func runSession(c *cli.Context, cfg watch.Config, t watch.Target) error {
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := watch.Session(ctx, cfg, t)
	if err != nil {
		switch {
		case errors.Is(err, profiler.ErrUnknownTarget), errors.Is(err, profiler.ErrAmbiguous), errors.Is(err, profiler.ErrContainerRuntime):
			return usageErr(fmt.Errorf("watch: %w", err))
		case errors.Is(err, cgroups.ErrNoCgroup2):
			return fmt.Errorf("watch: %w (mount one: mount -t cgroup2 none /sys/fs/cgroup/unified)", err)
		}
		return fmt.Errorf("watch: %w", err)
	}
	// The workload's status wins over the outputs': the command ran and was
	// watched; alerts lost on the way are in the summary (and the log lines
	// and metrics above it) unless the user asked for them to fail the run.
	if res.Summary.Undelivered() && c.Bool("fail-on-undelivered") && res.ExitCode <= 0 {
		return fmt.Errorf("watch: --fail-on-undelivered: %d alert(s) not delivered, %d failed attempts (see the summary)", res.Summary.OutputDrops, res.Summary.OutputErrors)
	}
	if res.ExitCode >= 0 {
		return commandStatus(res.ExitCode)
	}
	return nil
}

// errWriter is the app's stderr.
func errWriter(c *cli.Context) io.Writer {
	if c.App.ErrWriter != nil {
		return c.App.ErrWriter
	}
	return os.Stderr
}

// runWatch is `sysward run --watch`: the enforcing launcher runs as a
// watched child, held to the profile it enforces (plus the launcher's own
// last syscalls), so denied calls become alerts.
func runWatch(c *cli.Context, p *profiles.Profile, path string, mode enforcer.Mode, l *enforcer.Launch) error {
	eff := p.Clone()
	for _, a := range l.Added {
		eff.Allow(a.Name)
	}
	cfg, err := watchConfig(c, eff, path, string(mode))
	if err != nil {
		return err
	}
	argv := c.Args().Slice()
	t := watch.Target{Launch: watch.Launcher(p, string(mode), c.Bool("force"), argv), WaitSeccomp: true,
		Name: c.String("name"), Stdin: os.Stdin}
	if t.Name == "" {
		t.Name = strings.Join(argv, " ")
	}
	// The update absorbs into p, not eff: the launcher's own calls are
	// added by every `sysward run` and do not belong in the profile.
	return withUpdate(c, p, &cfg, func() error { return runSession(c, cfg, t) })
}
