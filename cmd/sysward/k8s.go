package main

// The `sysward k8s` command group: WorkloadProfiles (the cluster store,
// internal/store) read and moved through their phases with kubectl's
// conventions. This file: the connection (kubeconfig, context,
// namespace), the WORKLOAD argument and `status`; k8s_apply.go: apply,
// promote and learn.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/store"
	"github.com/sysward/sysward/internal/version"
)

func k8sCommand() *cli.Command {
	return &cli.Command{
		Name:  "k8s",
		Usage: "show, apply and promote the profiles learned in a cluster (WorkloadProfiles)",
		Description: `Learning across a cluster: mark a workload (sysward k8s learn WORKLOAD, or a
whole namespace: kubectl label ns NS sysward.io/learn=true); the node agents
merge every replica's syscalls into one WorkloadProfile per container. Then:

   sysward k8s status                                  what was learned
   sysward k8s apply WORKLOAD --mode complain          pods run under the SCMP_ACT_LOG variant
   sysward k8s promote WORKLOAD --window 24h           once nothing new was seen for 24h
   sysward k8s apply WORKLOAD --mode enforce           pods run under the enforcing profile

The connection follows kubectl: --kubeconfig, else $KUBECONFIG (several
files joined with ':'), else ~/.kube/config; --context; -n/--namespace
(default: the context's namespace, else "default"). Flags may follow the
WORKLOAD argument.

WORKLOAD is KIND/NAME or NAME (a Deployment): deployment/web, deploy/web,
web, statefulset/db (sts), daemonset/agent (ds), cronjob/report (cj);
job/once, replicaset/NAME (rs) and pod/NAME (po: a bare pod, or one whose
owner is not a workload) for status and promote (their pod template
cannot change).`,
		Subcommands: []*cli.Command{
			k8sStatusCommand(),
			k8sApplyCommand(),
			k8sPromoteCommand(),
			k8sLearnCommand(),
		},
	}
}

// k8sConnFlags are kubectl's connection flags, on every k8s subcommand.
func k8sConnFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `FILE` (default: $KUBECONFIG, several files joined with ':', else ~/.kube/config)"},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig `CONTEXT` to use (default: the current-context)"},
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "`NAMESPACE` of the workload (default: the context's namespace, else default)"},
	}
}

// k8sEnv is a connection to the cluster.
type k8sEnv struct {
	ns    string // from -n, the context, or "default"
	cs    kubernetes.Interface
	store *store.Client
	out   io.Writer
	errw  io.Writer
}

// k8sConnect loads the kubeconfig as kubectl does. A kubeconfig that does
// not load, an unknown context or a bad namespace is bad usage (exit 2),
// named by the flag or variable it came from.
func k8sConnect(c *cli.Context) (*k8sEnv, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.IsSet("kubeconfig") {
		rules.ExplicitPath = c.String("kubeconfig")
	}
	ov := &clientcmd.ConfigOverrides{CurrentContext: c.String("context")}
	if c.IsSet("namespace") {
		ns := c.String("namespace")
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, usagef("--namespace %q: %s", clipText(ns, 64), strings.Join(errs, "; "))
		}
		ov.Context.Namespace = ns
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, ov)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, kubeconfigErr(c, rules, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, kubeconfigErr(c, rules, err)
	}
	cfg.UserAgent = "sysward/" + version.Version + " (k8s)"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, kubeconfigErr(c, rules, err)
	}
	sc, err := store.NewClient(cfg)
	if err != nil {
		return nil, kubeconfigErr(c, rules, err)
	}
	return &k8sEnv{ns: ns, cs: cs, store: sc, out: c.App.Writer, errw: c.App.ErrWriter}, nil
}

func kubeconfigErr(c *cli.Context, rules *clientcmd.ClientConfigLoadingRules, err error) error {
	switch {
	case c.IsSet("context") && (clientcmd.IsContextNotFound(err) || strings.Contains(err.Error(), "context")):
		return usagef("--context %q: no such context in the kubeconfig%s", clipText(c.String("context"), 253), contextNames(rules))
	case c.IsSet("kubeconfig"):
		return usagef("--kubeconfig %s: %v", c.String("kubeconfig"), err)
	case clientcmd.IsEmptyConfig(err) && os.Getenv("KUBECONFIG") != "":
		return usagef("KUBECONFIG=%s: no usable kubeconfig in these files", clipText(os.Getenv("KUBECONFIG"), 512))
	case clientcmd.IsEmptyConfig(err):
		return usagef("no kubeconfig: give --kubeconfig FILE or set KUBECONFIG (or write ~/.kube/config)")
	case os.Getenv("KUBECONFIG") != "":
		return usagef("KUBECONFIG=%s: %v", clipText(os.Getenv("KUBECONFIG"), 512), err)
	}
	return usagef("kubeconfig: %v", err)
}

// contextNames lists the kubeconfig's contexts for an error message.
func contextNames(rules *clientcmd.ClientConfigLoadingRules) string {
	cfg, err := rules.Load()
	if err != nil || len(cfg.Contexts) == 0 {
		return ""
	}
	var names []string
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 20 {
		names = append(names[:20], "...")
	}
	return " (it has " + strings.Join(names, ", ") + ")"
}

// apiErr explains an API error: a missing CRD says how to install it.
func apiErr(err error, what string) error {
	if apierrors.IsNotFound(err) {
		var se apierrors.APIStatus
		if errors.As(err, &se) && se.Status().Details != nil && se.Status().Details.Name != "" {
			return fmt.Errorf("%s: %w", what, err)
		}
		return fmt.Errorf("%s: %w (is the WorkloadProfile CRD installed? kubectl apply -f deploy/base/crd/)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ---- the WORKLOAD argument ----

// workloadRef names a workload: Kind as WorkloadRef.Kind (lowercase
// singular), Name a DNS subdomain.
type workloadRef struct{ Kind, Name string }

func (w workloadRef) String() string { return w.Kind + "/" + w.Name }

var workloadKinds = map[string]string{}

func init() {
	for kind, aliases := range map[string][]string{
		"deployment":  {"deployments", "deploy", "deployment.apps", "deployments.apps"},
		"statefulset": {"statefulsets", "sts", "statefulset.apps", "statefulsets.apps"},
		"daemonset":   {"daemonsets", "ds", "daemonset.apps", "daemonsets.apps"},
		"cronjob":     {"cronjobs", "cj", "cronjob.batch", "cronjobs.batch"},
		"job":         {"jobs", "job.batch", "jobs.batch"},
		"replicaset":  {"replicasets", "rs", "replicaset.apps", "replicasets.apps"},
		"pod":         {"pods", "po"},
	} {
		workloadKinds[kind] = kind
		for _, a := range aliases {
			workloadKinds[a] = kind
		}
	}
}

// parseWorkload parses WORKLOAD: KIND/NAME (kubectl's resource names and
// short names, any case) or NAME, a Deployment.
func parseWorkload(s string) (workloadRef, error) {
	if s == "" {
		return workloadRef{}, errors.New("WORKLOAD is empty: want KIND/NAME or NAME (a Deployment), e.g. deployment/web")
	}
	if len(s) > 300 {
		return workloadRef{}, fmt.Errorf("WORKLOAD %q: longer than a workload name can be", clipText(s, 64))
	}
	kind, name, ok := strings.Cut(s, "/")
	if !ok {
		kind, name = "deployment", s
	}
	k, known := workloadKinds[strings.ToLower(kind)]
	if !known {
		return workloadRef{}, fmt.Errorf("WORKLOAD %q: unknown kind %q: want deployment, statefulset, daemonset, cronjob, job, replicaset or pod (e.g. deployment/web)", clipText(s, 64), clipText(kind, 32))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return workloadRef{}, fmt.Errorf("WORKLOAD %s/%q: bad name: %s", k, clipText(name, 64), errs[0])
	}
	return workloadRef{Kind: k, Name: name}, nil
}

// interspersed lets flags follow the positional arguments, as kubectl
// does (urfave/cli v2 stops parsing flags at the first argument): flags
// among c.Args() are set on c, the rest returned. A "--" ends the flags.
func interspersed(c *cli.Context) ([]string, error) {
	byName := map[string]cli.Flag{}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			byName[n] = f
		}
	}
	var pos []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, ok := byName[name]
		if !ok {
			return nil, usagef("flag provided but not defined: -%s", clipText(name, 64))
		}
		if _, isBool := f.(*cli.BoolFlag); isBool && !hasVal {
			val = "true"
		} else if !hasVal {
			if i+1 >= len(args) {
				return nil, usagef("flag needs an argument: -%s", name)
			}
			i++
			val = args[i]
		}
		// Aliases have their own storage until urfave/cli normalizes
		// them after parsing: set the flag's first name, the one read.
		if err := c.Set(f.Names()[0], val); err != nil {
			return nil, usagef("invalid value %q for flag -%s: %v", clipText(val, 64), name, err)
		}
	}
	return pos, nil
}

// oneWorkload is the single WORKLOAD argument of apply, promote, learn.
func oneWorkload(c *cli.Context) (workloadRef, error) {
	args, err := interspersed(c)
	if err != nil {
		return workloadRef{}, err
	}
	if len(args) != 1 {
		return workloadRef{}, usagef("%s takes one WORKLOAD argument (e.g. deployment/web), got %d", c.Command.Name, len(args))
	}
	w, err := parseWorkload(args[0])
	if err != nil {
		return w, usageErr(err)
	}
	return w, nil
}

// profilesOf lists the WorkloadProfiles of w in ns, sorted by container.
func (e *k8sEnv) profilesOf(ctx context.Context, ns string, w workloadRef) ([]v1.WorkloadProfile, error) {
	list, err := e.store.List(ctx, ns)
	if err != nil {
		return nil, apiErr(err, "listing WorkloadProfiles in namespace "+ns)
	}
	var out []v1.WorkloadProfile
	for _, wp := range list.Items {
		if wp.Spec.Workload.Kind == w.Kind && wp.Spec.Workload.Name == w.Name {
			out = append(out, wp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Container < out[j].Spec.Container })
	return out, nil
}

// ---- status ----

func k8sStatusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "table of the WorkloadProfiles: phase, syscalls, replicas, last new syscall, deviations",
		ArgsUsage: "[WORKLOAD]",
		UsageText: `sysward k8s status [-n NAMESPACE | -A] [-o wide|json|yaml] [WORKLOAD]

One row per (workload, container): PHASE (Learning, Complain, Enforcing),
VERSION (a new image starts a new one), SYSCALLS the profile allows,
REPLICAS and NODES that contributed, LAST NEW (age of the last syscall
seen for the first time: promote waits for it to be old enough),
DEVIATIONS (calls outside the applied profile in complain or enforce
mode), APPLIED (mode of the latest profile applied to the pod template).
-o wide adds the image, time in the phase, last deviation and the
profile's path under the kubelet's seccomp root; -o json|yaml prints the
objects.

Exit status: 0 listed (also when there are none), 1 the API failed or
WORKLOAD has no WorkloadProfile, 2 bad usage.`,
		Flags: append(k8sConnFlags(),
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "list every namespace"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "`FORMAT`: table (default), wide, json or yaml"},
		),
		Action: func(c *cli.Context) error {
			args, err := interspersed(c)
			if err != nil {
				return err
			}
			if len(args) > 1 {
				return usagef("status takes at most one WORKLOAD, got %d arguments", len(args))
			}
			var w *workloadRef
			if len(args) == 1 {
				ref, err := parseWorkload(args[0])
				if err != nil {
					return usageErr(err)
				}
				w = &ref
			}
			format := c.String("output")
			switch format {
			case "", "table", "wide", "json", "yaml":
			default:
				return usagef("--output %q: want wide, json or yaml (default: a table)", clipText(format, 32))
			}
			env, err := k8sConnect(c)
			if err != nil {
				return err
			}
			ns := env.ns
			if c.Bool("all-namespaces") {
				ns = ""
			}
			list, err := env.store.List(c.Context, ns)
			if err != nil {
				return apiErr(err, "listing WorkloadProfiles")
			}
			items := list.Items[:0]
			for _, wp := range list.Items {
				if w == nil || (wp.Spec.Workload.Kind == w.Kind && wp.Spec.Workload.Name == w.Name) {
					items = append(items, wp)
				}
			}
			sort.Slice(items, func(i, j int) bool {
				a, b := items[i], items[j]
				if a.Namespace != b.Namespace {
					return a.Namespace < b.Namespace
				}
				if wa, wb := a.Spec.Workload.Kind+"/"+a.Spec.Workload.Name, b.Spec.Workload.Kind+"/"+b.Spec.Workload.Name; wa != wb {
					return wa < wb
				}
				return a.Spec.Container < b.Spec.Container
			})
			where := "namespace " + ns
			if ns == "" {
				where = "any namespace"
			}
			if w != nil && len(items) == 0 {
				return fmt.Errorf("no WorkloadProfile for %s in %s: has it been marked for learning? (sysward k8s learn %s)", w, where, w)
			}
			switch format {
			case "json", "yaml":
				out := v1.WorkloadProfileList{Items: items}
				out.APIVersion, out.Kind = v1.SchemeGroupVersion.String(), v1.Kind+"List"
				for i := range out.Items {
					out.Items[i].APIVersion, out.Items[i].Kind = v1.SchemeGroupVersion.String(), v1.Kind
				}
				data, err := json.MarshalIndent(out, "", "    ")
				if err == nil && format == "yaml" {
					data, err = yaml.JSONToYAML(data)
				}
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(env.out, "%s\n", strings.TrimRight(string(data), "\n"))
				return err
			}
			if len(items) == 0 {
				fmt.Fprintf(env.errw, "No WorkloadProfiles found in %s.\n", where)
				return nil
			}
			return statusTable(env.out, items, ns == "", format == "wide", time.Now())
		},
	}
}

func statusTable(w io.Writer, items []v1.WorkloadProfile, withNS, wide bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 3, 8, 3, ' ', 0)
	var head []string
	if withNS {
		head = append(head, "NAMESPACE")
	}
	head = append(head, "WORKLOAD", "CONTAINER", "PHASE", "VERSION", "SYSCALLS", "REPLICAS", "NODES", "LAST NEW", "DEVIATIONS", "APPLIED")
	if wide {
		head = append(head, "IMAGE", "IN PHASE", "LAST DEVIATION", "PROFILE")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, wp := range items {
		st := &wp.Status
		var row []string
		if withNS {
			row = append(row, wp.Namespace)
		}
		phase, applied, path := string(st.Phase), "<none>", "<none>"
		if phase == "" {
			phase = string(v1.PhaseLearning)
		}
		if n := len(st.Applied); n > 0 {
			applied, path = st.Applied[n-1].Mode, st.Applied[n-1].LocalhostProfile
		}
		row = append(row, wp.Spec.Workload.Kind+"/"+wp.Spec.Workload.Name, wp.Spec.Container, phase,
			fmt.Sprint(st.Version), fmt.Sprint(st.SyscallCount), fmt.Sprint(st.ReplicaCount), fmt.Sprint(st.NodeCount),
			age(st.LastNewSyscall, now), fmt.Sprint(st.Deviations), applied)
		if wide {
			img := st.Image
			if img == "" {
				img = "<none>"
			}
			row = append(row, img, age(st.PhaseSince, now), age(st.LastDeviation, now), path)
		}
		for i := range row {
			row[i] = cell(row[i])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// age is kubectl's age of t ("5m", "3d"), "<none>" for nil.
func age(t *metav1.Time, now time.Time) string {
	if t == nil {
		return "<none>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// cell keeps a table cell on one line and bounded: an object's strings
// come from every agent of the cluster.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) && r != '\t' {
			return r
		}
		return '?'
	}, s)
	return clipText(s, 256)
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
