package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// gatedScript waits for /tmp/go inside the container, then runs then, then
// idles until killed.
func gatedScript(then string) []string {
	return []string{"sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; " + then + "; sleep 120"}
}

// runcContainer is a container started with `runc --root root run` in the
// background; stop kills and deletes it.
type runcContainer struct {
	id, root, bundle string
	cmd              *exec.Cmd
	once             sync.Once
}

func startRunc(t testing.TB, root string, args []string, mutate func(*specs.Spec)) *runcContainer {
	t.Helper()
	bundle := testutil.BusyboxBundle(t, args, mutate)
	c := &runcContainer{id: testutil.ContainerID(t), root: root, bundle: bundle}
	c.cmd = exec.Command("runc", "--root", root, "run", "--bundle", bundle, c.id)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("runc", "--root", root, "state", c.id).Output()
		if strings.Contains(string(out), `"status": "running"`) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s never ran", c.id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trigger lets the container's gated script go on.
func (c *runcContainer) trigger(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.bundle, "rootfs", "tmp", "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (c *runcContainer) stop() {
	c.once.Do(func() {
		_ = exec.Command("runc", "--root", c.root, "kill", c.id, "KILL").Run()
		_ = c.cmd.Wait()
		_ = exec.Command("runc", "--root", c.root, "delete", "--force", c.id).Run()
	})
}

// waitFor polls cond every 50 ms until it holds or d passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

func nodeContainer(n *Node, id string) *NodeContainer {
	for _, c := range n.Containers() {
		if c.ID == id {
			return &c
		}
	}
	return nil
}

// TestNodeAllContainers is `watch --all-containers` through the package API:
// container A runs under a profile installed with enforcer.Install into the
// profiles dir, B without one (started after the watch began). A's call
// outside its profile is one denied alert naming A and the profile file; B's
// nested shell is a "shell spawned" alert with B's id and no deviation; B,
// once removed, is untracked in the kernel.
func TestNodeAllContainers(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	root := t.TempDir() // runc --root: only this test's containers
	profDir := t.TempDir()

	pA := allowAllBut("sync")
	inst, err := enforcer.Install(pA, enforcer.InstallOptions{Root: profDir, Namespace: "test", Name: "app-a"})
	if err != nil {
		t.Fatal(err)
	}
	// Another profile in a subdirectory, which no container uses.
	if _, err := enforcer.Install(allowAllBut("mknodat"), enforcer.InstallOptions{Root: filepath.Join(profDir, "other"), Name: "unused"}); err != nil {
		t.Fatal(err)
	}
	// Not a profile: skipped with a warning, does not stop the index.
	if err := os.WriteFile(filepath.Join(profDir, "broken.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	seccompA, err := enforcer.OCISeccomp(pA)
	if err != nil {
		t.Fatal(err)
	}
	a := startRunc(t, root, gatedScript("sync"), func(s *specs.Spec) { s.Linux.Seccomp = seccompA })

	prof, err := profiler.Load(&profiler.Options{Watch: true, HoldNewCgroups: true})
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()

	out := &lines{}
	var sum strings.Builder
	cfg := Config{Rules: testRules(t), Format: output.FormatJSON, Stdout: out, Stderr: &sum, Profiler: prof, DedupWindow: -1}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	var res *NodeResult
	go func() {
		var err error
		res, err = NodeSession(ctx, cfg, NodeOptions{Roots: []string{root}, ProfilesDir: profDir}, func(n *Node) { nodes <- n })
		done <- err
	}()
	var node *Node
	select {
	case node = <-nodes:
	case err := <-done:
		t.Fatalf("node session: %v", err)
	}
	if got := node.Profiles(); len(got) != 2 || got[inst.Hash] != inst.Path {
		t.Fatalf("profile index %v, want %s -> %s among 2", got, inst.Hash, inst.Path)
	}
	ca := nodeContainer(node, a.id)
	if ca == nil || ca.Profile != inst.Path || ca.Mode != ModeEnforce || ca.Hash != inst.Hash {
		t.Fatalf("container A %+v, want profile %s in enforce mode", ca, inst.Path)
	}

	// B starts after the watch began: held from its cgroup's creation, it is
	// tracked as soon as its runtime state names it. Its shell is started
	// by a process of the container that is not a shell (xargs: it forks
	// and execs; a shell's own subshells are not alerts).
	b := startRunc(t, root, gatedScript(`echo x | xargs /bin/sh -c "echo nested"`), nil)
	started := time.Now()
	if !waitFor(3*time.Second, func() bool { return nodeContainer(node, b.id) != nil }) {
		t.Fatalf("container B not tracked after %v: %+v", time.Since(started), node.Containers())
	}
	t.Logf("container B tracked after %v", time.Since(started).Round(time.Millisecond))
	cb := nodeContainer(node, b.id)
	if cb.Profile != "" || cb.Mode != ModeWatch {
		t.Errorf("container B %+v, want no profile", cb)
	}
	a.trigger(t)
	b.trigger(t)
	const denied, shell = "Syscall outside profile denied", "Shell spawned in workload"
	if !waitFor(10*time.Second, func() bool {
		as := out.alerts(t)
		return len(detailed(as, denied)) > 0 && len(detailed(as, shell)) > 0
	}) {
		t.Fatalf("alerts: %+v", out.alerts(t))
	}

	// Removing B untracks it from the kernel.
	b.stop()
	if !waitFor(3*time.Second, func() bool { return nodeContainer(node, b.id) == nil }) {
		t.Fatalf("container B still tracked after removal: %+v", node.Containers())
	}
	if _, err := prof.State(cb.CgroupID); !errors.Is(err, profiler.ErrNotTracked) {
		t.Errorf("State of removed container B: %v, want ErrNotTracked", err)
	}
	if _, err := prof.State(ca.CgroupID); err != nil {
		t.Errorf("State of container A: %v", err)
	}

	time.Sleep(300 * time.Millisecond) // late events
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("node session: %v", err)
	}
	t.Logf("summary: %s", sum.String())
	if len(res.Containers) != 1 || res.Containers[0].ID != a.id {
		t.Errorf("tracked at exit: %+v", res.Containers)
	}
	if _, err := prof.State(ca.CgroupID); !errors.Is(err, profiler.ErrNotTracked) {
		t.Errorf("State of A after the session: %v, want ErrNotTracked", err)
	}

	as := out.alerts(t)
	da := detailed(as, denied)
	if len(da) != 1 {
		t.Fatalf("denied alerts %+v, want exactly one", da)
	}
	if f := da[0]; f.field("container.id") != a.id || f.field("sysward.workload") != a.id ||
		f.field("sysward.profile") != inst.Path || f.field("evt.type") != "sync" {
		t.Errorf("denied alert fields %v", f.OutputFields)
	}
	sh := detailed(as, shell)
	// One: the runc entrypoints (sh -c, started by runc from outside the
	// container's cgroup) are not "spawned".
	if len(sh) != 1 || !strings.Contains(sh[0].Output, "container_id="+b.id) || sh[0].field("sysward.workload") != b.id ||
		sh[0].field("proc.pname") != "xargs" {
		t.Errorf("shell alerts %+v", sh)
	}
	for _, al := range as {
		if strings.HasPrefix(al.Rule, "Syscall outside profile") && al.field("sysward.workload") != a.id {
			t.Errorf("deviation alert for a container other than A: %+v", al)
		}
	}
}

// TestNodeIndexRefresh: a profile installed while the node runs is indexed at
// the next pass, and a container matching none runs unrestricted.
func TestNodeIndexRefresh(t *testing.T) {
	dir := t.TempDir()
	n := NewNode(nil, NodeOptions{ProfilesDir: dir})
	n.refreshIndex()
	if len(n.Profiles()) != 0 {
		t.Fatalf("empty dir indexed %v", n.Profiles())
	}
	p := profiles.New(profiles.ActErrno, profiles.NativeArch())
	p.Allow("read", "write", "exit_group")
	in, err := enforcer.Install(p, enforcer.InstallOptions{Root: dir, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	n.refreshIndex()
	if got := n.lookup(in.Hash); got != in.Path {
		t.Fatalf("lookup %s = %q, want %s", in.Hash, got, in.Path)
	}
	if err := os.Remove(in.Path); err != nil {
		t.Fatal(err)
	}
	n.refreshIndex()
	if got := n.lookup(in.Hash); got != "" {
		t.Fatalf("removed profile still indexed: %q", got)
	}
}

func TestModeOf(t *testing.T) {
	e := uint(1)
	for _, tc := range []struct {
		name string
		p    *profiles.Profile
		want string
	}{
		{"allow all", profiles.New(profiles.ActAllow, profiles.NativeArch()), ModeWatch},
		{"allow but errno", allowAllBut("sync"), ModeEnforce},
		{"log default", func() *profiles.Profile {
			p := profiles.New(profiles.ActLog, profiles.NativeArch())
			p.Allow("read")
			return p
		}(), ModeComplain},
		{"errno default", func() *profiles.Profile {
			p := profiles.New(profiles.ActErrno, profiles.NativeArch())
			p.AddRule(profiles.ActLog, &e, "sync")
			return p
		}(), ModeEnforce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := modeOf(tc.p); got != tc.want {
				t.Errorf("modeOf = %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzSeccompHash: any config.json is either no seccomp or a hash; the
// container's hash of an installed profile's OCI form equals Install's.
func FuzzSeccompHash(f *testing.F) {
	p := allowAllBut("sync")
	oci, err := enforcer.OCISeccomp(p)
	if err != nil {
		f.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"ociVersion": "1.0.2", "linux": map[string]any{"seccomp": oci}})
	want, err := enforcer.RuntimeHash(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cfg)
	f.Add([]byte(`{"linux":{"seccomp":null}}`))
	f.Add([]byte(`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_BOGUS","syscalls":[{"names":[]}]}}}`))
	f.Add([]byte(`{"linux":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := parseSeccomp(raw)
		if s == nil {
			return
		}
		h, err := enforcer.RuntimeHash(&profiles.Profile{LinuxSeccomp: *s})
		if err == nil && len(h) != 12 {
			t.Fatalf("hash %q", h)
		}
		if bytes.Equal(raw, cfg) && h != want {
			t.Fatalf("hash of the bundle's seccomp %s, installed %s", h, want)
		}
	})
}

// TestNodeCap: beyond MaxContainers a container is not tracked, a warning
// alert says so once, and it is tracked when a slot frees up.
func TestNodeCap(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	root := t.TempDir()
	c1 := startRunc(t, root, []string{"sleep", "120"}, nil)
	c2 := startRunc(t, root, []string{"sleep", "120"}, nil)
	out := &lines{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	go func() {
		_, err := NodeSession(ctx, Config{Rules: testRules(t), Format: output.FormatJSON, Stdout: out, Stderr: &strings.Builder{}, DedupWindow: -1},
			NodeOptions{Roots: []string{root}, MaxContainers: 1}, func(n *Node) { nodes <- n })
		done <- err
	}()
	var node *Node
	select {
	case node = <-nodes:
	case err := <-done:
		t.Fatalf("node session: %v", err)
	}
	cs := node.Containers()
	if len(cs) != 1 || node.Skipped() != 1 {
		t.Fatalf("tracked %+v, skipped %d; want 1 and 1", cs, node.Skipped())
	}
	first, other := c1, c2
	if cs[0].ID == c2.id {
		first, other = c2, c1
	}
	first.stop()
	if !waitFor(3*time.Second, func() bool {
		cs := node.Containers()
		return len(cs) == 1 && cs[0].ID == other.id && node.Skipped() == 0
	}) {
		t.Fatalf("after removing %s: tracked %+v, skipped %d", first.id, node.Containers(), node.Skipped())
	}
	if !waitFor(3*time.Second, func() bool { return len(detailed(out.alerts(t), CapRule)) == 1 }) {
		t.Errorf("cap alerts: %+v", out.alerts(t))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if as := detailed(out.alerts(t), CapRule); len(as) != 1 || as[0].field("sysward.containers_skipped") != "1" {
		t.Errorf("cap alerts %+v, want exactly one", as)
	}
}

// logIDs collects the container ids of the Node's "tracking container" log
// lines: the agent's own record of what it watched.
type logIDs struct {
	mu  sync.Mutex
	ids map[string]bool
	buf []byte
	all strings.Builder
}

func (l *logIDs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	l.all.Write(p)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		var rec struct {
			Msg       string `json:"msg"`
			Container string `json:"container"`
		}
		if json.Unmarshal(l.buf[:i], &rec) == nil && rec.Msg == "tracking container" {
			l.ids[rec.Container] = true
		}
		l.buf = l.buf[i+1:]
	}
}

func (l *logIDs) has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[id]
}

// TestNodeOneShotContainers: 30 one-shot runc containers started back to
// back while the node agent runs are each tracked (the agent's log names
// every one), though most are gone long before a discovery pass would
// see them; the one whose entrypoint starts a shell (through xargs) at once
// raises "Shell spawned in workload" naming it, and nothing else alerts.
func TestNodeOneShotContainers(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	root := t.TempDir()
	plain := testutil.BusyboxBundle(t, []string{"sh", "-c", "echo one-shot"}, nil)
	// A shell started by a process of the container that is not a shell
	// (xargs forks and execs it), as its first act.
	nested := testutil.BusyboxBundle(t, []string{"sh", "-c", `echo x | /bin/xargs /bin/sh -c "echo nested"; echo done`}, nil)

	out := &lines{}
	logs := &logIDs{ids: map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	go func() {
		_, err := NodeSession(ctx, Config{Rules: testRules(t), Format: output.FormatJSON, Stdout: out, Stderr: &strings.Builder{}, DedupWindow: -1},
			NodeOptions{Roots: []string{root}, Logger: slog.New(slog.NewJSONHandler(logs, nil))}, func(n *Node) { nodes <- n })
		done <- err
	}()
	select {
	case <-nodes:
	case err := <-done:
		t.Fatalf("node session: %v", err)
	}

	const n = 30
	base := testutil.ContainerID(t)
	var ids []string
	shellID := ""
	for i := 0; i < n; i++ {
		id := base + "-" + strconv.Itoa(i)
		bundle := plain
		if i == n/2 {
			bundle, shellID = nested, id
		}
		ids = append(ids, id)
		cmd := exec.Command("runc", "--root", root, "run", "--bundle", bundle, id)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("runc run %s: %v: %s", id, err, out)
		}
		_ = exec.Command("runc", "--root", root, "delete", "--force", id).Run()
	}
	const shell = "Shell spawned in workload"
	if !waitFor(10*time.Second, func() bool {
		for _, id := range ids {
			if !logs.has(id) {
				return false
			}
		}
		return len(detailed(out.alerts(t), shell)) > 0
	}) {
		var missed []string
		for _, id := range ids {
			if !logs.has(id) {
				missed = append(missed, id)
			}
		}
		cancel()
		<-done
		logs.mu.Lock()
		t.Logf("agent log:\n%s", logs.all.String())
		logs.mu.Unlock()
		t.Fatalf("%d of %d one-shot containers never tracked: %v; alerts %+v", len(missed), n, missed, out.alerts(t))
	}
	time.Sleep(300 * time.Millisecond) // late alerts
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("node session: %v", err)
	}
	as := out.alerts(t)
	sh := detailed(as, shell)
	if len(sh) != 1 || sh[0].field("sysward.workload") != shellID || !strings.Contains(sh[0].Output, "container_id="+shellID) ||
		sh[0].field("proc.pname") != "xargs" {
		t.Errorf("shell alerts %+v, want one for %s with parent xargs", sh, shellID)
	}
	for _, a := range as {
		if a.Rule != shell {
			t.Errorf("unexpected alert %+v", a)
		}
	}
}

// TestNodeReleasesNonContainers: a new cgroup that no runtime names is held
// from its creation, then released after PendingGrace; cgroups made while
// the pending map is full are counted and raise one internal alert.
func TestNodeReleasesNonContainers(t *testing.T) {
	requireWatch(t)
	prof, err := profiler.Load(&profiler.Options{Watch: true, HoldNewCgroups: true, MaxPending: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer prof.Close()
	out := &lines{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	go func() {
		_, err := NodeSession(ctx, Config{Rules: testRules(t), Format: output.FormatJSON, Stdout: out, Stderr: &strings.Builder{}, DedupWindow: -1, Profiler: prof},
			NodeOptions{Roots: []string{t.TempDir()}, PendingGrace: 300 * time.Millisecond}, func(n *Node) { nodes <- n })
		done <- err
	}()
	select {
	case <-nodes:
	case err := <-done:
		t.Fatalf("node session: %v", err)
	}
	held := func(id uint64) bool {
		ids, err := prof.PendingIDs()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(ids, id)
	}
	// Not a container: a plain cgroup with a task that execs.
	cg, err := NewCgroup()
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Remove(5 * time.Second) //nolint:errcheck // best effort
	if !held(cg.ID) {
		t.Fatalf("new cgroup %s not held", cg.Dir)
	}
	cmd := exec.Command(testutil.BusyboxPath, "sh", "-c", "/bin/sh -c true; sleep 30")
	exited, err := cg.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	if !waitFor(5*time.Second, func() bool { return !held(cg.ID) }) {
		t.Fatalf("cgroup %s (no container) still held after the grace", cg.Dir)
	}

	// Fill the pending map: 16 places (other tests on the host make
	// cgroups too), so at least 4 of 20 new ones find it full.
	for i := 0; i < 20; i++ {
		c, err := NewCgroup()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Remove(5 * time.Second) //nolint:errcheck // best effort
	}
	if !waitFor(5*time.Second, func() bool { return len(detailed(out.alerts(t), PendingRule)) > 0 }) {
		t.Fatalf("no %q alert: %+v", PendingRule, out.alerts(t))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("node session: %v", err)
	}
	as := out.alerts(t)
	for _, a := range as {
		if a.Rule != PendingRule {
			t.Errorf("alert for a cgroup that is no container: %+v", a)
		}
	}
	if pa := detailed(as, PendingRule); len(pa) == 0 || pa[0].field("sysward.pending_overflows") == "" {
		t.Errorf("overflow alerts %+v", pa)
	}
}

// TestNodeJudgesPendingCalls: a one-shot container under an installed
// profile that refuses sync calls sync as its very first act, before the
// agent knows it: the kernel records the refused call while the cgroup is
// held, and once the agent reads the container's state the call is judged
// against that profile: one "denied" alert naming the container, the
// profile file and the process.
func TestNodeJudgesPendingCalls(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	root, profDir := t.TempDir(), t.TempDir()
	p := allowAllBut("sync")
	inst, err := enforcer.Install(p, enforcer.InstallOptions{Root: profDir, Name: "nosync"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := enforcer.OCISeccomp(p)
	if err != nil {
		t.Fatal(err)
	}
	bundle := testutil.BusyboxBundle(t, []string{"sync"}, func(s *specs.Spec) { s.Linux.Seccomp = sec })

	out := &lines{}
	logs := &logIDs{ids: map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	go func() {
		_, err := NodeSession(ctx, Config{Rules: testRules(t), Format: output.FormatJSON, Stdout: out, Stderr: &strings.Builder{}, DedupWindow: -1},
			NodeOptions{Roots: []string{root}, ProfilesDir: profDir, Logger: slog.New(slog.NewJSONHandler(logs, nil))}, func(n *Node) { nodes <- n })
		done <- err
	}()
	select {
	case <-nodes:
	case err := <-done:
		t.Fatalf("node session: %v", err)
	}
	id := testutil.ContainerID(t)
	if b, err := exec.Command("runc", "--root", root, "run", "--bundle", bundle, id).CombinedOutput(); err != nil {
		t.Fatalf("runc run: %v: %s", err, b)
	}
	_ = exec.Command("runc", "--root", root, "delete", "--force", id).Run()
	const rule = "Syscall outside profile denied"
	if !waitFor(10*time.Second, func() bool { return len(detailed(out.alerts(t), rule)) > 0 }) {
		logs.mu.Lock()
		t.Logf("agent log:\n%s", logs.all.String())
		logs.mu.Unlock()
		t.Fatalf("no %q alert: %+v", rule, out.alerts(t))
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("node session: %v", err)
	}
	as := detailed(out.alerts(t), rule)
	if len(as) != 1 {
		t.Fatalf("alerts %+v, want exactly one", as)
	}
	if a := as[0]; a.field("evt.type") != "sync" || a.field("sysward.workload") != id ||
		a.field("sysward.profile") != inst.Path || a.field("sysward.mode") != ModeEnforce || a.field("proc.name") != "sync" {
		t.Errorf("alert fields %v", a.OutputFields)
	}
}
