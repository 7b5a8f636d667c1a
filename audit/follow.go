package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/inputfile"
)

// FollowOptions configures Follow; zero values take the defaults.
type FollowOptions struct {
	// FromStart reads the file from its beginning; otherwise from its end
	// (only records written after Follow started).
	FromStart bool
	// Poll is how often the file is checked for new data and rotation
	// when idle (default 200ms).
	Poll time.Duration
	// MaxLine bounds one line (default 4 MiB); a longer one is skipped
	// and counted.
	MaxLine int
	// Once stops at the end of the file instead of following it: the
	// replay of an audit log.
	Once bool
}

// FollowStats are the follower's counters, safe to read while it runs.
type FollowStats struct {
	Opened    atomic.Uint64 // files opened: 1, plus one per rotation
	Lines     atomic.Uint64 // complete lines handed to emit
	Overlong  atomic.Uint64 // lines skipped for exceeding MaxLine
	Rotations atomic.Uint64 // the path was renamed away and a new file created
	Truncated atomic.Uint64 // the file was truncated (copytruncate) or rewritten
}

const fingerprintLen = 128

// Follow reads the JSON-lines file at path (the apiserver's
// --audit-log-path) and calls emit with each complete line, until ctx
// ends; it returns ctx's end as nil. It keeps following the path through
// rotation:
//
//   - rename + create (logrotate's default, and the apiserver's own
//     --audit-log-maxsize rotation): the renamed file is read to its end,
//     then the new file from its beginning;
//   - copytruncate: the file shrinking below the read offset, or its first
//     bytes changing, means it was truncated; reading restarts at 0. Lines
//     written between the copy and the truncation are in the copy only:
//     copytruncate loses them for every follower, prefer rename + create.
//     A writer that does not append continues at its old offset, leaving
//     a hole of NULs before its next record: they are skipped.
//
// A line is emitted once, whole: a partial last line waits for its newline.
// The line slice is valid only during emit. path must be a regular file.
func Follow(ctx context.Context, path string, opts *FollowOptions, stats *FollowStats, emit func(line []byte)) error {
	var o FollowOptions
	if opts != nil {
		o = *opts
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.MaxLine <= 0 {
		o.MaxLine = 4 << 20
	}
	if stats == nil {
		stats = &FollowStats{}
	}
	f, err := openRegular(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	fl := &follower{path: path, o: o, st: stats, emit: emit, f: f, buf: make([]byte, 64<<10)}
	if !o.FromStart {
		if fl.off, err = f.Seek(0, io.SeekEnd); err != nil {
			return fmt.Errorf("seeking to the end of %s: %w", path, err)
		}
	}
	fl.fingerprint()
	stats.Opened.Add(1)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		// rotation first: data read at a stale offset of a rewritten file
		// would be the middle of some other record
		if _, err := fl.checkRotation(); err != nil {
			return err
		}
		n, err := fl.drain()
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if o.Once {
			return nil
		}
		timer.Reset(o.Poll)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

type follower struct {
	path string
	o    FollowOptions
	st   *FollowStats
	emit func([]byte)

	f       *os.File
	off     int64  // bytes of f consumed
	partial []byte // an incomplete last line
	skip    bool   // discarding an overlong line up to its newline
	head    []byte // the file's first bytes, to notice a rewrite
	buf     []byte
}

func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w (%s)", path, inputfile.ErrNotRegular, inputfile.Kind(fi.Mode()))
	}
	return f, nil
}

// drain reads what f has past off and emits the complete lines.
func (fl *follower) drain() (int, error) {
	total := 0
	for {
		n, err := fl.f.ReadAt(fl.buf, fl.off)
		if n > 0 {
			total += n
			fl.off += int64(n)
			fl.lines(fl.buf[:n])
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("reading audit log %s: %w", fl.path, err)
		}
	}
}

func (fl *follower) lines(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if fl.skip {
				return
			}
			if len(fl.partial)+len(b) > fl.o.MaxLine {
				fl.partial, fl.skip = fl.partial[:0], true
				fl.st.Overlong.Add(1)
				return
			}
			fl.partial = append(fl.partial, b...)
			return
		}
		line := b[:i]
		b = b[i+1:]
		if fl.skip {
			fl.skip = false
			continue
		}
		if len(fl.partial) > 0 {
			if len(fl.partial)+len(line) > fl.o.MaxLine {
				fl.partial = fl.partial[:0]
				fl.st.Overlong.Add(1)
				continue
			}
			fl.partial = append(fl.partial, line...)
			line = fl.partial
		} else if len(line) > fl.o.MaxLine {
			fl.st.Overlong.Add(1)
			continue
		}
		// A writer that does not append (the apiserver's own log file is
		// opened without O_APPEND) keeps writing at its old offset after a
		// copytruncate: the file starts with a hole that reads as NULs.
		line = bytes.TrimLeft(line, "\x00")
		if len(bytes.TrimSpace(line)) > 0 {
			fl.st.Lines.Add(1)
			fl.emit(line)
		}
		fl.partial = fl.partial[:0]
	}
}

// fingerprint remembers the file's first bytes.
func (fl *follower) fingerprint() {
	b := make([]byte, fingerprintLen)
	n, _ := fl.f.ReadAt(b, 0)
	fl.head = b[:n]
}

// checkRotation switches to a new file
// at path or restarts a truncated one; it reports whether it did.
func (fl *follower) checkRotation() (bool, error) {
	cur, err := fl.f.Stat()
	if err != nil {
		return false, fmt.Errorf("audit log %s: %w", fl.path, err)
	}
	if fi, err := os.Stat(fl.path); err == nil && !os.SameFile(fi, cur) {
		// renamed away and recreated: finish the old file (drain was just
		// called, but the writer may have added a last record since).
		if _, err := fl.drain(); err != nil {
			return false, err
		}
		nf, err := openRegular(fl.path)
		if err != nil {
			return false, err
		}
		fl.f.Close()
		fl.f, fl.off, fl.partial, fl.skip = nf, 0, fl.partial[:0], false
		fl.st.Rotations.Add(1)
		fl.st.Opened.Add(1)
		fl.fingerprint()
		return true, nil
	}
	if cur.Size() < fl.off || !fl.sameHead() {
		fl.off, fl.partial, fl.skip = 0, fl.partial[:0], false
		fl.st.Truncated.Add(1)
		fl.fingerprint()
		return true, nil
	}
	if len(fl.head) < fingerprintLen {
		fl.fingerprint()
	}
	return false, nil
}

// sameHead: the file still starts with the bytes it started with.
func (fl *follower) sameHead() bool {
	if len(fl.head) == 0 {
		return true
	}
	b := make([]byte, len(fl.head))
	n, _ := fl.f.ReadAt(b, 0)
	return n == len(b) && bytes.Equal(b, fl.head)
}

// FollowEvents is Follow decoding each line as an audit record: handle gets
// the k8s_audit events, bad gets the lines that are not one (with the
// line's number in the stream, from 1).
func FollowEvents(ctx context.Context, path string, opts *FollowOptions, stats *FollowStats, handle func(*detector.Event), bad func(n uint64, err error)) error {
	var n uint64
	return Follow(ctx, path, opts, stats, func(line []byte) {
		n++
		ev, err := DecodeEvent(bytes.Clone(line))
		if err != nil {
			bad(n, err)
			return
		}
		handle(&ev)
	})
}
