package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

// TestLearnComplainAbsorbPromoteEnforce is the documented path end to end,
// with the real profiler, watcher and seccomp filters: learn a workload,
// run it in complain mode while it does something new (recorded), promote
// refuses (the calls are not in the profile), absorb them, promote still
// refuses (the window has not passed), a second complain run with nothing
// new lets promote accept, and the absorbed profile enforces the new work.
func TestLearnComplainAbsorbPromoteEnforce(t *testing.T) {
	requireLearn(t)
	dir := t.TempDir()
	learned := filepath.Join(dir, "learned.json")
	absorbed := filepath.Join(dir, "absorbed.json")
	rec1, rec2 := filepath.Join(dir, "day1.jsonl"), filepath.Join(dir, "day2.jsonl")
	fifo := filepath.Join(dir, "fifo")
	normal := "cat /etc/hostname >/dev/null"
	// New for the profile: sync, mkfifo (mknodat), rm (unlink), a child (clone, wait4).
	newWork := normal + "; sync; mkfifo " + fifo + "; rm " + fifo + "; echo done"

	if _, stderr, code := sysward(t, "learn", "-q", "-o", learned, "--", "busybox", "sh", "-c", normal); code != 0 {
		t.Fatalf("learn: exit %d: %s", code, stderr)
	}
	stdout, stderr, code := sysward(t, "run", "--profile", learned, "--mode", "complain", "--watch", "--record", rec1, "--name", "e2e", "--",
		"busybox", "sh", "-c", newWork)
	if code != 0 || !strings.Contains(stdout, "done") {
		t.Fatalf("complain run: exit %d\n%s\n%s", code, stdout, stderr)
	}

	stdout, _, code = sysward(t, "profile", "promote", "--window", "1s", learned, rec1)
	if code != 1 || !strings.Contains(stdout, "not ready") || !strings.Contains(stdout, "mknodat") {
		t.Fatalf("promote of the learned profile: exit %d, want 1 naming mknodat:\n%s", code, stdout)
	}

	_, stderr, code = sysward(t, "profile", "absorb", "-o", absorbed, learned, rec1)
	if code != 0 {
		t.Fatalf("absorb: exit %d: %s", code, stderr)
	}
	p, err := inputfile.Profile(absorbed)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []string{"mknodat", "unlink", "sync"} {
		if src := p.Sysward.Stats[sc].Sources; !reflect.DeepEqual(src, []string{profiles.SourceComplain}) {
			t.Errorf("%s sources %v, want complain (absorb said: %s)", sc, src, stderr)
		}
	}
	if prov := p.Sysward.Provenance; prov[len(prov)-1].Target != "complain" {
		t.Errorf("provenance %+v, want a complain entry last", prov)
	}

	// Everything is absorbed, but the record watched only a moment after
	// the last new call.
	stdout, _, code = sysward(t, "profile", "promote", "--window", "1h", absorbed, rec1)
	if code != 1 || !strings.Contains(stdout, "the last new syscall") {
		t.Fatalf("promote right after absorbing: exit %d, want 1 (window):\n%s", code, stdout)
	}

	// A second complain run under the absorbed profile, lasting over a
	// second, with nothing new.
	stdout, stderr, code = sysward(t, "run", "--profile", absorbed, "--mode", "complain", "--watch", "--record", rec2, "--name", "e2e", "--",
		"busybox", "sh", "-c", newWork+"; sleep 1")
	if code != 0 || !strings.Contains(stdout, "done") {
		t.Fatalf("second complain run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, code = sysward(t, "profile", "promote", "--window", "1s", absorbed, rec1, rec2)
	if code != 0 || !strings.HasPrefix(stdout, absorbed+": ready") {
		t.Fatalf("promote after a quiet second run: exit %d, want 0:\n%s", code, stdout)
	}

	// Enforce: the new work runs under the absorbed profile.
	stdout, stderr, code = sysward(t, "run", "--profile", absorbed, "--", "busybox", "sh", "-c", newWork)
	if code != 0 || !strings.Contains(stdout, "done") || strings.Contains(stderr, "not permitted") {
		t.Fatalf("enforced run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// And the learned one refuses it.
	_, stderr, code = sysward(t, "run", "--profile", learned, "--", "busybox", "sh", "-c", newWork)
	if code == 0 {
		t.Errorf("the learned profile ran the new work: %s", stderr)
	}
}

func TestPromoteAbsorbBadInput(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.jsonl")
	mustWrite(t, rec, "# sysward record started 2026-12-01T10:00:00Z\n{\"type\":\"frob\",\"time\":\"2026-12-01T10:00:01Z\"}\n")
	good := filepath.Join(dir, "good.jsonl")
	mustWrite(t, good, "# sysward record started 2026-12-01T10:00:00Z\n# sysward record ended 2026-12-01T11:00:00Z\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"promote without window", []string{"promote", lsProfile, good}, "--window"},
		{"promote zero window", []string{"promote", "--window", "0s", lsProfile, good}, "--window"},
		{"promote no record", []string{"promote", "--window", "1h", lsProfile}, "RECORD"},
		{"promote bad record", []string{"promote", "--window", "1h", lsProfile, rec}, "r.jsonl:2"},
		{"promote missing record", []string{"promote", "--window", "1h", lsProfile, filepath.Join(dir, "nope.jsonl")}, "nope.jsonl"},
		{"absorb bad record", []string{"absorb", lsProfile, rec}, "r.jsonl:2"},
		{"absorb bad generalize", []string{"absorb", "--generalize", "x", lsProfile, good}, "--generalize"},
		{"absorb bad profile", []string{"absorb", rec, good}, "r.jsonl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := sysward(t, append([]string{"profile"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want 2 naming %q:\n%s%s", code, tc.want, stdout, stderr)
			}
		})
	}
	// A quiet hour-long record is evidence enough for a 30m window.
	stdout, _, code := sysward(t, "profile", "promote", "--window", "30m", lsProfile, good)
	if code != 0 || !strings.Contains(stdout, "ready: no new syscall for 1h0m0s") {
		t.Errorf("promote: exit %d: %s", code, stdout)
	}
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateAfterComplain: `run --watch --update OUT` and `watch --update
// OUT` write the profile plus the session's deviations (source complain),
// keep the command's exit status, leave no temporary record, and the
// updated profile enforces the new work.
func TestUpdateAfterComplain(t *testing.T) {
	requireLearn(t)
	dir := t.TempDir()
	learned := filepath.Join(dir, "learned.json")
	fifo := filepath.Join(dir, "fifo")
	newWork := "cat /etc/hostname >/dev/null; mkfifo " + fifo + "; rm " + fifo + "; echo done"
	if _, stderr, code := sysward(t, "learn", "-q", "-o", learned, "--", "busybox", "sh", "-c", "cat /etc/hostname >/dev/null"); code != 0 {
		t.Fatalf("learn: exit %d: %s", code, stderr)
	}
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "sysward-update-*"))
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"run", []string{"run", "--profile", learned, "--mode", "complain", "--watch"}},
		{"watch", []string{"watch", "--profile", learned}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upd := filepath.Join(dir, tc.name+".json")
			args := append(append([]string{}, tc.args...), "--update", upd, "--name", "upd-"+tc.name, "--", "busybox", "sh", "-c", newWork+"; exit 3")
			stdout, stderr, code := sysward(t, args...)
			if code != 3 || !strings.Contains(stdout, "done") || !strings.Contains(stderr, "--update: "+upd+" written") {
				t.Fatalf("%s --update: exit %d, want the command's 3\n%s\n%s", tc.name, code, stdout, stderr)
			}
			p, err := inputfile.Profile(upd)
			if err != nil {
				t.Fatal(err)
			}
			if src := p.Sysward.Stats["mknodat"].Sources; !reflect.DeepEqual(src, []string{profiles.SourceComplain}) {
				t.Errorf("mknodat sources %v, want complain", src)
			}
			stdout, stderr, code = sysward(t, "run", "--profile", upd, "--", "busybox", "sh", "-c", newWork)
			if code != 0 || !strings.Contains(stdout, "done") {
				t.Errorf("enforced run under the update: exit %d\n%s\n%s", code, stdout, stderr)
			}
		})
	}
	if after, _ := filepath.Glob(filepath.Join(os.TempDir(), "sysward-update-*")); len(after) > len(before) {
		t.Errorf("temporary records left: %v", after)
	}
	if _, stderr, code := sysward(t, "watch", "--all-containers", "--update", filepath.Join(dir, "x.json")); code != 2 || !strings.Contains(stderr, "--update") {
		t.Errorf("watch --all-containers --update: exit %d: %s", code, stderr)
	}
}
