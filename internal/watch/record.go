package watch

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sysward/sysward/detector"
)

// recorder writes events as JSONL in the detector's event file format (one
// detector.Event per line), so `sysward rules test --events FILE` replays
// them. It writes to a temporary file beside the target and renames it into
// place on Close, so the file is never seen half-written.
type recorder struct {
	path string
	f    *os.File
	w    *bufio.Writer
	enc  *json.Encoder
	err  error
}

func newRecorder(path string) (*recorder, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("creating event record %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	r := &recorder{path: path, f: f, w: w, enc: json.NewEncoder(w)}
	r.mark(markStarted)
	return r, nil
}

// The record's first and last lines are comments (replay skips them) that
// say when the watch began and ended, so that `sysward profile promote`
// knows how long the workload was watched even when it did nothing
// outside its profile.
const (
	markStarted = "# sysward record started "
	markEnded   = "# sysward record ended "
)

func (r *recorder) mark(prefix string) {
	if r.err == nil {
		_, r.err = r.w.WriteString(prefix + time.Now().UTC().Format(time.RFC3339Nano) + "\n")
	}
}

// Write appends one event; the first error sticks and is returned by Close.
func (r *recorder) Write(ev *detector.Event) {
	if r.err == nil {
		r.err = r.enc.Encode(ev)
	}
}

// Close flushes, syncs and renames the record into place. After an error
// the temporary file is removed and nothing is left at path.
func (r *recorder) Close() error {
	r.mark(markEnded)
	err := r.err
	if err == nil {
		err = r.w.Flush()
	}
	if err == nil {
		err = r.f.Sync()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(r.f.Name(), r.path)
	}
	if err != nil {
		_ = os.Remove(r.f.Name())
		return fmt.Errorf("writing event record %s: %w", r.path, err)
	}
	return nil
}
