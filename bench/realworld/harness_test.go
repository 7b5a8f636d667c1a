//go:build realworld

// Package realworld is the acceptance suite for learned profiles on real
// servers from Debian (`make realworld`, minutes; not part of `make test`).
// Each program is learned ONCE under a small load, then run under the
// learned profile (enforced, watched) under a different, broader,
// legitimate load. Every operation of the broad load is first run
// unconfined: one that fails there is not counted. The table says, per
// program and learning variant, how many operations failed under the
// profile, which syscalls were denied, and how many syscalls the profile
// allows (Docker's default allows about 300 on x86_64).
package realworld

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

var (
	only     = flag.String("only", "", "comma-separated program names to run (default all)")
	variants = flag.String("variants", "trace,full", "learning variants: trace (the trace alone: --generalize=none --baseline=none --static=off), full (the defaults); families, baseline, static (the trace and that mechanism alone)")
	keep     = flag.Bool("keep", false, "keep the work directory (profiles, logs)")
)

// variantFlags are the learn flags of each variant.
var variantFlags = map[string][]string{
	"trace": {"--generalize=none", "--baseline=none", "--static=off"},
	"full":  nil,
	// One mechanism on top of the trace: what it alone prevents and adds.
	"families": {"--baseline=none", "--static=off"},
	"baseline": {"--generalize=none", "--static=off"},
	"static":   {"--generalize=none", "--baseline=none"},
}

// op is one operation of a load: it fails with an error. A tool's op is a
// shell command line (sh) whose output must contain want.
type op struct {
	name     string
	run      func(ctx context.Context) error
	sh, want string
}

func toolCommand(o op) string { return o.sh }

// checkTool checks a tool's stdout for o.want, and its stderr (sysward's
// JSON lines left out) for an error line: sqlite3 prints "Error: ..." and
// may still exit 0, and a pipeline's status is its last command's.
func checkTool(o op, out, errOut string) error {
	for _, l := range strings.Split(errOut, "\n") {
		if strings.HasPrefix(l, "Error") || strings.HasPrefix(l, "Parse error") || strings.HasPrefix(l, "Runtime error") {
			return fmt.Errorf("error on stderr: %q", l)
		}
	}
	if !strings.Contains(out, o.want) {
		return fmt.Errorf("output %q lacks %q", lastLines(out, 3), o.want)
	}
	return nil
}

// program is one real program under test.
type program struct {
	name string
	// prepare makes the program's state in dir (config, data) and returns
	// the server's command line; a tool (no server) returns nil.
	prepare func(t *testing.T, dir string, port int) []string
	// ready reports whether the server answers.
	ready func(port int) bool
	// learn is the small load it is learned under; broad the legitimate
	// load it is then enforced under.
	learn, broad func(dir string, port int) []op
	// tool, for a program that is not a server: each op is one run of the
	// tool, through wrap (which puts sysward learn/run in front).
	tool bool
	// exe is the server process's name, to signal it under sysward
	// (default: the base name of the command's first word).
	exe string
	// stopSignal stops the server (default SIGTERM).
	stopSignal syscall.Signal
}

type result struct {
	program, variant    string
	ops, unconfinedFail int
	failed              []string
	denied              []string
	allowed             int
	sources             map[string]int
	learnErr            string
}

var sysward string

func TestRealWorld(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "sysward-realworld-")
	if err != nil {
		t.Fatal(err)
	}
	// The servers drop to their own users (www-data, postgres, memcache):
	// they must be able to reach their directories.
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if *keep {
		t.Logf("work directory %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	sysward = filepath.Join(work, "sysward")
	build := exec.Command("go", "build", "-o", sysward, "./cmd/sysward")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	help, _ := exec.Command(sysward, "learn", "--help").CombinedOutput()
	var results []result
	for _, p := range programs() {
		if *only != "" && !contains(strings.Split(*only, ","), p.name) {
			continue
		}
		for _, v := range strings.Split(*variants, ",") {
			flags, ok := variantFlags[v]
			if !ok {
				t.Fatalf("unknown variant %q", v)
			}
			missing := ""
			for _, f := range flags {
				name, _, _ := strings.Cut(f, "=")
				if !bytes.Contains(help, []byte(name+" ")) {
					missing += " " + name
				}
			}
			if missing != "" {
				t.Logf("%s/%s: skipped, learn has no%s", p.name, v, missing)
				continue
			}
			t.Run(p.name+"/"+v, func(t *testing.T) {
				r := runProgram(t, p, v, flags, filepath.Join(work, p.name+"-"+v))
				results = append(results, r)
			})
		}
	}
	printTable(t, results)
}

// runProgram: the broad load unconfined, learning under the small load,
// the broad load under the learned profile.
func runProgram(t *testing.T, p program, variant string, learnFlags []string, dir string) result {
	r := result{program: p.name, variant: variant}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "profile.json")

	// 1. The broad load, unconfined: which of its operations are legitimate.
	okUnconfined := map[string]bool{}
	{
		state := filepath.Join(dir, "unconfined")
		ops, stop := start(t, p, state, nil, "broad")
		for _, o := range ops {
			r.ops++
			if err := do(o); err != nil {
				// The op is wrong (or the machine is): an op that cannot
				// pass unconfined tests nothing; it is not run enforced.
				r.unconfinedFail++
				t.Errorf("unconfined %s: %v (not counted)", o.name, err)
				continue
			}
			okUnconfined[o.name] = true
		}
		saveLog(t, dir, "unconfined", stop())
	}

	// 2. Learn once, under the small load.
	{
		state := filepath.Join(dir, "learn")
		wrap := append(append([]string{sysward, "learn", "-q", "-o", prof}, learnFlags...), "--")
		ops, stop := start(t, p, state, wrap, "learn")
		for _, o := range ops {
			if err := do(o); err != nil {
				t.Logf("learn load %s: %v", o.name, err)
			}
		}
		saveLog(t, dir, "learn", stop())
	}
	pr, err := inputfile.Profile(prof)
	if err != nil {
		r.learnErr = err.Error()
		t.Errorf("learned profile: %v", err)
		return r
	}
	r.allowed = len(pr.AllowedSyscalls(profiles.NativeArch()))
	// Each allowed syscall counts under the strongest of its sources, as
	// `sysward profile show` counts it (traced, then family, static,
	// baseline).
	r.sources = map[string]int{}
	for _, name := range pr.AllowedSyscalls(profiles.NativeArch()) {
		var src []string
		if pr.Sysward != nil {
			src = pr.Sysward.Stats[name].Sources
		}
		r.sources[profiles.PrimarySource(src)]++
	}

	// 3. The broad load under the learned profile, enforced and watched.
	{
		state := filepath.Join(dir, "enforced")
		wrap := []string{sysward, "run", "--profile", prof, "--watch", "--format", "json", "--name", p.name, "--"}
		ops, stop := start(t, p, state, wrap, "broad")
		for _, o := range ops {
			if !okUnconfined[o.name] {
				continue
			}
			if err := do(o); err != nil {
				r.failed = append(r.failed, o.name)
				t.Logf("ENFORCED %s: %v", o.name, err)
			}
		}
		out := stop()
		saveLog(t, dir, "enforced", out)
		if strings.Contains(out, stopFailed) {
			// Stopping is part of the legitimate load: a server the
			// profile keeps from shutting down failed it.
			r.failed = append(r.failed, "clean stop")
		}
		r.denied = annotateDenied(pr, deniedFromSummaries(out))
	}
	if variant == "full" {
		if len(r.failed) > 0 {
			t.Errorf("%s: %d operations failed under the learned profile: %s (denied: %s)", p.name, len(r.failed), strings.Join(r.failed, ", "), strings.Join(r.denied, " "))
		}
		if r.allowed > maxAllowed {
			t.Errorf("%s: the profile allows %d syscalls, target <= %d", p.name, r.allowed, maxAllowed)
		}
	}
	return r
}

// maxAllowed is the target size of a learned profile (Docker's default
// allows about 300).
const maxAllowed = 120

// start prepares p's state in dir and starts it (a server: under wrap, until
// the returned stop; a tool: each op runs it under wrap). It returns the load
// of that kind ("learn" or "broad").
func start(t *testing.T, p program, dir string, wrap []string, load string) ([]op, func() string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	argv := p.prepare(t, dir, port)
	loadOf := func() []op {
		if load == "learn" {
			return p.learn(dir, port)
		}
		return p.broad(dir, port)
	}
	if p.tool {
		// A tool's ops are command lines (argv in op.name after "|"): run
		// each under wrap. Learning a tool: one learn session per op would
		// make one profile per op; instead the learn load is one shell
		// script run under learn.
		var stderr bytes.Buffer
		ops := loadOf()
		if load == "learn" && wrap != nil {
			script := filepath.Join(dir, "learn.sh")
			var b strings.Builder
			b.WriteString("#!/bin/sh\nset -e\n")
			for _, o := range ops {
				b.WriteString(toolCommand(o) + "\n")
			}
			if err := os.WriteFile(script, []byte(b.String()), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(wrap[0], append(wrap[1:], "/bin/sh", script)...)
			cmd.Dir = dir
			cmd.Stderr = &stderr
			if out, err := cmd.Output(); err != nil {
				t.Errorf("learning %s: %v\n%s\n%s", p.name, err, out, stderr.String())
			}
			return nil, func() string { return stderr.String() }
		}
		var all bytes.Buffer
		wrapped := make([]op, len(ops))
		for i, o := range ops {
			wrapped[i] = op{name: o.name, run: func(ctx context.Context) error {
				args := append(append([]string(nil), wrap...), "/bin/sh", "-c", toolCommand(o))
				cmd := exec.CommandContext(ctx, args[0], args[1:]...)
				cmd.Dir = dir
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				all.Write(errb.Bytes())
				if err != nil {
					return fmt.Errorf("%v: %s", err, lastLines(out.String()+errb.String(), 3))
				}
				// run --watch prints its alerts on stdout too: keep the
				// tool's own output.
				var own []string
				for _, l := range strings.Split(out.String(), "\n") {
					if !strings.HasPrefix(l, `{"hostname":`) {
						own = append(own, l)
					}
				}
				return checkTool(o, strings.Join(own, "\n"), errb.String())
			}}
		}
		return wrapped, func() string { return all.String() }
	}
	args := append(append([]string(nil), wrap...), argv...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for !p.ready(port) {
		select {
		case <-exited:
			t.Fatalf("%s exited before it was ready:\n%s\n%s", p.name, stdout.String(), lastLines(stderr.String(), 20))
		default:
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("%s not ready after 30s:\n%s", p.name, lastLines(stderr.String(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop := func() string {
		stuck := false
		// SIGTERM the server itself (under sysward learn/run --watch it is a
		// child), so learn and the watcher see it end and write their output.
		target := cmd.Process.Pid
		if len(wrap) > 0 {
			exe := p.exe
			if exe == "" {
				exe = argv[0]
			}
			if pid := descendantExe(cmd.Process.Pid, exe); pid > 0 {
				target = pid
			}
		}
		sig := p.stopSignal
		if sig == 0 {
			sig = syscall.SIGTERM
		}
		_ = syscall.Kill(target, sig)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			// sysward (learn, run --watch) still writes its profile or
			// summary when told to stop; the server is killed after.
			// Under a learned profile, that is an operation that failed
			// (runProgram counts it); anywhere else the suite is wrong.
			if load == "broad" && len(wrap) > 0 {
				t.Logf("%s did not stop on %v within 30s", p.name, sig)
				stuck = true
			} else {
				t.Errorf("%s did not stop on %v within 30s", p.name, sig)
			}
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		if stuck {
			return stderr.String() + "\n" + stopFailed + "\n"
		}
		return stderr.String()
	}
	return loadOf(), stop
}

// stopFailed marks, in a phase's log, a server that did not stop when told.
const stopFailed = "realworld: the server did not stop within 30s"

// annotateDenied marks the denied syscalls that the profile answers with
// ENOSYS on purpose (clone3: glibc then falls back to clone), so that the
// table does not read as if they broke anything: whether they did is what
// the failures column says.
func annotateDenied(p *profiles.Profile, denied []string) []string {
	out := make([]string, len(denied))
	for i, n := range denied {
		out[i] = n
		d := p.Decide(profiles.NativeArch(), n)
		if d.Action == profiles.ActErrno && d.ErrnoRet != nil && *d.ErrnoRet == uint(syscall.ENOSYS) {
			out[i] = n + "(ENOSYS)"
		}
	}
	return out
}

// saveLog keeps a phase's stderr (the program's log, sysward's summary) in
// dir/phase.log (see -keep).
func saveLog(t *testing.T, dir, phase, s string) {
	if err := os.WriteFile(filepath.Join(dir, phase+".log"), []byte(s), 0o644); err != nil {
		t.Error(err)
	}
}

// do runs one op with a bound.
func do(o op) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := o.run(ctx)
	if ctx.Err() != nil && err == nil {
		err = ctx.Err()
	}
	return err
}

// deniedFromSummaries reads run --watch's JSON summaries (stderr; one per
// run) for the syscalls outside the profile, their union sorted.
func deniedFromSummaries(stderr string) []string {
	set := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, `{"summary":`) {
			continue
		}
		var s struct {
			Summary struct {
				Deviations []struct {
					Syscall string `json:"syscall"`
				}
			}
		}
		if json.Unmarshal([]byte(l), &s) != nil {
			continue
		}
		for _, d := range s.Summary.Deviations {
			set[d.Syscall] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func printTable(t *testing.T, rs []result) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nlearned once under a small load, enforced under a broader legitimate load (Docker's default allows %d on x86_64)\n", dockerDefaultCount())
	fmt.Fprintf(&b, "%-10s %-7s %5s %8s %7s  %-40s %s\n", "program", "learn", "ops", "failures", "allowed", "allowed by source", "denied syscalls")
	for _, r := range rs {
		if r.learnErr != "" {
			fmt.Fprintf(&b, "%-10s %-7s learning failed: %s\n", r.program, r.variant, r.learnErr)
			continue
		}
		var src []string
		for k, v := range r.sources {
			src = append(src, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(src)
		fmt.Fprintf(&b, "%-10s %-7s %5d %8d %7d  %-40s %s\n", r.program, r.variant, r.ops-r.unconfinedFail, len(r.failed),
			r.allowed, strings.Join(src, ", "), strings.Join(r.denied, " "))
		if len(r.failed) > 0 {
			fmt.Fprintf(&b, "%-10s %-7s failed: %s\n", "", "", strings.Join(r.failed, ", "))
		}
	}
	t.Log(b.String())
	fmt.Println(b.String())
}

// dockerDefaultCount is the number of syscalls moby's default profile
// allows on this architecture (sysward's resolved export).
func dockerDefaultCount() int {
	out, err := exec.Command(sysward, "profile", "export", "--docker-default", "--arch", "x86_64").Output()
	if err != nil {
		return 0
	}
	p, err := profiles.Parse("docker-default", out)
	if err != nil {
		return 0
	}
	return len(p.AllowedSyscalls(profiles.NativeArch()))
}

// descendantExe finds a descendant of pid whose command is exe (basename
// compared), for signalling a server started under sysward.
func descendantExe(pid int, exe string) int {
	base := filepath.Base(exe)
	ents, _ := os.ReadDir("/proc")
	best := 0
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if !descends(p, pid) {
			continue
		}
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		// A server may rewrite its argv as one string ("nginx: master
		// process nginx -c /x/nginx.conf"): its first word names it.
		arg0, _, _ := strings.Cut(string(cl), "\x00")
		first, _, _ := strings.Cut(arg0, " ")
		if name := strings.TrimSuffix(filepath.Base(first), ":"); name == base {
			if best == 0 || p < best {
				best = p
			}
		}
	}
	return best
}

func descends(p, ancestor int) bool {
	for i := 0; i < 32 && p > 1; i++ {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return false
		}
		s := string(st)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		pp, _ := strconv.Atoi(f[1])
		if pp == ancestor {
			return true
		}
		p = pp
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// lastLines is the last n lines of s that are not sysward's JSON (alerts,
// summaries): the program's own words.
func lastLines(s string, n int) string {
	var ls []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if !strings.HasPrefix(l, "{") {
			ls = append(ls, l)
		}
	}
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
