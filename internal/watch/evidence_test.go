package watch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/inputfile"
)

func writeRecord(t testing.TB, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRecorderMarks: a record the watcher writes starts and ends with the
// marks ReadEvidence takes its span from, and still replays (the marks are
// comments).
func TestRecorderMarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	before := time.Now()
	r, err := newRecorder(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Write(&detector.Event{Type: "writev", Time: time.Now(), Mode: ModeComplain})
	r.Write(&detector.Event{Type: "execve", Time: time.Now(), InProfile: true})
	time.Sleep(10 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], markStarted) || !strings.HasPrefix(lines[3], markEnded) {
		t.Fatalf("record:\n%s", data)
	}
	evs, err := detector.DecodeEvents(path, data)
	if err != nil || len(evs) != 2 {
		t.Fatalf("replay: %d events, %v", len(evs), err)
	}
	ev, err := ReadEvidence(path)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Started.Before(before) || ev.Ended.After(after) || ev.Ended.Sub(ev.Started) < 10*time.Millisecond {
		t.Errorf("span %s – %s, want within %s – %s", ev.Started, ev.Ended, before, after)
	}
	if len(ev.Seen) != 1 || ev.Seen[0].Syscall != "writev" || ev.Seen[0].Where != path+":2" {
		t.Errorf("seen %+v", ev.Seen)
	}
}

func TestReadEvidence(t *testing.T) {
	path := writeRecord(t,
		"# sysward record started 2026-12-01T10:00:00Z",
		`{"type":"execve","time":"2026-12-01T10:00:01Z","in_profile":true,"args":[{"name":"filename","value":"/bin/app"}]}`,
		`{"type":"writev","time":"2026-12-01T10:00:05Z","mode":"complain","action":"log"}`,
		``,
		`# a comment`,
		`{"type":"writev","time":"2026-12-01T10:00:03Z","mode":"complain"}`,
		`{"type":"unlink","time":"2026-12-01T10:00:09Z","denied":true,"action":"errno","errno":1}`,
		`{"type":"procexit","time":"2026-12-01T10:00:10Z","denied":true,"args":[{"name":"status","value":"159"},{"name":"sig","value":"SIGSYS"},{"name":"syscall","value":"mknodat"}]}`,
		`{"type":"procexit","time":"2026-12-01T10:00:11Z","args":[{"name":"status","value":"0"}]}`,
		`{"source":"k8s_audit","time":"2026-12-01T10:00:12Z","audit":{"verb":"create"}}`,
		"# sysward record ended 2026-12-01T11:00:00Z",
	)
	ev, err := ReadEvidence(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC); !ev.Started.Equal(want) || !ev.Ended.Equal(want.Add(time.Hour)) {
		t.Errorf("span %s – %s", ev.Started, ev.Ended)
	}
	var got []string
	for _, o := range ev.Seen {
		got = append(got, o.Syscall+"@"+o.Where[len(path):]+"x"+string(rune('0'+o.Count)))
		if o.Syscall == "writev" && o.First.Second() != 3 {
			t.Errorf("writev first %s, want the earliest (10:00:03)", o.First)
		}
		if (o.Syscall == "unlink" || o.Syscall == "mknodat") != o.Denied {
			t.Errorf("%s denied %v", o.Syscall, o.Denied)
		}
	}
	if strings.Join(got, " ") != "mknodat@:8x1 unlink@:7x1 writev@:6x2" {
		t.Errorf("seen %v", got)
	}

	// Without marks the span is the events'.
	ev, err = ReadEvidence(writeRecord(t,
		`{"type":"writev","time":"2026-12-01T10:00:05Z"}`,
		`{"type":"fsync","time":"2026-12-01T10:07:05Z"}`))
	if err != nil || ev.Ended.Sub(ev.Started) != 7*time.Minute {
		t.Errorf("unmarked: %+v %v", ev, err)
	}
}

func TestReadEvidenceBadInput(t *testing.T) {
	long := `{"type":"writev","time":"2026-12-01T10:00:05Z","proc":{"args":"` + strings.Repeat("a", MaxRecordLine) + `"}}`
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"unknown syscall", []string{`{"type":"frobnicate","time":"2026-12-01T10:00:05Z"}`}, `rec.jsonl:1: "frobnicate" is not a syscall`},
		{"unknown key", []string{"# sysward record started 2026-12-01T10:00:00Z", `{"type":"read","tme":"x"}`}, `rec.jsonl:2: decoding event`},
		{"no time", []string{`{"type":"read"}`}, `rec.jsonl:1: event for read has no "time"`},
		{"bad mark", []string{"# sysward record started yesterday"}, `rec.jsonl:1: bad time in the record's mark`},
		{"no span", []string{`{"type":"execve","in_profile":true}`}, `how long the workload was watched is unknown`},
		{"reversed", []string{"# sysward record started 2026-12-01T11:00:00Z", "# sysward record ended 2026-12-01T10:00:00Z"}, "ends"},
		{"line too long", []string{"# sysward record started 2026-12-01T10:00:00Z", long}, "rec.jsonl:2: line longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadEvidence(writeRecord(t, tc.lines...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// A FIFO with no writer would block an open without O_NONBLOCK.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadEvidence(fifo); !errors.Is(err, inputfile.ErrNotRegular) || !strings.Contains(err.Error(), fifo+": not a regular file (FIFO)") {
		t.Errorf("fifo: %v, want inputfile.ErrNotRegular naming the path and the kind", err)
	}
	// A device is refused before it is opened (opening some has effects).
	if _, err := ReadEvidence("/dev/zero"); !errors.Is(err, inputfile.ErrNotRegular) || !strings.Contains(err.Error(), "(character device)") {
		t.Errorf("/dev/zero: %v, want inputfile.ErrNotRegular", err)
	}
	if _, err := ReadEvidence(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzReadEvidence: any content is read or refused with an error naming
// the file; never a panic, and a result is a consistent span.
func FuzzReadEvidence(f *testing.F) {
	f.Add([]byte("# sysward record started 2026-12-01T10:00:00Z\n{\"type\":\"writev\",\"time\":\"2026-12-01T10:00:05Z\"}\n# sysward record ended 2026-12-01T11:00:00Z\n"))
	f.Add([]byte(`{"type":"procexit","time":"2026-12-01T10:00:10Z","args":[{"name":"sig","value":"SIGSYS"},{"name":"syscall","value":"mknodat"}]}`))
	f.Add([]byte("{\"type\":\"read\"\n#\n\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "rec.jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ev, err := ReadEvidence(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if ev.Ended.Before(ev.Started) || ev.Started.IsZero() {
			t.Errorf("span %s – %s", ev.Started, ev.Ended)
		}
		for _, o := range ev.Seen {
			if o.Count < 1 || !strings.HasPrefix(o.Where, path+":") {
				t.Errorf("observed %+v", o)
			}
		}
	})
}
