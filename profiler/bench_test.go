package profiler

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// loopChild times n getppid calls (raw: no Go scheduler hooks) in chunks
// and prints the fastest chunk's ns per call: on a shared, noisy machine the
// minimum is what the code costs, the rest is other tenants' interference.
func loopChild(arg string) int {
	n, err := strconv.Atoi(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loop:", err)
		return 2
	}
	const chunk = 10000
	for i := 0; i < chunk; i++ { // warm up, and set the seen bit
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	best := time.Duration(1 << 62)
	for c := 0; c < n/chunk; c++ {
		start := time.Now()
		for i := 0; i < chunk; i++ {
			unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		}
		if d := time.Since(start); d < best {
			best = d
		}
	}
	fmt.Printf("%.3f\n", float64(best.Nanoseconds())/chunk)
	return 0
}

// pingPongChild bounces a byte between two threads pinned to one CPU over
// two pipes, n round trips in chunks, and prints the fastest chunk's ns per
// round trip: each is two context switches and four syscalls.
func pingPongChild(arg string) int {
	n, err := strconv.Atoi(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingpong:", err)
		return 2
	}
	var a, b [2]int
	if unix.Pipe(a[:]) != nil || unix.Pipe(b[:]) != nil {
		fmt.Fprintln(os.Stderr, "pingpong: pipe")
		return 2
	}
	var cpu unix.CPUSet
	cpu.Set(0)
	go func() {
		runtime.LockOSThread()
		unix.SchedSetaffinity(0, &cpu)
		buf := []byte{0}
		for {
			if _, err := unix.Read(a[0], buf); err != nil {
				return
			}
			unix.Write(b[1], buf)
		}
	}()
	runtime.LockOSThread()
	unix.SchedSetaffinity(0, &cpu)
	buf := []byte{0}
	const chunk = 2000
	best := time.Duration(1 << 62)
	for c := 0; c < n/chunk+1; c++ {
		start := time.Now()
		for i := 0; i < chunk; i++ {
			unix.Write(a[1], buf)
			unix.Read(b[0], buf)
		}
		if d := time.Since(start); c > 0 && d < best { // chunk 0 warms up
			best = d
		}
	}
	fmt.Printf("%.3f\n", float64(best.Nanoseconds())/chunk)
	return 0
}

// timeLoop runs the getppid loop in a child process placed in cgroup dir
// and returns its ns per call.
func timeLoop(b *testing.B, dir string, n int) float64 {
	b.Helper()
	return timeChild(b, dir, "loop:"+strconv.Itoa(n))
}

// timeChild runs the test binary in child mode inside cgroup dir and returns
// the number it prints.
func timeChild(b *testing.B, dir, mode string) float64 {
	b.Helper()
	cg, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s child: %v", mode, err)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("%s child output %q: %v", mode, out, err)
	}
	return v
}

// emptyRawTP attaches raw_tp programs that only return to each tracepoint
// (sys_enter; sys_exit too for the watch baseline): the floor any syscall
// tracer pays.
func emptyRawTP(b *testing.B, tracepoints ...string) func() {
	b.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.RawTracepoint,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	var links []link.Link
	for _, tp := range tracepoints {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: prog})
		if err != nil {
			prog.Close()
			b.Fatal(err)
		}
		links = append(links, l)
	}
	return func() {
		for _, l := range links {
			l.Close()
		}
		prog.Close()
	}
}

func minimum(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		if x < m {
			m = x
		}
	}
	return m
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func benchCgroup(b *testing.B) (string, uint64) {
	b.Helper()
	dir, err := newLearnCgroup()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { removeCgroup(dir, 5*time.Second) })
	id, err := cgroupID(dir)
	if err != nil {
		b.Fatal(err)
	}
	return dir, id
}

// BenchmarkSyscallOverhead times a tight getppid loop in a child process
// under each condition, interleaved over several rounds (fastest), and prints
// ratios against the empty raw_tp program measured in the same run.
// Targets (issue 3): untracked <= 1.05x, tracked <= 1.10x.
func BenchmarkSyscallOverhead(b *testing.B) {
	testutil.Require(b, testutil.Root, testutil.BTF, testutil.Cgroup2)
	// Many short rounds, interleaved, and the fastest round per condition:
	// on a shared machine load comes and goes, and the minimum is the cost
	// without interference.
	const n = 300_000
	const rounds = 9
	loopDir, loopID := benchCgroup(b)
	_, otherID := benchCgroup(b)

	allowed := &SyscallSet{}
	for _, name := range profiles.Syscalls(profiles.ArchX86_64) {
		nr, _ := profiles.SyscallNumber(profiles.ArchX86_64, name)
		allowed.Add(profiles.ArchX86_64, nr)
	}

	type cond struct {
		name string
		with func() func() // sets up, returns teardown
	}
	sysward := func(opts *Options, track func(p *Profiler) error) func() func() {
		return func() func() {
			p, err := Load(opts)
			if err != nil {
				b.Fatal(err)
			}
			if err := track(p); err != nil {
				b.Fatal(err)
			}
			return func() { p.Close() }
		}
	}
	conds := []cond{
		{"bare (no program)", func() func() { return func() {} }},
		{"empty raw_tp program", func() func() { return emptyRawTP(b, "sys_enter") }},
		{"sysward, other cgroup tracked", sysward(nil, func(p *Profiler) error {
			return p.Track(otherID, TrackOptions{Mode: ModeLearn})
		})},
		{"sysward learning this cgroup", sysward(nil, func(p *Profiler) error {
			return p.Track(loopID, TrackOptions{Mode: ModeLearn, Flags: FlagFirstSeen})
		})},
		{"sysward holding new cgroups, other tracked", sysward(&Options{HoldNewCgroups: true}, func(p *Profiler) error {
			return holdSome(b, p, otherID)
		})},
		{"empty raw_tp on sys_enter + sys_exit", func() func() { return emptyRawTP(b, "sys_enter", "sys_exit") }},
		{"sysward watching this cgroup (+sys_exit)", sysward(&Options{Watch: true}, func(p *Profiler) error {
			return p.Track(loopID, TrackOptions{Mode: ModeWatch, Allowed: allowed})
		})},
	}
	results := make([][]float64, len(conds))
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for ci, c := range conds {
				teardown := c.with()
				results[ci] = append(results[ci], timeLoop(b, loopDir, n))
				teardown()
			}
		}
	}
	base, base2 := minimum(results[1]), minimum(results[5])
	var sb strings.Builder
	fmt.Fprintf(&sb, "\ngetppid loop, %d calls x %d interleaved rounds per condition, fastest ns/call:\n", n, rounds*b.N)
	fmt.Fprintf(&sb, "%-42s %9s %12s\n", "condition", "ns/call", "vs empty")
	for ci, c := range conds {
		m := minimum(results[ci])
		fmt.Fprintf(&sb, "%-42s %9.1f %11.3fx\n", c.name, m, m/base)
	}
	fmt.Fprintf(&sb, "watching vs empty programs on both tracepoints: %.3fx\n", minimum(results[6])/base2)
	fmt.Fprintf(&sb, "targets: other cgroup <= 1.05x, this cgroup <= 1.10x\n")
	fmt.Print(sb.String())
	b.ReportMetric(minimum(results[2])/base, "untracked/empty")
	b.ReportMetric(minimum(results[3])/base, "learned/empty")
	b.ReportMetric(minimum(results[4])/base, "holding/empty")
	b.ReportMetric(minimum(results[6])/base2, "watched/empty-enter+exit")
}

// BenchmarkRedisLearned compares redis-benchmark throughput against an
// untraced redis-server, one with an empty raw_tp sys_enter program attached
// (the floor any syscall tracer pays) and one being learned (profiler.Learn
// on the command). Rounds interleave the three in rotating order; the ratio
// within each round cancels slow drifts in the machine's load, and the
// median of the ratios is reported. Target (issue 3): learned >= 0.97 of
// untraced.
func BenchmarkRedisLearned(b *testing.B) {
	testutil.Require(b, testutil.Root, testutil.BTF, testutil.Cgroup2,
		testutil.Binary("redis-server"), testutil.Binary("redis-benchmark"))
	const rounds = 7
	modes := []string{"untraced", "empty", "learned"}
	rps := map[string][]float64{}
	var vsUntraced, vsEmpty, emptyFloor []float64
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			got := map[string]float64{}
			for k := range modes {
				m := modes[(k+r)%len(modes)]
				got[m] = redisRound(b, m)
				rps[m] = append(rps[m], got[m])
			}
			vsUntraced = append(vsUntraced, got["learned"]/got["untraced"])
			vsEmpty = append(vsEmpty, got["learned"]/got["empty"])
			emptyFloor = append(emptyFloor, got["empty"]/got["untraced"])
		}
	}
	fmt.Printf("\nredis-benchmark (SET+GET, 50 clients, 100k requests each), %d interleaved rounds:\n", len(vsUntraced))
	fmt.Printf("%-36s %14s\n", "redis-server", "median req/s")
	fmt.Printf("%-36s %14.0f\n", "untraced", median(rps["untraced"]))
	fmt.Printf("%-36s %14.0f\n", "empty raw_tp program on sys_enter", median(rps["empty"]))
	fmt.Printf("%-36s %14.0f\n", "being learned (sysward)", median(rps["learned"]))
	fmt.Printf("median ratio learned/untraced: %.3f (rounds: %s)\n", median(vsUntraced), fmtRatios(vsUntraced))
	fmt.Printf("median ratio empty/untraced:   %.3f (the floor of any sys_enter program)\n", median(emptyFloor))
	fmt.Printf("median ratio learned/empty:    %.3f\n", median(vsEmpty))
	fmt.Printf("target: learned >= 0.97 of untraced\n")
	b.ReportMetric(median(vsUntraced), "learned/untraced")
	b.ReportMetric(median(vsEmpty), "learned/empty")
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// redisRound starts redis-server (under Learn for "learned", with an empty
// sys_enter program for "empty"), runs redis-benchmark against it and returns
// the mean requests/s of SET and GET.
func redisRound(b *testing.B, mode string) float64 {
	b.Helper()
	port := strconv.Itoa(freePort(b))
	args := []string{"redis-server", "--port", port, "--save", "", "--appendonly", "no", "--dir", b.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var stop func()
	if mode == "learned" {
		tracking := make(chan struct{})
		var lerr error
		var res *Result
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, lerr = Learn(ctx, Target{Command: args}, &LearnOptions{Tracking: func(uint64, string) { close(tracking) }})
		}()
		<-tracking
		stop = func() {
			cancel()
			wg.Wait()
			if lerr != nil {
				b.Fatalf("Learn redis-server: %v", lerr)
			}
			if !names(res.Profile)["epoll_wait"] && !names(res.Profile)["epoll_pwait"] {
				b.Errorf("learned redis profile lacks epoll_wait: %v", res.Profile.Names())
			}
		}
	} else {
		detach := func() {}
		if mode == "empty" {
			detach = emptyRawTP(b, "sys_enter")
		}
		cmd := exec.Command(args[0], args[1:]...)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stop = func() { cancel(); cmd.Process.Kill(); cmd.Wait(); detach() }
	}
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("redis-server did not listen on %s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := exec.Command("redis-benchmark", "-p", port, "-q", "-n", "100000", "-c", "50", "-t", "set,get", "--csv").Output()
	if err != nil {
		b.Fatalf("redis-benchmark: %v", err)
	}
	var sum float64
	var k int
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) < 2 || !strings.HasPrefix(f[0], `"SET"`) && !strings.HasPrefix(f[0], `"GET"`) {
			continue
		}
		v, err := strconv.ParseFloat(strings.Trim(f[1], `"`), 64)
		if err == nil {
			sum += v
			k++
		}
	}
	if k != 2 {
		b.Fatalf("redis-benchmark output: %q", out)
	}
	return sum / 2
}

// BenchmarkContextSwitch prices the other side of the per-CPU memo: after
// every switch the new task's first syscall takes the slow path (one helper
// and the cgroup lookup). A pipe ping-pong between two
// threads on one CPU (per round trip: two switches, four syscalls), with an
// empty raw_tp sys_enter program as the baseline.
func BenchmarkContextSwitch(b *testing.B) {
	testutil.Require(b, testutil.Root, testutil.BTF, testutil.Cgroup2)
	const n, rounds = 100_000, 5
	dir, id := benchCgroup(b)
	_, other := benchCgroup(b)
	conds := []struct {
		name string
		with func() func()
	}{
		{"bare (no program)", func() func() { return func() {} }},
		{"empty raw_tp program", func() func() { return emptyRawTP(b, "sys_enter") }},
		{"sysward, other cgroup tracked", func() func() {
			p, err := Load(nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Track(other, TrackOptions{Mode: ModeLearn}); err != nil {
				b.Fatal(err)
			}
			return func() { p.Close() }
		}},
		{"sysward learning this cgroup", func() func() {
			p, err := Load(nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Track(id, TrackOptions{Mode: ModeLearn}); err != nil {
				b.Fatal(err)
			}
			return func() { p.Close() }
		}},
		{"sysward holding new cgroups, other tracked", func() func() {
			p, err := Load(&Options{HoldNewCgroups: true})
			if err != nil {
				b.Fatal(err)
			}
			if err := holdSome(b, p, other); err != nil {
				b.Fatal(err)
			}
			return func() { p.Close() }
		}},
	}
	res := make([][]float64, len(conds))
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for ci, c := range conds {
				td := c.with()
				res[ci] = append(res[ci], timeChild(b, dir, "pingpong:"+strconv.Itoa(n)))
				td()
			}
		}
	}
	base := median(res[1])
	fmt.Printf("\npipe ping-pong on one CPU (2 switches + 4 syscalls per round trip), median of %d:\n", rounds*b.N)
	fmt.Printf("%-34s %12s %9s\n", "condition", "ns/round", "vs empty")
	for ci, c := range conds {
		m := median(res[ci])
		fmt.Printf("%-34s %12.1f %8.3fx\n", c.name, m, m/base)
	}
	b.ReportMetric(median(res[2])/base, "untracked/empty")
	b.ReportMetric(median(res[3])/base, "learned/empty")
	b.ReportMetric(median(res[4])/base, "holding/empty")
}

// holdSome tracks other and makes a few new cgroups, which p then holds
// pending (Options.HoldNewCgroups): the loop's own cgroup stays untracked,
// with pending cgroups in the index buckets around it.
func holdSome(b *testing.B, p *Profiler, other uint64) error {
	if err := p.Track(other, TrackOptions{Mode: ModeLearn}); err != nil {
		return err
	}
	for i := 0; i < 8; i++ {
		dir, err := newLearnCgroup()
		if err != nil {
			return err
		}
		b.Cleanup(func() { os.Remove(dir) })
	}
	return nil
}

func fmtRatios(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmt.Sprintf("%.3f", x))
	}
	return strings.Join(parts, " ")
}
