package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/testutil"
)

const sampleNormal = "cat /etc/hostname >/dev/null; ls / >/dev/null"

func TestWatchCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	badRules := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badRules, []byte("- rule: x\n  condition: evt.type = (\n  output: o\n  priority: WARNING\n  desc: d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	typoRules := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typoRules, []byte("- rule: r\n  desc: d\n  condition: evt.type = execve and proc.nmae = sh\n  output: o\n  priority: INFO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"no target", []string{"watch", "--profile", lsProfile}, "exactly one of"},
		{"unknown field in rules", []string{"watch", "--profile", lsProfile, "--rules", typoRules, "--", "true"}, "typo.yaml:3:36: rule r: 1:23: unknown field \"proc.nmae\""},
		{"two targets", []string{"watch", "--profile", lsProfile, "--cgroup", "/", "--", "true"}, "exactly one of"},
		{"no profile", []string{"watch", "--", "true"}, "profile"},
		{"missing profile", []string{"watch", "--profile", filepath.Join(dir, "nope.json"), "--", "true"}, "nope.json"},
		{"bad format", []string{"watch", "--profile", lsProfile, "--format", "xml", "--", "true"}, "--format"},
		{"bad mode", []string{"watch", "--profile", lsProfile, "--mode", "strict", "--", "true"}, "--mode"},
		{"bad priority", []string{"watch", "--profile", lsProfile, "--min-priority", "loud", "--", "true"}, "--min-priority"},
		{"unknown command", []string{"watch", "--profile", lsProfile, "--", "no-such-command-sysward"}, "no-such-command-sysward"},
		{"bad rules file", []string{"watch", "--profile", lsProfile, "--rules", badRules, "--", "true"}, "bad.yaml:2"},
		{"no default rules, no rules", []string{"watch", "--profile", lsProfile, "--no-default-rules", "--", "true"}, "--rules"},
		{"no-stdout without http", []string{"watch", "--profile", lsProfile, "--no-stdout", "--", "true"}, "--http-url"},
		{"unknown container", []string{"watch", "--profile", lsProfile, "--container", "sysward-no-such-container"}, "sysward-no-such-container"},
		{"container runtime", []string{"watch", "--profile", lsProfile, "--", "runc", "run", "--bundle", "/nonexistent", "sw-never-started"},
			"runc run: the command starts a container in a cgroup of its own, so sysward would watch runc's own set-up calls, not the container's. Create the container, watch it, then start it:\n" +
				"  runc create --bundle /nonexistent sw-never-started\n  sysward watch --profile FILE --container sw-never-started &\n  runc start sw-never-started\n"},
		{"run --watch bad format", []string{"run", "--profile", lsProfile, "--watch", "--format", "xml", "--", "ls"}, "--format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := sysward(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.says) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.says)
			}
		})
	}
}

func TestWatchCLIHelp(t *testing.T) {
	for _, cmd := range []string{"watch", "run"} {
		out, _, code := sysward(t, cmd, "--help")
		if code != 0 || !strings.Contains(out, "Example:") || !strings.Contains(out, "--rules") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
	}
}

// TestWatchCLI is the loop as a user runs it: learn, watch a normal run
// (nothing), watch new behaviour (alerts as Falco JSON lines, the command's
// exit status, a summary, a record that `rules test` replays), then
// `run --watch` in enforce mode.
func TestWatchCLI(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2, testutil.File(testutil.BusyboxPath))
	dir := t.TempDir()
	prof := filepath.Join(dir, "sample.json")
	if _, stderr, code := sysward(t, "learn", "-q", "-o", prof, "--", "busybox", "sh", "-c", sampleNormal); code != 0 {
		t.Fatalf("learn: exit %d: %s", code, stderr)
	}

	stdout, stderr, code := sysward(t, "watch", "--profile", prof, "--format", "json", "--", "busybox", "sh", "-c", sampleNormal+"; exit 7")
	if code != 7 || strings.TrimSpace(stdout) != "" || !strings.Contains(stderr, `"deviations":[]`) {
		t.Fatalf("normal run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	record := filepath.Join(dir, "events.jsonl")
	newRun := sampleNormal + "; sync; mkfifo " + dir + "/fifo"
	stdout, stderr, code = sysward(t, "watch", "--profile", prof, "--format", "json", "--record", record, "--name", "sample", "--",
		"busybox", "sh", "-c", newRun)
	if code != 0 {
		t.Fatalf("new run: exit %d: %s", code, stderr)
	}
	var rules []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var a struct {
			Rule         string         `json:"rule"`
			Priority     string         `json:"priority"`
			OutputFields map[string]any `json:"output_fields"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alert line %q: %v", line, err)
		}
		rules = append(rules, a.Rule+":"+a.OutputFields["evt.type"].(string))
		if a.OutputFields["sysward.workload"] != "sample" {
			t.Errorf("workload field %v", a.OutputFields["sysward.workload"])
		}
	}
	got := strings.Join(rules, " ")
	for _, want := range []string{"Syscall outside profile:sync", "Syscall outside profile:mknodat"} {
		if !strings.Contains(got, want) {
			t.Errorf("alerts %q lack %q", got, want)
		}
	}
	if len(rules) != 2 {
		t.Errorf("alerts %q, want exactly two", got)
	}
	if !strings.Contains(stderr, `"deviations":[{"syscall":"mknodat"`) {
		t.Errorf("summary: %s", stderr)
	}
	replay, stderr, code := sysward(t, "rules", "test", "--events", record, "../../internal/watch/rules/sysward_rules.yaml")
	if code != 0 || !strings.Contains(replay, "syscall=sync") || !strings.Contains(replay, "syscall=mknodat") {
		t.Errorf("rules test --events %s: exit %d\n%s\n%s", record, code, replay, stderr)
	}

	stdout, stderr, code = sysward(t, "run", "--profile", prof, "--watch", "--", "busybox", "sh", "-c", newRun+"2")
	if code == 0 || !strings.Contains(stdout, "Critical Syscall outside profile denied by seccomp (syscall=sync errno=1") ||
		!strings.Contains(stderr, "Operation not permitted") {
		t.Errorf("run --watch: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// TestRunWatchUndeliveredAlerts: an alert output that cannot be reached
// does not replace the command's exit status; the lost alerts are reported
// on stderr (the output's error and the summary), and only
// --fail-on-undelivered turns them into exit status 1.
func TestRunWatchUndeliveredAlerts(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2, testutil.Binary("ls"))
	prof := profileWithout(t, "getdents64")
	// A black hole: the kernel completes the handshake (backlog), nobody
	// ever answers, so the alerts are still queued at the flush deadline.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	// A refused port: every attempt fails at once, the retries run out.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		url   string
		extra []string
		want  int
		says  string
	}{
		{"black hole", "http://" + hole.Addr().String() + "/", nil, 0, "alerts left undelivered at the close deadline"},
		{"refused", "http://" + refused + "/", nil, 0, "connection refused"},
		{"refused, --fail-on-undelivered", "http://" + refused + "/", []string{"--fail-on-undelivered"}, 1, "--fail-on-undelivered: 2 alert(s) not delivered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--profile", prof, "--mode", "complain", "--watch", "--http-url", tc.url}, tc.extra...)
			stdout, stderr, code := sysward(t, append(args, "--", "ls", dir)...)
			if code != tc.want || !strings.Contains(stderr, "ALERTS NOT DELIVERED: 2 dropped by the outputs") || !strings.Contains(stderr, tc.says) {
				t.Fatalf("exit %d (want %d), stderr lacks the undelivered alert or %q:\n%s", code, tc.want, tc.says, stderr)
			}
			if !strings.Contains(stdout, "syscall=getdents64") {
				t.Errorf("stdout lost the alert: %q", stdout)
			}
		})
	}
}
