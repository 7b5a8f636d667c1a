package watch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

// recordNoteRoom is kept free under the cap for the note that says events
// were left out and the closing mark, so a capped record still fits `rules
// test --events`.
const recordNoteRoom = 512

// recorder writes events as JSONL in the detector's event file format (one
// detector.Event per line), so `sysward rules test --events FILE` replays
// them. The file is written through profiles.Output: a regular file (or a
// new one) gets a temporary file renamed into place on Close, so it is never
// seen half-written; a device or FIFO is written to directly. At most max
// bytes are written: later events are counted (Dropped) and a closing
// comment line says how many are missing.
type recorder struct {
	path    string
	out     *profiles.Output
	w       *bufio.Writer
	line    bytes.Buffer
	enc     *json.Encoder
	max     int64
	n       int64
	dropped atomic.Uint64
	err     error
}

// newRecorder starts a record at path of at most max bytes (0:
// detector.MaxEventsFileSize, the most `rules test --events` reads).
func newRecorder(path string, max int64) (*recorder, error) {
	if max <= 0 {
		max = detector.MaxEventsFileSize
	}
	if max < 2*recordNoteRoom {
		max = 2 * recordNoteRoom
	}
	out, err := profiles.CreateOutput(path, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating event record: %w", err)
	}
	r := &recorder{path: path, out: out, w: bufio.NewWriterSize(out, 64<<10), max: max}
	r.enc = json.NewEncoder(&r.line)
	r.mark(markStarted)
	return r, nil
}

// The record's first and last lines are comments (replay skips them) that
// say when the watch began and ended, so that `sysward profile promote`
// knows how long the workload was watched even when it did nothing
// outside its profile. They fit in the room kept under the cap.
const (
	markStarted = "# sysward record started "
	markEnded   = "# sysward record ended "
)

func (r *recorder) mark(prefix string) {
	if r.err == nil {
		var n int
		n, r.err = r.w.WriteString(prefix + time.Now().UTC().Format(time.RFC3339Nano) + "\n")
		r.n += int64(n)
	}
}

// Write appends one event, or counts it when the record is full; the first
// error sticks and is returned by Close.
func (r *recorder) Write(ev *detector.Event) {
	if r.err != nil {
		return
	}
	r.line.Reset()
	if r.err = r.enc.Encode(ev); r.err != nil {
		return
	}
	if r.n+int64(r.line.Len()) > r.max-recordNoteRoom {
		r.dropped.Add(1)
		return
	}
	r.n += int64(r.line.Len())
	_, r.err = r.w.Write(r.line.Bytes())
}

// Dropped is how many events did not fit under the cap.
func (r *recorder) Dropped() uint64 { return r.dropped.Load() }

// Close flushes, syncs and renames the record into place. After an error
// the temporary file is removed and nothing is left at path.
func (r *recorder) Close() error {
	err := r.err
	if d := r.Dropped(); d > 0 && err == nil {
		_, err = fmt.Fprintf(r.w, "# sysward: record cap of %s reached: the %d events after this line were not recorded\n", inputfile.Size(r.max), d)
	}
	if err == nil {
		r.mark(markEnded)
		err = r.err
	}
	if err == nil {
		err = r.w.Flush()
	}
	if err != nil {
		r.out.Abort()
		return fmt.Errorf("writing event record %s: %w", r.path, err)
	}
	return r.out.Commit()
}
