package profiler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

func requireBPF(t testing.TB) {
	t.Helper()
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2)
}

func names(p *profiles.Profile) map[string]bool {
	m := map[string]bool{}
	for _, n := range p.Names() {
		m[n] = true
	}
	return m
}

func learnCmd(t *testing.T, args ...string) *Result {
	t.Helper()
	res, err := Learn(context.Background(), Target{Command: args}, nil)
	if err != nil {
		t.Fatalf("Learn %v: %v", args, err)
	}
	if res.Stop != StopCommandExited || res.ExitCode != 0 {
		t.Fatalf("Learn %v: stop %q exit %d", args, res.Stop, res.ExitCode)
	}
	return res
}

// buildTestProgram builds ./testdata/<name> into a temp dir.
func buildTestProgram(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	return out
}

func TestLearnCommand(t *testing.T) {
	requireBPF(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"ls", []string{"ls", "/"}, []string{"getdents64", "execve", "exit_group"}},
		// sh forks: ls's getdents64 and cat's read of the file come from
		// the children (sh itself neither lists directories nor... reads
		// /etc/hostname), and wait4/clone from sh.
		{"sh children", []string{"sh", "-c", "ls / >/dev/null; cat /etc/hostname"}, []string{"getdents64", "wait4", "execve", "exit_group", "read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := learnCmd(t, tc.args...)
			got := names(res.Profile)
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("profile lacks %s; has %v", w, res.Profile.Names())
				}
			}
			if res.Profile.DefaultAction != profiles.ActErrno {
				t.Errorf("default action %s", res.Profile.DefaultAction)
			}
			if arches := res.Profile.Arches(); len(arches) != 1 || arches[0] != profiles.ArchX86_64 {
				t.Errorf("architectures %v, want only x86_64", arches)
			}
			m := res.Profile.Sysward
			if m == nil || len(m.Provenance) != 1 || m.Provenance[0].Target != "command" || !strings.HasPrefix(m.Provenance[0].Tool, "sysward ") {
				t.Fatalf("provenance %+v", m)
			}
			for _, w := range tc.want {
				st, ok := m.Stats[w]
				if !ok || st.FirstSeen.IsZero() || st.FirstSeen.Before(m.Provenance[0].Started) || st.FirstSeen.After(m.Provenance[0].Ended) {
					t.Errorf("stats[%s] = %+v, want first seen within the session", w, st)
				}
			}
		})
	}
}

// The children's own syscalls: sh never calls getdents64 itself.
func TestLearnChildrenOnly(t *testing.T) {
	requireBPF(t)
	alone := names(learnCmd(t, "sh", "-c", "true").Profile)
	withChild := names(learnCmd(t, "sh", "-c", "ls / >/dev/null; cat /etc/hostname >/dev/null").Profile)
	if alone["getdents64"] {
		t.Fatalf("sh alone made getdents64: the test premise is wrong")
	}
	if !withChild["getdents64"] {
		t.Errorf("children's getdents64 missing")
	}
}

func TestLearnThreads(t *testing.T) {
	requireBPF(t)
	bin := buildTestProgram(t, "threads")
	res := learnCmd(t, bin)
	got := names(res.Profile)
	for _, w := range []string{"getcpu", "sysinfo", "times", "getrusage", "getitimer", "clone", "execve"} {
		if !got[w] {
			t.Errorf("profile lacks %s (made on its own thread); has %v", w, res.Profile.Names())
		}
	}
}

// TestLearnCompatArches learns a 64-bit binary that calls getpid through
// the x32 ABI, then getppid through int $0x80 (ia32), and checks that each
// is recorded under its own architecture, as far as this kernel lets the
// calls through: the ABIs are probed in a child first (testutil.ProbeIA32,
// ProbeX32). x32 reaches sys_enter even when the kernel lacks the x32 ABI
// (the call then fails with ENOSYS). Where IA-32 emulation is off the
// kernel refuses int $0x80 with a signal before the syscall path: the
// workload dies of that signal and nothing may be recorded for ia32.
// SYSWARD_TEST_IA32=off exercises that branch here (see testutil).
func TestLearnCompatArches(t *testing.T) {
	requireBPF(t)
	ia32, x32 := testutil.ProbeIA32(t), testutil.ProbeX32(t)
	t.Logf("this kernel: %v; %v", ia32, x32)
	if x32.State == testutil.ABIRefused {
		t.Fatalf("x32 call refused (%v): this test assumes the kernel enters the syscall path for x32 numbers", x32)
	}
	bin := testutil.BuildCompat(t)
	res, err := Learn(context.Background(), Target{Command: []string{bin, "x32", "ia32"}}, nil)
	if err != nil {
		t.Fatalf("Learn: %v", err)
	}
	if res.Stop != StopCommandExited {
		t.Fatalf("stop %q, want %q", res.Stop, StopCommandExited)
	}
	if !res.Seen.Has(profiles.ArchX32, 0x40000000|39) {
		t.Errorf("x32 getpid not seen (%v): x32 %v", x32, res.Seen.Names(profiles.ArchX32))
	}
	want := []profiles.Arch{profiles.ArchX32, profiles.ArchX86, profiles.ArchX86_64}
	if ia32.State == testutil.ABIRefused {
		if res.ExitCode != 128+int(ia32.Signal) {
			t.Errorf("workload exit %d, want %d (killed by %v, as the probe was)", res.ExitCode, 128+int(ia32.Signal), ia32.Signal)
		}
		if got := res.Seen.Names(profiles.ArchX86); len(got) != 0 {
			t.Errorf("ia32 is refused by this kernel (%v) but ia32 syscalls were recorded: %v", ia32, got)
		}
		want = []profiles.Arch{profiles.ArchX32, profiles.ArchX86_64}
	} else {
		if res.ExitCode != 0 {
			t.Errorf("workload exit %d", res.ExitCode)
		}
		if !res.Seen.Has(profiles.ArchX86, 64) {
			t.Errorf("ia32 getppid (int $0x80) not seen (%v): ia32 %v", ia32, res.Seen.Names(profiles.ArchX86))
		}
	}
	if res.Seen.Has(profiles.ArchX86_64, 64) {
		t.Errorf("ia32 call leaked into the native set as semget")
	}
	if got := res.Profile.Arches(); !slices.Equal(got, want) {
		t.Errorf("architectures %v, want %v", got, want)
	}
	// A native-only workload lists only x86_64 (TestLearnCommand).
}

func TestLearnConcurrentSessions(t *testing.T) {
	requireBPF(t)
	bin := buildTestProgram(t, "threads")
	var wg sync.WaitGroup
	var a, b *Result
	var errA, errB error
	wg.Add(2)
	go func() {
		defer wg.Done()
		a, errA = Learn(context.Background(), Target{Command: []string{bin}}, nil)
	}()
	go func() {
		defer wg.Done()
		b, errB = Learn(context.Background(), Target{Command: []string{"sh", "-c", "sleep 0.3; ls / >/dev/null"}}, nil)
	}()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("Learn: %v / %v", errA, errB)
	}
	if a.CgroupID == b.CgroupID {
		t.Fatalf("both sessions tracked cgroup %d", a.CgroupID)
	}
	na, nb := names(a.Profile), names(b.Profile)
	if !na["getcpu"] || na["getdents64"] || na["wait4"] {
		t.Errorf("threads session: getcpu=%v getdents64=%v wait4=%v (want true false false)", na["getcpu"], na["getdents64"], na["wait4"])
	}
	if nb["getcpu"] || !nb["getdents64"] || !nb["wait4"] {
		t.Errorf("sh session: getcpu=%v getdents64=%v wait4=%v (want false true true)", nb["getcpu"], nb["getdents64"], nb["wait4"])
	}
}

func TestLearnStops(t *testing.T) {
	requireBPF(t)
	for _, tc := range []struct {
		name string
		opts LearnOptions
		ctx  func() (context.Context, context.CancelFunc)
		want StopReason
	}{
		{"duration", LearnOptions{Duration: 300 * time.Millisecond}, nil, StopDuration},
		{"until stable", LearnOptions{UntilStable: 300 * time.Millisecond}, nil, StopStable},
		{"interrupted", LearnOptions{}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, StopInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			before := learnDirs(t)
			start := time.Now()
			res, err := Learn(ctx, Target{Command: []string{"sleep", "30"}}, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Stop != tc.want {
				t.Errorf("stop %q, want %q", res.Stop, tc.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
			if !names(res.Profile)["execve"] || !names(res.Profile)["clock_nanosleep"] {
				t.Errorf("interrupted session's profile %v lacks execve/clock_nanosleep", res.Profile.Names())
			}
			if res.ExitCode != -1 {
				t.Errorf("exit code %d, want -1 (killed)", res.ExitCode)
			}
			if after := learnDirs(t); after != before {
				t.Errorf("learn cgroup dirs %d before, %d after", before, after)
			}
		})
	}
}

// learnDirs counts the learn cgroup directories this process created.
func learnDirs(t *testing.T) int {
	t.Helper()
	mnt, err := cgroups.Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	// Only this process's: other packages' tests may learn concurrently.
	m, _ := filepath.Glob(filepath.Join(mnt, "sysward", fmt.Sprintf("learn-%d-*", os.Getpid())))
	return len(m)
}

func TestLearnProgress(t *testing.T) {
	requireBPF(t)
	var buf syncBuffer
	res, err := Learn(context.Background(), Target{Command: []string{"sh", "-c", "sleep 0.4; ls / >/dev/null"}}, &LearnOptions{
		Progress: &buf, ProgressInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "syscalls learned") < 2 || !strings.Contains(out, "new in last 100ms") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress output %q", out)
	}
	final := fmt.Sprintf("%d syscalls learned", res.Seen.Len())
	if !strings.Contains(out, final) {
		t.Errorf("progress lacks the final count %q: %q", final, out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLearnExistingTargets learns a workload that was already running, by
// its pid and by its cgroup; the session ends when the cgroup empties.
func TestLearnExistingTargets(t *testing.T) {
	requireBPF(t)
	for _, kind := range []string{"pid", "cgroup"} {
		t.Run(kind, func(t *testing.T) {
			dir, err := newLearnCgroup()
			if err != nil {
				t.Fatal(err)
			}
			defer removeCgroup(dir, 5*time.Second)
			cg, err := os.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			// Reads a file every 20 ms for ~1.5 s, then exits.
			cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 75 ]; do cat /etc/hostname >/dev/null; sleep 0.02; i=$((i+1)); done")
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cg.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			target := Target{PID: cmd.Process.Pid}
			if kind == "cgroup" {
				mnt, _ := cgroups.Mountpoint()
				target = Target{Cgroup: strings.TrimPrefix(dir, mnt)} // relative to the mount
			}
			res, err := Learn(context.Background(), target, &LearnOptions{Duration: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("workload: %v", err)
			}
			if res.Stop != StopCgroupEmpty {
				t.Errorf("stop %q, want %q", res.Stop, StopCgroupEmpty)
			}
			if res.Cgroup != dir {
				t.Errorf("tracked %s, want %s", res.Cgroup, dir)
			}
			got := names(res.Profile)
			for _, w := range []string{"wait4", "openat", "read", "execve", "clock_nanosleep"} {
				if !got[w] {
					t.Errorf("profile lacks %s: %v", w, res.Profile.Names())
				}
			}
			if p := res.Profile.Sysward.Provenance[0]; p.Target != kind {
				t.Errorf("provenance target %q", p.Target)
			}
		})
	}
}

// TestLearnMigratedTask: a running shell moves itself into a learned (empty)
// cgroup; what it does afterwards is recorded from the next syscall, what it
// did before is not.
func TestLearnMigratedTask(t *testing.T) {
	requireBPF(t)
	dir, err := newLearnCgroup()
	if err != nil {
		t.Fatal(err)
	}
	defer removeCgroup(dir, 5*time.Second)
	done := make(chan error, 1)
	res, err := Learn(context.Background(), Target{Cgroup: dir}, &LearnOptions{
		Duration: 20 * time.Second,
		Tracking: func(uint64, string) {
			// dash: umask is a builtin making the umask syscall; the shell
			// makes none before the move.
			cmd := exec.Command("sh", "-c", "sleep 0.2; echo $$ > "+dir+"/cgroup.procs; umask 022; exit 0")
			go func() { done <- cmd.Run() }()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shell: %v", err)
	}
	if res.Stop != StopCgroupEmpty {
		t.Errorf("stop %q, want %q", res.Stop, StopCgroupEmpty)
	}
	got := names(res.Profile)
	if !got["umask"] || !got["exit_group"] {
		t.Errorf("profile %v lacks the moved shell's umask/exit_group", res.Profile.Names())
	}
	if got["execve"] || got["clone"] || got["wait4"] {
		t.Errorf("profile %v holds calls made before the move", res.Profile.Names())
	}
}
