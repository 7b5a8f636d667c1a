package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

const samples = "../../examples/profiles/"

// profileCLI runs `sysward profile ARGS...` in process with captured output
// and returns the exit status main would return.
func profileCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLI(t, append([]string{"profile"}, args...)...)
}

func TestProfileCLIExitCodes(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [}"), 0o644)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"show", []string{"show", samples + "redis.json"}, 0, []string{"default action: SCMP_ACT_ERRNO(1)", "allowed on SCMP_ARCH_X86_64: 58 syscalls", "learned from command"}, nil},
		{"show json", []string{"show", "--format", "json", samples + "busybox-sh.json"}, 0, []string{`"allowed": {`, `"SCMP_ARCH_X86_64": 37`}, nil},
		{"lint clean", []string{"lint", samples + "busybox-sh.json"}, 0, []string{"allowed on SCMP_ARCH_X86_64: 37 syscalls", "vs Docker default on SCMP_ARCH_X86_64: this profile allows 37, Docker's allows 301; 0 allowed here that Docker blocks"}, nil},
		{"lint docker default", []string{"lint", samples + "docker-default.json"}, 1, []string{"allowed on SCMP_ARCH_X86_64: 301 syscalls", "dangerous-syscall", "ptrace allowed by syscalls[0]"}, []string{"findings at or above high"}},
		{"lint docker default, fail-on never", []string{"lint", "--fail-on", "never", samples + "docker-default.json"}, 0, []string{"findings: 2 high"}, nil},
		{"lint risky", []string{"lint", samples + "risky.json"}, 1, []string{"8 allowed here that Docker blocks: bpf keyctl mount open_by_handle_at setns umount2 unshare userfaultfd", "high   dangerous-syscall [syscalls[0]]: unshare"}, nil},
		{"lint typo", []string{"lint", samples + "busybox-sh.json", samples + "bad-typo.json"}, 2, nil,
			[]string{`bad-typo.json:10:27: syscalls[1].names[1]: unknown syscall "getpdi" (not a syscall on SCMP_ARCH_X86_64; did you mean "getpid"?)`}},
		{"lint conflict", []string{"lint", samples + "bad-conflict.json"}, 2, nil, []string{`bad-conflict.json:6:16: syscalls[1].names[0]: conflicting entries "ptrace"`}},
		{"lint malformed", []string{"lint", garbage}, 2, nil, []string{"garbage.json:2:16: malformed JSON"}},
		{"lint missing file", []string{"lint", filepath.Join(dir, "nope.json")}, 2, nil, []string{"nope.json: no such file"}},
		{"lint bad fail-on", []string{"lint", "--fail-on", "severe", samples + "busybox-sh.json"}, 2, nil, []string{`--fail-on "severe"`}},
		{"lint no args", []string{"lint"}, 2, nil, []string{"at least one profile FILE"}},
		{"show bad format", []string{"show", "--format", "xml", samples + "redis.json"}, 2, nil, []string{`--format "xml"`}},
		{"show bad profile", []string{"show", samples + "bad-typo.json"}, 2, nil, []string{"getpdi"}},
		{"diff", []string{"diff", samples + "busybox-sh.json", samples + "busybox-httpd.json"}, 0, []string{"SCMP_ARCH_X86_64: 13 added, 2 removed, 0 changed", "+ socket: SCMP_ACT_ALLOW", "- getppid"}, nil},
		{"diff exit-code", []string{"diff", "--exit-code", samples + "busybox-sh.json", samples + "busybox-httpd.json"}, 1, nil, nil},
		{"diff same", []string{"diff", "--exit-code", samples + "redis.json", samples + "redis.json"}, 0, []string{"no differences"}, nil},
		{"diff one arg", []string{"diff", samples + "redis.json"}, 2, nil, []string{"OLD and NEW"}},
		{"diff bad", []string{"diff", samples + "redis.json", samples + "bad-conflict.json"}, 2, nil, []string{"conflicting entries"}},
		{"merge incompatible", []string{"merge", samples + "redis.json", samples + "allow-by-default.json"}, 2, nil, []string{"incompatible profiles"}},
		{"export bad format", []string{"export", "--format", "bpf", samples + "redis.json"}, 2, nil, []string{`--format "bpf"`}},
		{"export bad arch", []string{"export", "--docker-default", "--arch", "sparc"}, 2, nil, []string{`--arch "sparc"`}},
		{"export bad profile", []string{"export", "--format", "spo", samples + "bad-typo.json"}, 2, nil, []string{"getpdi"}},
		{"explain", []string{"explain", samples + "redis.json", "clone3", "ptrace"}, 0, []string{"clone3 (nr 435 on SCMP_ARCH_X86_64) is allowed: SCMP_ACT_ALLOW by syscalls[0]", "ptrace (nr 101 on SCMP_ARCH_X86_64) is denied: SCMP_ACT_ERRNO(1) by the default action", "learned: first seen 2026-11-25"}, nil},
		{"explain unknown syscall", []string{"explain", samples + "redis.json", "getpdi"}, 2, nil, []string{`"getpdi" is not a syscall on SCMP_ARCH_X86_64`}},
		{"unknown subcommand", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := profileCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if tt.code == 2 && out != "" {
				t.Errorf("bad input still wrote output: %s", out)
			}
		})
	}
}

func TestProfileCLIMergeAndExportFiles(t *testing.T) {
	dir := t.TempDir()
	merged := filepath.Join(dir, "merged.json")
	code, out, errs := profileCLI(t, "merge", "-o", merged, samples+"busybox-sh.json", samples+"busybox-httpd.json")
	if code != 0 || out != "" {
		t.Fatalf("merge: %d %q %q", code, out, errs)
	}
	m, err := inputfile.Profile(merged)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Sysward.Provenance) != 2 || len(m.AllowedSyscalls(profiles.ArchX86_64)) != 50 {
		t.Errorf("merged: %d provenance, %d allowed", len(m.Sysward.Provenance), len(m.AllowedSyscalls(profiles.ArchX86_64)))
	}
	// stdout when no -o; byte-identical to the file.
	_, out, _ = profileCLI(t, "merge", samples+"busybox-sh.json", samples+"busybox-httpd.json")
	if b, _ := os.ReadFile(merged); out != string(b) {
		t.Error("merge to stdout differs from -o")
	}
	for _, format := range []string{"oci", "spo", "pod-patch", "falco"} {
		path := filepath.Join(dir, "out-"+format)
		code, out, errs := profileCLI(t, "export", "--format", format, "--name", "web", "-o", path, samples+"busybox-httpd.json")
		if code != 0 || out != "" {
			t.Fatalf("export %s: %d %q %q", format, code, out, errs)
		}
		b, _ := os.ReadFile(path)
		if len(b) == 0 {
			t.Errorf("export %s wrote nothing", format)
		}
	}
	code, out, _ = profileCLI(t, "export", "--format", "oci", "--strip-sysward", samples+"redis.json")
	var raw map[string]json.RawMessage
	if code != 0 || json.Unmarshal([]byte(out), &raw) != nil || raw["sysward"] != nil {
		t.Errorf("strip-sysward: %d %s", code, out)
	}
	// --docker-default reproduces the shipped export.
	code, out, errs = profileCLI(t, "export", "--docker-default", "--arch", "x86_64")
	want, _ := os.ReadFile(samples + "docker-default.json")
	if code != 0 || out != string(want) || !strings.Contains(errs, "dropped") {
		t.Errorf("docker default export: %d, same=%v, stderr %q", code, out == string(want), errs)
	}
}

// TestProfileCLIHelp: every profile subcommand has --help with an Example.
func TestProfileCLIHelp(t *testing.T) {
	for _, sub := range profileCommand().Subcommands {
		code, out, _ := profileCLI(t, sub.Name, "--help")
		if code != 0 || !strings.Contains(out, "Example") {
			t.Errorf("%s --help: exit %d, no Example:\n%s", sub.Name, code, out)
		}
	}
}

// TestProfileFalcoExportRunsInDetector: the exported Falco snippet loads in
// sysward's own rules engine and fires exactly on a syscall outside the
// profile made by the selected workload.
func TestProfileFalcoExportRunsInDetector(t *testing.T) {
	code, out, errs := profileCLI(t, "export", "--format", "falco", "--name", "web", samples+"busybox-httpd.json")
	if code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	rs, err := detector.LoadRulesFiles(detector.RulesFile{Name: "web.yaml", Data: []byte(out)})
	if err != nil {
		t.Fatalf("detector rejects the exported snippet: %v\n%s", err, out)
	}
	var alerts []*detector.Alert
	eng, err := detector.NewEngine(rs, &detector.EngineOptions{Hostname: "test", Sink: detector.AlertFunc(func(a *detector.Alert) { alerts = append(alerts, a) })})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		workload, syscall string
		fires             bool
	}{
		{"web", "accept", false}, // in the profile
		{"web", "ptrace", true},  // outside it
		{"web", "mount", true},   // outside it
		{"db", "ptrace", false},  // another workload
		{"web", "socket", false}, // in the profile
	}
	for _, tt := range tests {
		ev := &detector.Event{Type: tt.syscall, Workload: tt.workload, Time: time.Unix(1764000000, 0)}
		ev.Normalize()
		if got := eng.Process(ev) > 0; got != tt.fires {
			t.Errorf("%s in %s: fired %v, want %v", tt.syscall, tt.workload, got, tt.fires)
		}
	}
	if len(alerts) != 2 || alerts[0].Rule != profiles.FalcoRuleName("web") {
		t.Errorf("alerts: %+v", alerts)
	}
}
