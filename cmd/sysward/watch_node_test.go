package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

func TestWatchAllContainersUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "outputs.yaml")
	if err := os.WriteFile(bad, []byte("stdout:\n  format: json\nhttp:\n  url: 42\n  timeout: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"profile with all-containers", []string{"watch", "--all-containers", "--profile", "x.json"}, "takes no command"},
		{"command with all-containers", []string{"watch", "--all-containers", "--", "true"}, "takes no command"},
		{"container-root alone", []string{"watch", "--container-root", dir, "--profile", "x.json", "--", "true"}, "--container-root needs --all-containers"},
		{"missing profiles dir", []string{"watch", "--all-containers", "--profiles-dir", filepath.Join(dir, "nope")}, "not a directory"},
		{"install-from alone", []string{"watch", "--install-from", dir, "--profile", "x.json", "--", "true"}, "--install-from needs --all-containers"},
		{"missing install-from dir", []string{"watch", "--all-containers", "--profiles-dir", dir, "--install-from", filepath.Join(dir, "nope")}, "--install-from " + filepath.Join(dir, "nope") + ": not a directory"},
		{"bad max", []string{"watch", "--all-containers", "--profiles-dir", dir, "--max-containers", "0"}, "must be positive"},
		{"store alone", []string{"watch", "--store", "--profile", "x.json", "--", "true"}, "--store needs --all-containers"},
		{"store-interval without store", []string{"watch", "--all-containers", "--profiles-dir", dir, "--store-interval", "2s"}, "--store-interval needs --store"},
		{"store-interval too short", []string{"watch", "--all-containers", "--profiles-dir", dir, "--store", "--store-interval", "10ms"}, "--store-interval 10ms: want at least 1s"},
		{"bad outputs file", []string{"watch", "--all-containers", "--profiles-dir", dir, "--outputs", bad}, bad + ":5:12: duration"},
		{"outputs with http-url", []string{"watch", "--all-containers", "--profiles-dir", dir, "--outputs", bad, "--http-url", "http://x/"}, "--http-url and --outputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while the CLI writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// TestWatchAllContainersCLI runs `sysward watch --all-containers` with an
// outputs file (alerts to a JSONL file) over a private runc root: a container
// started from a profile installed into --profiles-dir makes a call outside
// it, and the file gets one denied alert naming the container and profile.
func TestWatchAllContainersCLI(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2, testutil.Runc)
	dir := t.TempDir()
	root, profDir := filepath.Join(dir, "runc"), filepath.Join(dir, "seccomp")
	p := profiles.New(profiles.ActAllow, profiles.NativeArch())
	e := uint(1)
	p.AddRule(profiles.ActErrno, &e, "sync")
	inst, err := enforcer.Install(p, enforcer.InstallOptions{Root: profDir, Namespace: "shop", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	oci, err := enforcer.OCISeccomp(p)
	if err != nil {
		t.Fatal(err)
	}
	bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; sync; sleep 120"},
		func(s *specs.Spec) { s.Linux.Seccomp = oci })
	id := testutil.ContainerID(t)
	run := exec.Command("runc", "--root", root, "run", "--bundle", bundle, id)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("runc", "--root", root, "kill", id, "KILL").Run()
		_ = run.Wait()
		_ = exec.Command("runc", "--root", root, "delete", "--force", id).Run()
	})
	alerts := filepath.Join(dir, "alerts.jsonl")
	outputs := filepath.Join(dir, "outputs.yaml")
	record := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(outputs, []byte("dedup: {window: 0s}\nfile:\n  path: "+alerts+"\n  format: json\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	app := newApp()
	var stdout, stderr syncBuffer
	app.Writer, app.ErrWriter = &stdout, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		err := app.RunContext(ctx, []string{"sysward", "watch", "--all-containers", "--profiles-dir", profDir,
			"--container-root", root, "--outputs", outputs, "--record", record})
		done <- exitCode(err, &stderr)
	}()
	wait := func(d time.Duration, cond func() bool) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if cond() {
				return true
			}
		}
		return false
	}
	if !wait(15*time.Second, func() bool {
		return strings.Contains(stderr.String(), "tracking container") && strings.Contains(stderr.String(), id)
	}) {
		cancel()
		t.Fatalf("container never tracked; stderr:\n%s", stderr.String())
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "tmp", "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wait(5*time.Second, func() bool {
		b, _ := os.ReadFile(alerts)
		return bytes.Contains(b, []byte("Syscall outside profile denied"))
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	raw, err := os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var a struct {
			Rule         string         `json:"rule"`
			OutputFields map[string]any `json:"output_fields"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alert line %q: %v", line, err)
		}
		if a.Rule != "Syscall outside profile denied" {
			continue
		}
		n++
		if a.OutputFields["sysward.workload"] != id || a.OutputFields["sysward.profile"] != inst.Path || a.OutputFields["evt.type"] != "sync" {
			t.Errorf("alert fields %v", a.OutputFields)
		}
	}
	if n != 1 {
		t.Errorf("%d denied alerts in %s, want 1:\n%s", n, alerts, raw)
	}

	// The record replays through the built-in rules without the repository.
	code, out, errs := runCLI(t, "rules", "test", "--builtin", "--format", "json", "--events", record)
	if code != 0 || strings.Count(out, `"rule":"Syscall outside profile denied"`) != 1 || !strings.Contains(out, inst.Path) {
		t.Errorf("rules test --builtin: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "rules", "test", "--events", record); code != 2 || !strings.Contains(errs, "no rules files") {
		t.Errorf("rules test without files or --builtin: exit %d, %s", code, errs)
	}
}
