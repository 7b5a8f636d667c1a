package watch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/output"
)

func testEvent(i int) *detector.Event {
	ev := &detector.Event{Type: "sync", Time: time.Unix(int64(i), 0).UTC()}
	ev.Proc.Name = strings.Repeat("x", 100)
	ev.Normalize()
	return ev
}

// TestRecorderCap: the record stops at its cap, counts the events left out,
// says so in a comment line, and still decodes as an events file.
func TestRecorderCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	const max, n = 4096, 100
	r, err := newRecorder(path, max)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r.Write(testEvent(i))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > max {
		t.Fatalf("record is %d bytes, cap %d", len(data), max)
	}
	evs, err := detector.DecodeEvents(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || uint64(len(evs))+r.Dropped() != n {
		t.Fatalf("%d recorded + %d dropped, want %d in all", len(evs), r.Dropped(), n)
	}
	if !strings.Contains(string(data), "# sysward: record cap of 4 KiB reached") {
		t.Fatalf("no note in the record:\n%s", data)
	}
}

// TestRecorderDestinations: --record to a link to /dev/null writes through
// it and keeps the link; to a FIFO it streams.
func TestRecorderDestinations(t *testing.T) {
	dir := t.TempDir()
	null := filepath.Join(dir, "null")
	os.Symlink("/dev/null", null)
	r, err := newRecorder(null, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Write(testEvent(1))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(null); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link to /dev/null was replaced: %v %v", fi.Mode(), err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() { b, _ := os.ReadFile(fifo); got <- string(b) }()
	r, err = newRecorder(fifo, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Write(testEvent(1))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if s := <-got; !strings.Contains(s, `"type":"sync"`) {
		t.Fatalf("the FIFO's reader got %q", s)
	}
}

// TestWatchRecordCap: a real session whose record fills up reports the
// events it left out in its summary, and the record still replays.
func TestWatchRecordCap(t *testing.T) {
	requireWatch(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "events.jsonl")
	const calls = 50
	script := "i=0; while [ $i -lt " + strconv.Itoa(calls) + " ]; do sync; i=$((i+1)); done"
	cfg := Config{Profile: allowAllBut("sync"), Rules: testRules(t), Mode: ModeWatch, Format: output.FormatJSON,
		Record: record, RecordMax: 4096, DedupWindow: -1}
	res, _ := session(t, cfg, Target{Command: busybox(script)})
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := detector.DecodeEvents(record, data)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if len(data) > 4096 || s.RecordDrops == 0 || uint64(len(evs))+s.RecordDrops != s.Events {
		t.Fatalf("record %d bytes, %d events recorded, summary: %d record drops, %d events", len(data), len(evs), s.RecordDrops, s.Events)
	}
	var b strings.Builder
	s.WriteText(&b)
	if !strings.Contains(b.String(), "not recorded "+strconv.FormatUint(s.RecordDrops, 10)+" (--record file full)") {
		t.Errorf("summary does not say the record is incomplete:\n%s", b.String())
	}
}
