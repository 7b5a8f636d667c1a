package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// updateAgentProfile re-learns sysward-agent.json: `make agent-profile`.
var updateAgentProfile = flag.Bool("update-agent-profile", false, "learn the agent's seccomp profile into sysward-agent.json")

// agentProfile is the agent's own seccomp profile, shipped through the
// sysward-agent-seccomp ConfigMap and installed on each node by the
// DaemonSet's init container.
const agentProfile = "sysward-agent.json"

// agentProfilePath is where it is kept (the base's ConfigMap generator).
var agentProfilePath = filepath.Join("base", agentProfile)

// agentCaps is what the DaemonSet grants the agent container.
var agentCaps = []string{"bpf", "perfmon", "sys_ptrace"}

// TestAgentUnderItsOwnProfile runs the node agent the way the DaemonSet
// does (watch --all-containers, outputs file with stdout and an HTTP output,
// metrics on loopback, health alone on another port), with only the
// DaemonSet's capabilities and enforced by its own profile, through a
// workload that makes it do its whole job: install the profiles of its
// --install-from directory (one broken) and remove a stale one, index
// installed profiles (one added while it runs, one broken), track a profiled container whose call
// outside its profile is denied and a later unprofiled one whose shell
// alerts, notice a container go, serve /metrics and /healthz, shut down on
// SIGTERM. The agent must do all of that, and `sysward run --watch` around
// it must see no call of the agent's outside its profile.
//
// With -update-agent-profile it learns the profile instead, through the same
// workload (`make agent-profile`).
func TestAgentUnderItsOwnProfile(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2, testutil.Runc,
		testutil.Binary("setpriv"), testutil.Binary("go"))
	bin := buildSysward(t)
	dir := t.TempDir()
	healthAddr, metricsAddr := freeAddr(t), freeAddr(t)

	var received sync.Map // rule → count, alerts POSTed to the HTTP output
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct{ Rule string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&a); err == nil {
			received.Store(a.Rule, true)
		}
	}))
	defer srv.Close()
	alertsFile := filepath.Join(dir, "alerts.jsonl")
	outputs := filepath.Join(dir, "outputs.yaml")
	writeFile(t, outputs, fmt.Sprintf(`queue_size: 1024
dedup:
  window: 30s
stdout:
  format: json
file:
  path: %s
  format: json
http:
  url: %s/
  timeout: 5s
`, alertsFile, srv.URL))

	root := filepath.Join(dir, "runc")
	profDir := filepath.Join(dir, "seccomp")
	pA := allowAllBut("sync")
	// A's profile comes from the --install-from directory (the DaemonSet's
	// sysward-profiles ConfigMap): the agent installs it; a stale installed
	// profile no container uses is removed.
	installFrom := filepath.Join(dir, "install")
	dataA, err := profiles.Marshal(pA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(installFrom, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(installFrom, "test.app-a.json"), string(dataA))
	writeFile(t, filepath.Join(installFrom, "broken.json"), "{")
	stale, err := enforcer.Install(allowAllBut("chdir"), enforcer.InstallOptions{Root: profDir, Namespace: "test", Name: "stale"})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(profDir, "broken.json"), "{")
	seccompA, err := enforcer.OCISeccomp(pA)
	if err != nil {
		t.Fatal(err)
	}

	// The cluster store (--store): a real apiserver with the CRD; one
	// object applies a profile (installed into sysward/shop/, a folder
	// the agent makes, later removed with it), and container B's pod is
	// in a namespace marked for learning (its object is created).
	st := newStoreAPI(t)
	applied := st.appliedObject(t, "shop", allowAllBut("mknodat"))
	agentArgs := []string{bin, "watch", "--all-containers", "--profiles-dir=" + profDir, "--container-root=" + root, "--install-from=" + installFrom,
		"--outputs=" + outputs, "--metrics-addr=" + metricsAddr, "--health-addr=" + healthAddr,
		"--kubeconfig=" + st.api.Kubeconfig, "--node-name=node-a", "--store", "--store-interval=1s"}
	// setpriv leaves exactly the DaemonSet's capabilities (bounding,
	// permitted, effective, inheritable and ambient sets).
	caps := "-all," + "+" + strings.Join(agentCaps, ",+")
	privs := []string{"setpriv", "--inh-caps=" + caps, "--ambient-caps=" + caps, "--bounding-set=" + caps, "--"}
	learned := filepath.Join(dir, "learned.json")
	var argv []string
	if *updateAgentProfile {
		// Static hints off: the binary holds every sysward command (run,
		// learn, ...), so its imports reach far more than the agent does;
		// the trace of the agent's whole job, widened by families and the
		// baseline, plus runc's base, is the profile, and this test
		// enforces it on every run, so a new code path fails here first.
		argv = append(append(privs, bin, "learn", "-q", "--runtime-base=runc", "--static=off", "-o", learned, "--"), agentArgs...)
	} else {
		argv = append(append(privs, bin, "run", "--profile="+agentProfilePath, "--watch", "--format=json", "--name=agent", "--"), agentArgs...)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		t.Logf("stderr:\n%s", stderr.String())
	}()

	// The agent answers /healthz once its loops run.
	if !poll(15*time.Second, func() bool { return get(t, healthAddr, "/healthz") == "ok\n" }) {
		t.Fatalf("agent never healthy; stderr:\n%s", stderr.String())
	}
	if body := get(t, healthAddr, "/metrics"); body != "" {
		t.Errorf("health port serves /metrics: %q", body)
	}
	if !strings.Contains(get(t, metricsAddr, "/metrics"), "sysward_workloads_tracked") {
		t.Error("no sysward_workloads_tracked on /metrics")
	}

	a := startContainer(t, root, `while [ ! -e /tmp/go ]; do sleep 0.05; done; sync; sleep 120`, func(s *specs.Spec) { s.Linux.Seccomp = seccompA })
	// B's shell is started by a non-shell (xargs): a shell's own subshells
	// are not alerts.
	b := startContainer(t, root, `while [ ! -e /tmp/go ]; do sleep 0.05; done; echo x | xargs /bin/sh -c "echo nested"; sleep 120`, nil)
	// A profile installed while the agent runs is indexed.
	if _, err := enforcer.Install(allowAllBut("mknodat"), enforcer.InstallOptions{Root: profDir, Name: "late"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // two discovery passes
	st.pod(t, "shop", "b-0", b.id)
	a.trigger(t)
	b.trigger(t)
	appliedPath := filepath.Join(profDir, applied)
	if !poll(15*time.Second, func() bool { _, err := os.Stat(appliedPath); return err == nil }) {
		t.Errorf("applied profile %s not installed; stderr:\n%s", appliedPath, stderr.String())
	}
	if !poll(15*time.Second, func() bool { return st.learned(t, "shop", "b-0") }) {
		t.Errorf("container B not learned into the store; stderr:\n%s", stderr.String())
	}
	st.deleteApplied(t, "shop")
	if !poll(15*time.Second, func() bool { _, err := os.Stat(filepath.Dir(appliedPath)); return os.IsNotExist(err) }) {
		t.Errorf("store profile folder %s not removed with the object; stderr:\n%s", filepath.Dir(appliedPath), stderr.String())
	}
	const denied, shell = "Syscall outside profile denied", "Shell spawned in workload"
	if !poll(15*time.Second, func() bool {
		s := readFile(alertsFile)
		_, d := received.Load(denied)
		_, sh := received.Load(shell)
		return strings.Contains(s, denied) && strings.Contains(s, shell) && d && sh
	}) {
		t.Fatalf("agent alerts (file):\n%s\nstderr:\n%s", readFile(alertsFile), stderr.String())
	}
	b.stop()
	// The agent notices B is gone (one container tracked again); under
	// load that may take longer than a discovery pass.
	poll(10*time.Second, func() bool {
		return strings.Contains(get(t, metricsAddr, "/metrics"), "\nsysward_workloads_tracked 1\n")
	})

	agent := agentPid(t, cmd.Process.Pid, bin)
	if err := syscall.Kill(agent, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("agent run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not stop on SIGTERM; stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "container gone") {
		t.Errorf("agent never noticed container B go; stderr:\n%s", stderr.String())
	}
	if _, err := os.Stat(stale.Path); !os.IsNotExist(err) || !strings.Contains(stderr.String(), "stale profile removed") {
		t.Errorf("stale installed profile %s not removed (%v); stderr:\n%s", stale.Path, err, stderr.String())
	}

	if *updateAgentProfile {
		p, err := inputfile.Profile(learned)
		if err != nil {
			t.Fatal(err)
		}
		if err := profiles.SaveFile(agentProfilePath, p); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d syscalls", agentProfilePath, len(p.AllowedSyscalls(profiles.NativeArch())))
		return
	}
	// run --watch's own alerts (JSON lines on stdout): nothing of the
	// agent's may be outside its profile.
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	for sc.Scan() {
		var al struct {
			Rule         string
			OutputFields map[string]any `json:"output_fields"`
		}
		if json.Unmarshal(sc.Bytes(), &al) != nil || al.OutputFields["sysward.workload"] != "agent" {
			continue
		}
		if strings.HasPrefix(al.Rule, "Syscall outside profile") || strings.Contains(al.Rule, "killed") {
			t.Errorf("the agent under its own profile: %s (syscall %v, process %v)", al.Rule, al.OutputFields["evt.type"], al.OutputFields["proc.name"])
		}
	}
	// And its summary (JSON on stderr), from the kernel's bitmap: complete
	// even if events were dropped.
	var sum struct {
		Summary *struct {
			Workload    string
			Deviations  []any
			DeniedCalls *int `json:"denied_calls"`
		}
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, `{"summary":`) && json.Unmarshal([]byte(l), &sum) == nil {
			break
		}
	}
	if sum.Summary == nil || sum.Summary.Workload != "agent" || sum.Summary.DeniedCalls == nil {
		t.Fatalf("no run --watch summary for the agent in stderr:\n%s", stderr.String())
	}
	if len(sum.Summary.Deviations) != 0 || *sum.Summary.DeniedCalls != 0 {
		t.Errorf("the agent went outside its own profile: deviations %v, denied calls %d", sum.Summary.Deviations, *sum.Summary.DeniedCalls)
	}
}

func allowAllBut(names ...string) *profiles.Profile {
	p := profiles.New(profiles.ActAllow, profiles.NativeArch())
	e := uint(1)
	p.AddRule(profiles.ActErrno, &e, names...)
	return p
}

// buildSysward builds the CLI, as the image holds it.
func buildSysward(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sysward")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/sysward")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// agentPid finds the agent process: the descendant of pid (run or learn)
// whose command line is bin watch ….
func agentPid(t *testing.T, pid int, bin string) int {
	t.Helper()
	var found int
	poll(5*time.Second, func() bool {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			p, err := strconv.Atoi(e.Name())
			if err != nil || p == pid {
				continue
			}
			cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			args := strings.Split(string(cl), "\x00")
			if len(args) > 1 && args[0] == bin && args[1] == "watch" && descends(p, pid) {
				found = p
				return true
			}
		}
		return false
	})
	if found == 0 {
		t.Fatal("agent process not found")
	}
	return found
}

// descends reports whether p is a descendant of ancestor.
func descends(p, ancestor int) bool {
	for i := 0; i < 16 && p > 1; i++ {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return false
		}
		s := string(st)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		pp, _ := strconv.Atoi(fields[1])
		if pp == ancestor {
			return true
		}
		p = pp
	}
	return false
}

type container struct {
	id, root, bundle string
	cmd              *exec.Cmd
	once             sync.Once
}

func startContainer(t *testing.T, root, script string, mutate func(*specs.Spec)) *container {
	t.Helper()
	bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", script}, mutate)
	c := &container{id: testutil.ContainerID(t), root: root, bundle: bundle}
	c.cmd = exec.Command("runc", "--root", root, "run", "--bundle", bundle, c.id)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	if !poll(10*time.Second, func() bool {
		out, _ := exec.Command("runc", "--root", root, "state", c.id).Output()
		return strings.Contains(string(out), `"status": "running"`)
	}) {
		t.Fatalf("container %s never ran", c.id)
	}
	return c
}

func (c *container) trigger(t *testing.T) {
	t.Helper()
	writeFile(t, filepath.Join(c.bundle, "rootfs", "tmp", "go"), "")
}

func (c *container) stop() {
	c.once.Do(func() {
		_ = exec.Command("runc", "--root", c.root, "kill", c.id, "KILL").Run()
		_ = c.cmd.Wait()
		_ = exec.Command("runc", "--root", c.root, "delete", "--force", c.id).Run()
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get returns the body of a 200 answer, "" otherwise.
func get(t *testing.T, addr, path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil || resp.StatusCode != 200 {
		return ""
	}
	return string(b)
}

func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	return string(b)
}
