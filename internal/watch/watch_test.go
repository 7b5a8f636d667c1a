package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

func requireWatch(t *testing.T) {
	t.Helper()
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2, testutil.File(testutil.BusyboxPath))
}

// The sample workload: a busybox shell script, deterministic (static
// binary). newPart adds what it never did while learned: sync(2),
// mknodat(2) and a nested shell.
const normalPart = "cat /etc/hostname >/dev/null; ls / >/dev/null; echo ok >/dev/null"

func newPart(t *testing.T, dir string) string {
	// A shell exec'd by name (busybox runs "sh -c" in-process otherwise).
	if err := os.Symlink(testutil.BusyboxPath, filepath.Join(dir, "sh")); err != nil {
		t.Fatal(err)
	}
	return normalPart + "; sync; mkfifo " + dir + "/fifo; " + dir + "/sh -c true; true"
}

func busybox(script string) []string { return []string{testutil.BusyboxPath, "sh", "-c", script} }

// learn learns the command twice (profiler's learn API) and merges the two.
func learn(t *testing.T, argv []string) *profiles.Profile {
	t.Helper()
	var ps []*profiles.Profile
	for i := 0; i < 2; i++ {
		res, err := profiler.Learn(context.Background(), profiler.Target{Command: argv}, nil)
		if err != nil {
			t.Fatalf("learning %q: %v", argv, err)
		}
		if res.ExitCode != 0 {
			t.Fatalf("learning %q: exit status %d", argv, res.ExitCode)
		}
		ps = append(ps, res.Profile)
	}
	p, err := profiles.Merge(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testRules are the embedded rules plus a file that names the test binary as
// a parent that starts workloads (what "sysward" is in production).
func testRules(t *testing.T) *detector.Ruleset {
	t.Helper()
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	f := filepath.Join(t.TempDir(), "test_rules.yaml")
	if err := writeFile(f, fmt.Sprintf("- list: sysward_entrypoint_parents\n  items: [%q]\n  append: true\n", comm)); err != nil {
		t.Fatal(err)
	}
	rs, err := LoadRules(false, f)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// lines collects what an output writes, stamping each line on arrival.
type lines struct {
	mu      sync.Mutex
	partial []byte
	got     []timedLine
}

type timedLine struct {
	at   time.Time
	text string
}

func (l *lines) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.got = append(l.got, timedLine{now, string(l.partial[:i])})
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// falcoAlert is Falco's JSON alert, decoded loosely.
type falcoAlert struct {
	Time         time.Time      `json:"time"`
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Source       string         `json:"source"`
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Tags         []string       `json:"tags"`
	arrived      time.Time
}

func (a falcoAlert) field(k string) string {
	v, ok := a.OutputFields[k]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func (l *lines) alerts(t *testing.T) []falcoAlert {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []falcoAlert
	for _, ln := range l.got {
		var a falcoAlert
		if err := json.Unmarshal([]byte(ln.text), &a); err != nil {
			t.Fatalf("alert line %q: %v", ln.text, err)
		}
		a.arrived = ln.at
		out = append(out, a)
	}
	return out
}

func session(t *testing.T, cfg Config, target Target) (*Result, *lines) {
	t.Helper()
	out := &lines{}
	var sum bytes.Buffer
	if cfg.Stdout == nil {
		cfg.Stdout = out
	}
	cfg.Stderr = &sum
	if cfg.ProfileName == "" {
		cfg.ProfileName = "learned.json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Session(ctx, cfg, target)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	t.Logf("summary:\n%s", sum.String())
	return res, out
}

// detailed returns the first-occurrence alerts of rule (not dedup summaries).
func detailed(as []falcoAlert, rule string) []falcoAlert {
	var out []falcoAlert
	for _, a := range as {
		if a.Rule == rule && a.field(output.FieldRepeatCount) == "" {
			out = append(out, a)
		}
	}
	return out
}

func TestWatchLearnedWorkload(t *testing.T) {
	requireWatch(t)
	dir := t.TempDir()
	prof := learn(t, busybox(normalPart))
	rules := testRules(t)

	t.Run("normal run raises nothing", func(t *testing.T) {
		res, out := session(t, Config{Profile: prof, Rules: rules, Mode: ModeWatch, Format: output.FormatJSON},
			Target{Command: busybox(normalPart)})
		if as := out.alerts(t); len(as) != 0 {
			t.Fatalf("alerts on a normal run: %+v", as)
		}
		if res.ExitCode != 0 || len(res.Summary.Deviations) != 0 {
			t.Fatalf("exit %d, deviations %v", res.ExitCode, res.Summary.Syscalls())
		}
	})

	t.Run("new behaviour alerts once per syscall", func(t *testing.T) {
		record := filepath.Join(dir, "events.jsonl")
		argv := busybox(newPart(t, dir))
		res, out := session(t, Config{Profile: prof, Rules: rules, Mode: ModeWatch, Format: output.FormatJSON, Record: record},
			Target{Command: argv, Name: "sample"})
		as := out.alerts(t)
		devs := detailed(as, "Syscall outside profile")
		bySyscall := map[string]int{}
		for _, a := range devs {
			bySyscall[a.field("evt.type")]++
			if a.Priority != "Warning" || a.field("sysward.workload") != "sample" || a.field("proc.name") == "" ||
				a.field("proc.cmdline") == "" || a.field("sysward.profile") != "learned.json" || a.field("sysward.mode") != "watch" {
				t.Errorf("alert lacks detail: %s %v", a.Output, a.OutputFields)
			}
		}
		want := res.Summary.Syscalls()
		var got []string
		for s, n := range bySyscall {
			got = append(got, s)
			if n != 1 {
				t.Errorf("%d detailed alerts for %s, want 1", n, s)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("alerted syscalls %v, kernel deviation set %v", got, want)
		}
		for _, s := range []string{"sync", "mknodat"} {
			if bySyscall[s] != 1 {
				t.Errorf("no alert for %s (alerts for %v)", s, got)
			}
		}
		if sh := detailed(as, "Shell spawned in workload"); len(sh) != 1 || sh[0].field("proc.name") != "sh" || sh[0].field("proc.pname") != "busybox" {
			t.Errorf("shell alerts: %+v", sh)
			data, _ := os.ReadFile(record)
			t.Logf("recorded events:\n%s", data)
		}

		// The record replays through the same rules with the same alerts.
		data, err := os.ReadFile(record)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := detector.DecodeEvents(record, data)
		if err != nil {
			t.Fatal(err)
		}
		replayed := map[string]int{}
		eng, err := detector.NewEngine(rules, &detector.EngineOptions{Sink: detector.AlertFunc(func(a *detector.Alert) {
			replayed[a.Rule+"/"+a.Syscall]++
		})})
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			eng.Process(&evs[i])
		}
		for s := range bySyscall {
			if replayed["Syscall outside profile/"+s] == 0 {
				t.Errorf("replaying %s: no alert for %s (%v)", record, s, replayed)
			}
		}
		if uint64(len(evs)) != res.Summary.Events {
			t.Errorf("recorded %d events, summary counts %d", len(evs), res.Summary.Events)
		}
	})
}

// TestRunWatchEnforceComplain is `sysward run --mode M --watch`: the test
// binary re-exec'd as the launcher installs the profile's filter and execs
// the workload, which does something new.
func TestRunWatchEnforceComplain(t *testing.T) {
	requireWatch(t)
	dir := t.TempDir()
	prof := learn(t, busybox(normalPart))
	path := filepath.Join(dir, "learned.json")
	if err := profiles.SaveFile(path, prof); err != nil {
		t.Fatal(err)
	}
	rules := testRules(t)
	for _, tt := range []struct {
		mode     string
		rule     string
		priority string
		says     string
	}{
		{ModeEnforce, "Syscall outside profile denied", "Critical", "denied by seccomp"},
		{ModeComplain, "Syscall outside profile would be denied", "Warning", "would have been denied"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			argv := busybox(newPart(t, t.TempDir()))
			eff, err := EffectiveProfile(prof, argv, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			res, out := session(t, Config{Profile: eff, ProfileName: path, Rules: rules, Mode: tt.mode, Format: output.FormatJSON},
				Target{Launch: Launcher(prof, tt.mode, false, argv), WaitSeccomp: true, Name: "sample", Stderr: &stderr})
			t.Logf("workload stderr: %s", stderr.String())
			devs := detailed(out.alerts(t), tt.rule)
			seen := map[string]bool{}
			for _, a := range devs {
				seen[a.field("evt.type")] = true
				if a.Priority != tt.priority || !strings.Contains(a.Output, tt.says) || a.field("sysward.mode") != tt.mode {
					t.Errorf("alert %s %q", a.Priority, a.Output)
				}
				if tt.mode == ModeEnforce && a.field("sysward.errno") != "1" {
					t.Errorf("denied alert without errno 1 (EPERM): %v", a.OutputFields)
				}
			}
			if !seen["sync"] || !seen["mknodat"] {
				t.Errorf("alerts for %v, want sync and mknodat", seen)
			}
			for _, a := range out.alerts(t) {
				if strings.HasPrefix(a.Rule, "Syscall outside profile") && a.Rule != tt.rule {
					t.Errorf("unexpected %s alert under %s: %s", a.Rule, tt.mode, a.Output)
				}
			}
			if got := res.Summary.Syscalls(); !slices.Contains(got, "sync") {
				t.Errorf("summary deviations %v", got)
			}
			if tt.mode == ModeEnforce && !strings.Contains(stderr.String(), "mkfifo") {
				t.Errorf("mkfifo was not refused under enforce: %s", stderr.String())
			}
		})
	}
}

// allowAllBut is a watch-only profile: everything allowed but names.
func allowAllBut(names ...string) *profiles.Profile {
	p := profiles.New(profiles.ActAllow, profiles.NativeArch())
	e := uint(1)
	p.AddRule(profiles.ActErrno, &e, names...)
	return p
}

func nrs(t *testing.T, names ...string) string {
	var out []string
	for _, n := range names {
		nr, ok := profiles.SyscallNumber(profiles.NativeArch(), n)
		if !ok {
			t.Fatalf("no number for %s", n)
		}
		out = append(out, strconv.Itoa(nr))
	}
	return strings.Join(out, ",")
}

func storm(_ testing.TB, spec string) Target {
	return Target{Launch: func() (*exec.Cmd, error) {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"="+spec)
		return cmd, nil
	}, Name: "storm"}
}

// TestWatchStormDrops floods a one-page ring buffer: drops are counted (the
// kernel counter, the metric and an internal alert) and the deviation set
// from the kernel bitmap is still complete.
func TestWatchStormDrops(t *testing.T) {
	requireWatch(t)
	quiet := []string{"sync", "getpgrp", "getsid", "getpriority", "times"}
	prof := allowAllBut(append([]string{"getppid"}, quiet...)...)
	met := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scraped := make(chan string, 1)
	res, out := session(t, Config{Profile: prof, Rules: testRules(t), Mode: ModeWatch, Format: output.FormatJSON,
		RingBufferSize: os.Getpagesize(), Metrics: met, MetricsListener: ln,
		Ready: func(uint64) {
			go func() { // the endpoint serves while the session runs
				resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
				if err != nil {
					scraped <- err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				scraped <- string(body)
			}()
		}},
		storm(t, "storm:200000:"+nrs(t, quiet...)))
	if body := <-scraped; !strings.Contains(body, metrics.WorkloadsTracked+" 1") {
		t.Errorf("/metrics during the session lacks %s 1:\n%.500s", metrics.WorkloadsTracked, body)
	}
	s := res.Summary
	if res.ExitCode != 0 {
		t.Fatalf("storm exit %d", res.ExitCode)
	}
	if s.Drops == 0 {
		t.Fatalf("no drops counted with a %d-byte ring (%d events)", os.Getpagesize(), s.Events)
	}
	want := append([]string{"getppid"}, quiet...)
	sort.Strings(want)
	if got := s.Syscalls(); !slices.Equal(got, want) {
		t.Fatalf("deviation set %v, want %v (drops %d)", got, want, s.Drops)
	}
	if s.Calls != 200000+uint64(len(quiet)) {
		t.Errorf("kernel counted %d calls, workload made %d", s.Calls, 200000+len(quiet))
	}
	var dropAlerts int
	for _, a := range out.alerts(t) {
		if a.Rule == DropRule {
			dropAlerts++
		}
	}
	if dropAlerts == 0 {
		t.Errorf("no %q alert", DropRule)
	}
	mfs, err := met.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var metricDrops, metricDevs float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case metrics.KernelEventDropsTotal:
			metricDrops = mf.GetMetric()[0].GetCounter().GetValue()
		case metrics.DeviationsTotal:
			for _, m := range mf.GetMetric() {
				metricDevs += m.GetCounter().GetValue()
			}
		}
	}
	var devEvents uint64
	for _, d := range s.Deviations {
		devEvents += d.Events
	}
	if metricDevs != float64(devEvents) {
		t.Errorf("%s = %v, deviation events %d", metrics.DeviationsTotal, metricDevs, devEvents)
	}
	if metricDrops != float64(s.Drops) {
		t.Errorf("%s = %v, summary drops %d", metrics.KernelEventDropsTotal, metricDrops, s.Drops)
	}
	t.Logf("storm: %d events delivered, %d dropped, deviation set %v complete", s.Events, s.Drops, s.Syscalls())
}

// TestWatchAlertLatencyHTTP paces deviations and measures syscall → output
// latency (evt.time, stamped by the kernel, to arrival) on stdout and at an
// HTTP endpoint, which must receive Falco's JSON alert shape.
func TestWatchAlertLatencyHTTP(t *testing.T) {
	requireWatch(t)
	var mu sync.Mutex
	var posted []falcoAlert
	var badShape []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var raw map[string]json.RawMessage
		var a falcoAlert
		err1 := json.Unmarshal(body, &raw)
		err2 := json.Unmarshal(body, &a)
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || err1 != nil || err2 != nil ||
			strings.Join(keys, ",") != "hostname,output,output_fields,priority,rule,source,tags,time" {
			badShape = append(badShape, fmt.Sprintf("%s %s %q keys %v", r.Method, r.Header.Get("Content-Type"), body, keys))
		}
		a.arrived = now
		posted = append(posted, a)
	}))
	defer srv.Close()

	const n = 200
	prof := allowAllBut("getppid")
	res, out := session(t, Config{Profile: prof, Rules: testRules(t), Mode: ModeWatch, Format: output.FormatJSON,
		HTTPURL: srv.URL, DedupWindow: -1},
		storm(t, fmt.Sprintf("paced:%d:2ms", n)))
	if res.ExitCode != 0 {
		t.Fatalf("exit %d", res.ExitCode)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range badShape {
		t.Errorf("not Falco's alert shape: %s", b)
	}
	for name, as := range map[string][]falcoAlert{"stdout": out.alerts(t), "http": posted} {
		var lat []time.Duration
		for _, a := range as {
			if a.Rule != "Syscall outside profile" || a.field("evt.type") != "getppid" {
				t.Errorf("%s: unexpected alert %s %s", name, a.Rule, a.Output)
				continue
			}
			lat = append(lat, a.arrived.Sub(a.Time))
		}
		// Every call is counted by the kernel and arrives as an alert (no
		// dedup).
		if uint64(len(lat)) != n || res.Summary.Calls != n {
			t.Fatalf("%s: %d alerts, kernel counted %d calls, workload made %d", name, len(lat), res.Summary.Calls, n)
		}
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		t.Logf("alert latency syscall → %s over %d alerts: p50 %v, p99 %v, max %v", name, len(lat), p50, p99, lat[len(lat)-1])
		if p99 >= time.Second {
			t.Errorf("%s: p99 latency %v, want < 1s", name, p99)
		}
	}
	if p := posted[0]; p.Priority != "Warning" || p.Source != "syscall" || p.Hostname == "" || !slices.Contains(p.Tags, "sysward") ||
		p.field("evt.type") != "getppid" || p.field("sysward.workload") != "storm" {
		t.Errorf("posted alert %+v", p)
	}
}

var _ = unix.Getpid

// TestRunWatchKill: a profile whose action for sync is to kill the process;
// under run --watch the workload's sync dies of SIGSYS and the alert says so.
func TestRunWatchKill(t *testing.T) {
	requireWatch(t)
	prof := learn(t, busybox(normalPart))
	prof.AddRule(profiles.ActKillProcess, nil, "sync")
	argv := busybox(normalPart + "; sync; true")
	eff, err := EffectiveProfile(prof, argv, ModeEnforce)
	if err != nil {
		t.Fatal(err)
	}
	res, out := session(t, Config{Profile: eff, Rules: testRules(t), Mode: ModeEnforce, Format: output.FormatJSON},
		Target{Launch: Launcher(prof, ModeEnforce, false, argv), WaitSeccomp: true, Name: "sample"})
	killed := detailed(out.alerts(t), "Workload killed by seccomp")
	if len(killed) != 1 || killed[0].Priority != "Critical" || killed[0].field("sysward.workload") != "sample" {
		t.Fatalf("kill alerts %+v (all: %+v)", killed, out.alerts(t))
	}
	if killed[0].field("evt.arg.syscall") != "sync" || !strings.Contains(killed[0].Output, "syscall=sync") {
		t.Errorf("kill alert does not name the syscall: %s %v", killed[0].Output, killed[0].OutputFields)
	}
	if d := res.Summary.Deviations; len(d) != 1 || d[0].Syscall != "sync" || d[0].Killed != 1 {
		t.Errorf("summary deviations %+v", d)
	}
}

// TestWatchUndeliveredAlerts: an HTTP output that refuses connections loses
// the alert; the session still returns the command's status and no error,
// and the loss is in the log (stderr in the CLI), the summary and the
// metrics, each with the same count.
func TestWatchUndeliveredAlerts(t *testing.T) {
	requireWatch(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	ln.Close() // refused from now on
	met := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logBuf}, nil))
	res, _ := session(t, Config{Profile: allowAllBut("getppid"), Rules: testRules(t), Mode: ModeWatch, Format: output.FormatJSON,
		HTTPURL: url, DedupWindow: -1, Metrics: met, Logger: logger}, storm(t, "paced:1:1ms"))
	if res.ExitCode != 0 || res.DeliveryErr != nil {
		t.Fatalf("exit %d, delivery error %v; want the command's 0 and a retry loss, not a flush error", res.ExitCode, res.DeliveryErr)
	}
	s := res.Summary
	if !s.Undelivered() || s.OutputDrops != 1 || s.OutputErrors == 0 || res.OutputStats["http"].Dropped != 1 {
		t.Fatalf("summary drops %d errors %d, http stats %+v; want 1 alert lost", s.OutputDrops, s.OutputErrors, res.OutputStats["http"])
	}
	mfs, err := met.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == metrics.LabelOutput && l.GetValue() == "http" {
					got[mf.GetName()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if got[metrics.OutputDropsTotal] != 1 || got[metrics.OutputErrorsTotal] != float64(s.OutputErrors) {
		t.Errorf("metrics %v; want %s 1 and %s %d", got, metrics.OutputDropsTotal, metrics.OutputErrorsTotal, s.OutputErrors)
	}
	if !strings.Contains(logBuf.String(), "connection refused") {
		t.Errorf("log lacks the delivery error: %q", logBuf.String())
	}
}

// syncWriter serializes writes from the outputs' goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
