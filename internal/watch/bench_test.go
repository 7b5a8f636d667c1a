package watch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// emptyRawTP attaches a program that only returns to each raw tracepoint:
// the floor any syscall tracer pays. (The profiler's benchmark has the same
// baseline in its package; its harness is not exported.)
func emptyRawTP(b *testing.B, tracepoints ...string) func() {
	b.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		b.Fatal(err)
	}
	var links []link.Link
	for _, tp := range tracepoints {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: prog})
		if err != nil {
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

func benchRules(b *testing.B) Config {
	rs, err := LoadRules(false)
	if err != nil {
		b.Fatal(err)
	}
	return Config{Rules: rs, Mode: ModeWatch, Format: output.FormatJSON, Stdout: io.Discard, Stderr: io.Discard, ProfileName: "bench"}
}

// loopChild runs the getppid loop as a command: under a watch session when
// cfg is set, plain otherwise. It returns ns per call.
func loopChild(b *testing.B, cfg *Config, n int) float64 {
	b.Helper()
	var out bytes.Buffer
	launch := func() (*exec.Cmd, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
		cmd.Env = append(os.Environ(), childEnv+"=loop:"+strconv.Itoa(n))
		cmd.Stdout = &out
		return cmd, nil
	}
	if cfg == nil {
		cmd, _ := launch()
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	} else {
		res, err := Session(context.Background(), *cfg, Target{Launch: launch, Name: "loop"})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Summary.Deviations) != 0 {
			b.Fatalf("loop deviated: %v", res.Summary.Syscalls())
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
	if err != nil {
		b.Fatalf("loop output %q", out.String())
	}
	return v
}

func freePort(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func redisArgs(b *testing.B, port string) []string {
	return []string{"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", b.TempDir()}
}

func waitListen(b *testing.B, port string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("redis-server did not listen on %s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisBenchmark returns the mean requests/s of SET and GET.
func redisBenchmark(b *testing.B, port string) float64 {
	out, err := exec.Command("redis-benchmark", "-p", port, "-q", "-n", "50000", "-c", "50", "-t", "set,get", "--csv").Output()
	if err != nil {
		b.Fatalf("redis-benchmark: %v", err)
	}
	var sum float64
	var k int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) < 2 || !strings.HasPrefix(f[0], `"SET"`) && !strings.HasPrefix(f[0], `"GET"`) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Trim(f[1], `"`), 64); err == nil {
			sum += v
			k++
		}
	}
	if k != 2 {
		b.Fatalf("redis-benchmark output %q", out)
	}
	return sum / 2
}

// learnRedis learns redis-server's profile from start-up through one
// redis-benchmark run (merged over two sessions).
func learnRedis(b *testing.B) *profiles.Profile {
	var ps []*profiles.Profile
	for i := 0; i < 2; i++ {
		port := freePort(b)
		ctx, cancel := context.WithCancel(context.Background())
		tracking := make(chan struct{})
		done := make(chan *profiler.Result, 1)
		go func() {
			res, err := profiler.Learn(ctx, profiler.Target{Command: redisArgs(b, port)}, &profiler.LearnOptions{Tracking: func(uint64, string) { close(tracking) }})
			if err != nil {
				b.Error(err)
			}
			done <- res
		}()
		<-tracking
		waitListen(b, port)
		redisBenchmark(b, port)
		cancel()
		res := <-done
		if res == nil {
			b.FailNow()
		}
		ps = append(ps, res.Profile)
	}
	p, err := profiles.Merge(ps...)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// redisRound runs redis-benchmark against a fresh redis-server, watched by
// a full session (kernel side, events, rules, outputs) when cfg is set.
func redisRound(b *testing.B, cfg *Config) (float64, *Summary) {
	port := freePort(b)
	args := redisArgs(b, port)
	if cfg == nil {
		cmd := exec.Command(args[0], args[1:]...)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		waitListen(b, port)
		return redisBenchmark(b, port), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	c := *cfg
	c.Ready = func(uint64) { close(ready) }
	type result struct {
		res *Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Session(ctx, c, Target{Command: args, Name: "redis", Stdout: io.Discard, Stderr: io.Discard})
		done <- result{res, err}
	}()
	<-ready
	waitListen(b, port)
	rps := redisBenchmark(b, port)
	cancel()
	r := <-done
	if r.err != nil {
		b.Fatal(r.err)
	}
	return rps, r.res.Summary
}

// BenchmarkWatch prints three tables, each a ratio against a baseline
// measured in the same run:
//   - redis-server under `sysward watch` with its learned profile vs
//     unwatched (target >= 0.95);
//   - a getppid loop in a watched cgroup (nothing deviates) vs the same loop
//     under empty raw_tp programs on the same tracepoints (target <= 1.10);
//   - a deviation storm: events per second through the rules to an output,
//     with kernel drops counted.
func BenchmarkWatch(b *testing.B) {
	testutil.Require(b, testutil.Root, testutil.BTF, testutil.Cgroup2,
		testutil.Binary("redis-server"), testutil.Binary("redis-benchmark"))
	base := benchRules(b)
	var sb strings.Builder
	for i := 0; i < b.N; i++ {
		// 1. redis.
		prof := learnRedis(b)
		rcfg := base
		rcfg.Profile = prof
		// Each round measures the three back to back and keeps the ratios:
		// on a shared machine a round's three runs see the same neighbours,
		// so the median of per-round ratios is steadier than a ratio of
		// medians.
		const rounds = 7
		rcfgX := rcfg
		rcfgX.Mode = ModeEnforce // the kernel side run --watch uses: sys_exit and exit hooks too
		var plain, rw, rx []float64
		var devs []string
		for r := 0; r < rounds; r++ {
			p := must(redisRound(b, nil))
			v, s := redisRound(b, &rcfg)
			x := must(redisRound(b, &rcfgX))
			plain = append(plain, p)
			rw = append(rw, v/p)
			rx = append(rx, x/p)
			devs = append(devs, s.Syscalls()...)
		}
		mp, mw, mx := median(plain), median(rw), median(rx)
		fmt.Fprintf(&sb, "\nredis-benchmark (SET+GET, 50 clients, 50k requests), %d rounds, median of per-round ratios:\n", rounds)
		fmt.Fprintf(&sb, "%-52s %12s %8s\n", "redis-server", "requests/s", "ratio")
		fmt.Fprintf(&sb, "%-52s %12.0f %8.3f\n", "unwatched (median)", mp, 1.0)
		fmt.Fprintf(&sb, "%-52s %12s %8.3f\n", "sysward watch, learned profile", "", mw)
		fmt.Fprintf(&sb, "%-52s %12s %8.3f\n", "  same, with the sys_exit/exit hooks of run --watch", "", mx)
		fmt.Fprintf(&sb, "deviations while watched: %v (target: watch >= 0.95)\n", uniq(devs))
		b.ReportMetric(mw, "redis-watched/unwatched")
		b.ReportMetric(mx, "redis-watched-exit-hooks/unwatched")

		// 2. syscall loop: each watch configuration against the empty
		// programs on the tracepoints it attaches.
		allowAll := profiles.New(profiles.ActAllow, profiles.NativeArch())
		lcfg := base
		lcfg.Profile = allowAll
		lcfgX := lcfg
		lcfgX.Mode = ModeEnforce
		const n = 1_000_000
		conds := []struct {
			name string
			run  func() float64
		}{
			{"bare (no program)", func() float64 { return loopChild(b, nil, n) }},
			{"empty raw_tp on sys_enter", func() float64 {
				defer emptyRawTP(b, "sys_enter")()
				return loopChild(b, nil, n)
			}},
			{"sysward watch session on the loop", func() float64 { return loopChild(b, &lcfg, n) }},
			{"empty raw_tp on sys_enter + sys_exit", func() float64 {
				defer emptyRawTP(b, "sys_enter", "sys_exit")()
				return loopChild(b, nil, n)
			}},
			{"  same session with exit hooks (run --watch)", func() float64 { return loopChild(b, &lcfgX, n) }},
		}
		const loopRounds = 5
		res := make([][]float64, len(conds))
		for r := 0; r < loopRounds; r++ {
			for ci, c := range conds {
				res[ci] = append(res[ci], c.run())
			}
		}
		fmt.Fprintf(&sb, "\ngetppid loop, %d calls, best 10k-call chunk, median of %d interleaved rounds:\n", n, loopRounds)
		fmt.Fprintf(&sb, "%-46s %9s %10s\n", "condition", "ns/call", "vs empty")
		empty := median(res[1])
		for ci, c := range conds {
			if ci == 3 {
				empty = median(res[3])
			}
			m := median(res[ci])
			fmt.Fprintf(&sb, "%-46s %9.1f %9.3fx\n", c.name, m, m/empty)
		}
		fmt.Fprintf(&sb, "target: watched <= 1.10x the empty program(s) on the same tracepoints\n")
		b.ReportMetric(median(res[2])/median(res[1]), "loop-watched/empty")
		b.ReportMetric(median(res[4])/median(res[3]), "loop-watched-exit-hooks/empty-enter+exit")

		// 3. deviation storm.
		scfg := base
		scfg.Profile = allowAllBut("getppid")
		scfg.DedupWindow = -1
		fmt.Fprintf(&sb, "\ndeviation storm (getppid outside the profile, every call an event), no dedup:\n")
		fmt.Fprintf(&sb, "%-10s %10s %10s %10s %12s %12s %10s\n", "ring", "calls", "events", "drops", "events/s", "alerts out", "out drops")
		for _, ring := range []int{256 << 10, 4 << 20} {
			scfg.RingBufferSize = ring
			start := time.Now()
			r, err := Session(context.Background(), scfg, storm(nil, "storm:1000000:"))
			if err != nil {
				b.Fatal(err)
			}
			el := time.Since(start).Seconds()
			s := r.Summary
			var sent, dropped uint64
			for _, st := range r.OutputStats {
				sent += st.Sent
				dropped += st.Dropped
			}
			fmt.Fprintf(&sb, "%-10s %10d %10d %10d %12.0f %12d %10d\n", fmt.Sprintf("%dKiB", ring>>10), s.Calls, s.Events, s.Drops, float64(s.Events)/el, sent, dropped)
			if s.Calls != s.Events+s.Drops-1 && s.Calls != s.Events+s.Drops {
				fmt.Fprintf(&sb, "  (calls %d != events %d + drops %d)\n", s.Calls, s.Events, s.Drops)
			}
			b.ReportMetric(float64(s.Events)/el, fmt.Sprintf("storm-events/s-%dKiB", ring>>10))
		}
	}
	fmt.Print(sb.String())
}

func must(v float64, _ *Summary) float64 { return v }

func uniq(s []string) []string {
	sort.Strings(s)
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
