package profiler

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// exitELF is a static x86_64 ELF executable whose only system call is
// exit_group(0): xor edi,edi; mov eax,231; syscall. Run as a container's
// entrypoint it makes every call recorded under the runtime's filter, other
// than execve and exit_group, the runtime's own.
func exitELF() []byte {
	code := []byte{0x31, 0xff, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05}
	const base, ehsize, phsize = 0x400000, 64, 56
	size := uint64(ehsize + phsize + len(code))
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	le := binary.LittleEndian
	w := func(v any) { _ = binary.Write(&b, le, v) }
	w(uint16(2))                      // ET_EXEC
	w(uint16(0x3e))                   // EM_X86_64
	w(uint32(1))                      // EV_CURRENT
	w(uint64(base + ehsize + phsize)) // entry
	w(uint64(ehsize))                 // phoff
	w(uint64(0))                      // shoff
	w(uint32(0))                      // flags
	w(uint16(ehsize))
	w(uint16(phsize))
	w(uint16(1)) // phnum
	w(uint16(0))
	w(uint16(0))
	w(uint16(0))
	w(uint32(1)) // PT_LOAD
	w(uint32(5)) // R+X
	w(uint64(0))
	w(uint64(base))
	w(uint64(base))
	w(size)
	w(size)
	w(uint64(0x1000))
	b.Write(code)
	return b.Bytes()
}

// exitBundle is a busybox bundle whose entrypoint is exitELF, under an
// allow-all filter; nnp sets process.noNewPrivileges (runc installs the
// filter later with it: just before the exec fifo).
func exitBundle(t testing.TB, nnp bool) string {
	bundle := testutil.BusyboxBundle(t, []string{"/exit0"}, func(s *specs.Spec) {
		s.Linux.Seccomp = allowAll()
		s.Process.NoNewPrivileges = nnp
	})
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "exit0"), exitELF(), 0o755); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// cpuHog keeps every CPU busy with n busybox busy loops until the test ends,
// so the runtime's goroutines get preempted (sysmon, SIGURG) while it runs.
func cpuHog(t testing.TB, n int) {
	for i := 0; i < n; i++ {
		cmd := exec.Command(testutil.BusyboxPath, "sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
}

// measureRuncWindow runs bundle (entrypoint exitELF) once with `runc run` in
// a fresh cgroup tracked in learn mode with FlagWaitSeccomp from before the
// container's init joins it, and returns the names recorded minus the
// entrypoint's own (execve, exit_group): what runc made under its filter.
func measureRuncWindow(t testing.TB, p *Profiler, bundle string, gap time.Duration) []string {
	t.Helper()
	dir, err := newLearnCgroup()
	if err != nil {
		t.Fatal(err)
	}
	defer removeCgroup(dir, 5*time.Second) //nolint:errcheck
	id, err := cgroups.ID(dir)
	if err != nil {
		t.Fatal(err)
	}
	mnt, _ := cgroups.Mountpoint()
	rel, _ := filepath.Rel(mnt, dir)
	cfg := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Linux.CgroupsPath = "/" + rel
	if raw, err = json.MarshalIndent(&spec, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Track(id, TrackOptions{Mode: ModeLearn, Flags: FlagWaitSeccomp}); err != nil {
		t.Fatal(err)
	}
	defer p.Untrack(id) //nolint:errcheck
	if gap == 0 {
		if out, code := testutil.RunRunc(t, bundle, testutil.ContainerID(t)); code != 0 {
			t.Fatalf("runc run: exit %d: %s", code, out)
		}
	} else {
		// runc create, then start after gap: runc init waits in the exec
		// fifo's write meanwhile, under its filter.
		cid := testutil.ContainerID(t)
		// The container inherits runc create's stdio: a file, not a pipe
		// whose reader would wait for the container.
		logf, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		create := exec.Command("runc", "create", "--bundle", bundle, cid)
		create.Stdout, create.Stderr = logf, logf
		err = create.Run()
		logf.Close()
		if err != nil {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("runc create: %v: %s", err, out)
		}
		time.Sleep(gap)
		if out, err := exec.Command("runc", "start", cid).CombinedOutput(); err != nil {
			t.Fatalf("runc start: %v: %s", err, out)
		}
		for deadline := time.Now().Add(10 * time.Second); populated(dir) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		_ = exec.Command("runc", "delete", "--force", cid).Run()
	}
	seen, err := p.Seen(id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range seen.Names(profiles.ArchX86_64) {
		if n != "execve" && n != "exit_group" {
			got = append(got, n)
		}
	}
	if !seen.Has(profiles.ArchX86_64, 59) {
		t.Fatalf("execve of the entrypoint not recorded: tracking missed the window (seen %v)", seen.Names(profiles.ArchX86_64))
	}
	return got
}

// TestRuntimeBaseCoversRuncWindow measures what runc makes between
// installing its filter and the entrypoint's execve, across its threads,
// over starts with `runc run` and `runc create`+`runc start`, with and
// without noNewPrivileges, idle and under CPU load, and checks that runc's
// base holds every call seen. SYSWARD_MEASURE_RUNC=N makes N starts per
// setting (default 2, 16 starts) and logs the counts: the measurement
// behind runcBase.
func TestRuntimeBaseCoversRuncWindow(t *testing.T) {
	requireBPF(t)
	testutil.Require(t, testutil.Runc)
	n := 2
	if v := os.Getenv("SYSWARD_MEASURE_RUNC"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("SYSWARD_MEASURE_RUNC=%q: want a positive count", v)
		}
	}
	p, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	base, err := LookupRuntimeBase(RuntimeBaseRunc)
	if err != nil {
		t.Fatal(err)
	}
	inBase := map[string]bool{}
	for _, s := range base.Names() {
		inBase[s] = true
	}
	count := map[string]int{}
	runs := 0
	for _, load := range []bool{false, true} {
		if load {
			cpuHog(t, 2*runtime.NumCPU())
		}
		for _, nnp := range []bool{true, false} {
			bundle := exitBundle(t, nnp)
			for _, gap := range []time.Duration{0, 300 * time.Millisecond} {
				for i := 0; i < n; i++ {
					got := measureRuncWindow(t, p, bundle, gap)
					runs++
					for _, s := range got {
						count[s]++
						if !inBase[s] {
							t.Errorf("runc (load %v, noNewPrivileges %v, create-start gap %v) made %s under its filter; runc's runtime base lacks it", load, nnp, gap, s)
						}
					}
				}
			}
		}
	}
	var names []string
	for s := range count {
		names = append(names, s)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, s := range names {
		fmt.Fprintf(&sb, "%s %d/%d\n", s, count[s], runs)
	}
	t.Logf("runc window over %d starts:\n%s", runs, sb.String())
	// The deterministic part of the window must have been seen, or the
	// measurement measured nothing.
	for _, w := range []string{"openat", "write", "close"} {
		if count[w] != runs {
			t.Errorf("%s seen in %d of %d starts, want every one", w, count[w], runs)
		}
	}
}

// TestRuncLearnedWithBaseUnderLoad learns a busybox container once (runc's
// base merged by default), then starts it 24 times under the learned profile
// with every CPU busy, so that runc's Go runtime gets preempted between its
// filter and exec: every start must succeed.
func TestRuncLearnedWithBaseUnderLoad(t *testing.T) {
	requireBPF(t)
	testutil.Require(t, testutil.Runc)
	work := containerWork
	res := learnContainer(t, testutil.BusyboxBundle(t, work, withSeccomp(allowAll())))
	if res.RuntimeBase == nil || res.RuntimeBase.Name != RuntimeBaseRunc {
		t.Fatalf("runtime base %+v, want runc's (auto for a runc container)", res.RuntimeBase)
	}
	prov := res.Profile.Sysward.Provenance
	nbase := 0
	for _, pv := range prov {
		if pv.Target == "runtime-base" && strings.HasPrefix(pv.Workload, "runc:") {
			nbase++
		}
	}
	if len(prov) != 2 || nbase != 1 {
		t.Errorf("provenance %+v, want the session and the runtime base", prov)
	}
	got := names(res.Profile)
	for _, s := range res.RuntimeBase.Names() {
		if !got[s] {
			t.Errorf("profile lacks base call %s", s)
		}
	}
	if len(res.RuntimeBaseAdded) == 0 {
		t.Errorf("the base added nothing: the session saw all of %v", res.RuntimeBase.Names())
	}
	for _, s := range res.RuntimeBaseAdded {
		if st := res.Profile.Sysward.Stats[s]; st.Sessions != 0 || !st.FirstSeen.IsZero() {
			t.Errorf("stats of base-only %s = %+v, want no session and no first-seen time", s, st)
		}
		if res.Seen.Has(profiles.ArchX86_64, mustNr(t, s)) {
			t.Errorf("%s reported as added by the base but the session saw it", s)
		}
	}
	t.Logf("learned %d calls, %d added by the base: %v", len(got), len(res.RuntimeBaseAdded), res.RuntimeBaseAdded)

	cpuHog(t, 2*runtime.NumCPU())
	bundle := testutil.BusyboxBundle(t, work, withSeccomp(&res.Profile.LinuxSeccomp))
	const starts = 24
	failed := 0
	for i := 0; i < starts; i++ {
		if out, code := testutil.RunRunc(t, bundle, testutil.ContainerID(t)); code != 0 {
			failed++
			t.Errorf("start %d under the learned profile: exit %d: %s", i, code, out)
		}
	}
	t.Logf("%d/%d starts under load failed", failed, starts)

	// Control: the same profile without futex, which runc's Go runtime made
	// in only 6 of the 60 idle `runc run` starts measured (so an idle
	// learning session can miss it) but in nearly every start under load.
	// Under load runc must die of it (futexwakeup throws) within a few
	// starts, or this test cannot tell a good base from a bad one.
	control := *res.Profile
	control.LinuxSeccomp = res.Profile.LinuxSeccomp
	control.Syscalls = nil
	for _, sc := range res.Profile.Syscalls {
		var keep []string
		for _, n := range sc.Names {
			if n != "futex" {
				keep = append(keep, n)
			}
		}
		sc.Names = keep
		control.Syscalls = append(control.Syscalls, sc)
	}
	bundle = testutil.BusyboxBundle(t, work, withSeccomp(&control.LinuxSeccomp))
	for i := 0; ; i++ {
		out, code := testutil.RunRunc(t, bundle, testutil.ContainerID(t))
		if code != 0 && strings.Contains(out, "futexwakeup") {
			t.Logf("control without futex: runc died at start %d: exit %d: %.120s", i, code, out)
			break
		}
		if code != 0 {
			t.Fatalf("control without futex: start %d failed, but not in runc's futexwakeup: exit %d: %s", i, code, out)
		}
		if i == 9 {
			t.Fatal("control without futex: 10 starts under load all succeeded; the load does not reach runc's Go runtime")
		}
	}
}

func mustNr(t *testing.T, name string) int {
	t.Helper()
	nr, ok := profiles.SyscallNumber(profiles.ArchX86_64, name)
	if !ok {
		t.Fatalf("%s: no x86_64 number", name)
	}
	return nr
}

func TestRuntimeBaseTable(t *testing.T) {
	b, err := LookupRuntimeBase(RuntimeBaseRunc)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, s := range b.Syscalls {
		if _, ok := profiles.SyscallNumber(profiles.ArchX86_64, s.Name); !ok {
			t.Errorf("%s: not an x86_64 syscall", s.Name)
		}
		if seen[s.Name] {
			t.Errorf("%s listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.Why == "" {
			t.Errorf("%s: no justification", s.Name)
		}
		if s.Observed < 0 || s.Observed > runcStarts {
			t.Errorf("%s: observed %d of %d starts", s.Name, s.Observed, runcStarts)
		}
		if i > 0 && b.Syscalls[i-1].Name >= s.Name {
			t.Errorf("not sorted at %s", s.Name)
		}
	}
	// What made the container die when missing, and the Go runtime's
	// preemption path.
	// fchown: a non-root process.user's stdio (TestClusterLearningRealServer).
	for _, w := range []string{"rt_sigreturn", "futex", "tgkill", "getpid", "execve", "fchown"} {
		if !seen[w] {
			t.Errorf("runc base lacks %s", w)
		}
	}
	// runc's setup before its filter must never be in it.
	for _, w := range []string{"seccomp", "mount", "pivot_root", "unshare", "setns", "sethostname"} {
		if seen[w] {
			t.Errorf("runc base holds pre-filter setup call %s", w)
		}
	}
}

func TestRuntimeBaseFor(t *testing.T) {
	runc := &Container{Runtime: "runc"}
	crun := &Container{Runtime: "crun"}
	for _, tc := range []struct {
		name, opt, kind string
		c               *Container
		wait            bool
		want            string // base name, "" for none
		err             error
	}{
		{"auto runc container", "", "container", runc, true, RuntimeBaseRunc, nil},
		{"explicit auto", RuntimeBaseAuto, "container", runc, true, RuntimeBaseRunc, nil},
		{"auto without filter", "", "container", runc, false, "", nil},
		{"auto crun", "", "container", crun, true, "", nil},
		{"auto cgroup", "", "cgroup", nil, false, "", nil},
		{"auto command", "", "command", nil, false, "", nil},
		{"none", RuntimeBaseNone, "container", runc, true, "", nil},
		{"runc for a cgroup", RuntimeBaseRunc, "cgroup", nil, false, RuntimeBaseRunc, nil},
		{"runc for a pid", RuntimeBaseRunc, "pid", nil, false, RuntimeBaseRunc, nil},
		{"runc for crun", RuntimeBaseRunc, "container", crun, true, RuntimeBaseRunc, nil},
		{"runc for a command", RuntimeBaseRunc, "command", nil, false, RuntimeBaseRunc, nil},
		{"unknown", "docker", "container", runc, true, "", ErrUnknownRuntimeBase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := runtimeBaseFor(tc.opt, tc.kind, tc.c, tc.wait)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			got := ""
			if b != nil {
				got = b.Name
			}
			if got != tc.want {
				t.Errorf("base %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMergeRuntimeBase(t *testing.T) {
	p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
	p.Allow("execve", "write", "exit_group")
	p.Sysward = &profiles.Metadata{
		Provenance: []profiles.Provenance{{Target: "container", Workload: "c1"}},
		Stats:      map[string]profiles.SyscallStats{"write": {Sessions: 1, FirstSeen: time.Unix(1, 0)}},
	}
	base := &RuntimeBase{Name: "runc", Runtime: "test", Syscalls: []BaseSyscall{{Name: "write"}, {Name: "futex"}, {Name: "rt_sigreturn"}}}
	added := mergeRuntimeBase(p, base)
	if strings.Join(added, ",") != "futex,rt_sigreturn" {
		t.Errorf("added %v", added)
	}
	if got := strings.Join(p.Names(), ","); got != "execve,exit_group,futex,rt_sigreturn,write" {
		t.Errorf("names %s", got)
	}
	if st := p.Sysward.Stats["write"]; st.Sessions != 1 {
		t.Errorf("learned stats overwritten: %+v", st)
	}
	if st, ok := p.Sysward.Stats["futex"]; !ok || st.Sessions != 0 || !st.FirstSeen.IsZero() || strings.Join(st.Sources, ",") != profiles.SourceRuntimeBase {
		t.Errorf("base stats %+v %v", st, ok)
	}
	if st := p.Sysward.Stats["write"]; strings.Join(st.Sources, ",") != profiles.SourceRuntimeBase {
		t.Errorf("traced write in the base: sources %v, want runtime-base recorded", st.Sources)
	}
	if len(p.Sysward.Provenance) != 2 || p.Sysward.Provenance[1].Target != "runtime-base" ||
		!strings.Contains(p.Sysward.Provenance[1].Workload, "2 not seen") {
		t.Errorf("provenance %+v", p.Sysward.Provenance)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("merged profile invalid: %v", err)
	}
	if mergeRuntimeBase(p, nil) != nil || len(p.Sysward.Provenance) != 2 {
		t.Error("a nil base changed the profile")
	}
}
