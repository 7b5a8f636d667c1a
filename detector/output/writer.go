package output

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
)

// Writer writes alert lines (text or JSON) to an io.Writer.
type Writer struct {
	*queue
	ws *writerSink
}

type writerSink struct {
	w io.Writer
	f Format
}

func (s *writerSink) format() Format { return s.f }

func (s *writerSink) writeLines(_ context.Context, b []byte) error {
	_, err := s.w.Write(b)
	return err
}

func (s *writerSink) shutdown(context.Context) error { return nil }

// NewWriter makes an output writing one line per alert to w in format f.
// w is written from the output's goroutine only and is not closed.
func NewWriter(w io.Writer, f Format, opts *Options) *Writer {
	o := opts.withDefaults(f.String())
	ws := &writerSink{w: w, f: f}
	return &Writer{queue: newQueue(o, ws), ws: ws}
}

// NewStdout writes to standard output, named "stdout" for metrics.
func NewStdout(f Format, opts *Options) *Writer {
	o := opts.withDefaults("stdout")
	if opts == nil || opts.Name == "" {
		o.Name = "stdout"
	}
	ws := &writerSink{w: os.Stdout, f: f}
	return &Writer{queue: newQueue(o, ws), ws: ws}
}

// File appends alert lines to a file. Reopen (or SIGHUP through
// ReopenOnSignal) makes it close and reopen the path before the next write,
// for log rotation.
type File struct {
	*queue
	fs *fileSink
}

type fileSink struct {
	path   string
	f      Format
	file   *os.File
	reopen atomic.Bool
}

const fileMode = 0o600

// NewFile opens path for appending (creating it 0600) and returns an output
// writing one line per alert in format f.
func NewFile(path string, f Format, opts *Options) (*File, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: file output needs a path", ErrBadConfig)
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("opening alert file: %w", err)
	}
	fs := &fileSink{path: path, f: f, file: file}
	return &File{queue: newQueue(opts.withDefaults("file"), fs), fs: fs}, nil
}

// Reopen makes the output reopen its path before its next write.
func (f *File) Reopen() { f.fs.reopen.Store(true) }

// Path is the file's path.
func (f *File) Path() string { return f.fs.path }

func (s *fileSink) format() Format { return s.f }

func (s *fileSink) writeLines(_ context.Context, b []byte) error {
	if s.reopen.Swap(false) || s.file == nil {
		if s.file != nil {
			s.file.Close()
			s.file = nil
		}
		file, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
		if err != nil {
			return fmt.Errorf("reopening alert file: %w", err)
		}
		s.file = file
	}
	if _, err := s.file.Write(b); err != nil {
		return fmt.Errorf("writing alert file: %w", err)
	}
	return nil
}

func (s *fileSink) shutdown(context.Context) error {
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	return err
}

// ReopenOnSignal calls Reopen on every file when sig arrives (typically
// syscall.SIGHUP, as logrotate sends), until ctx is done.
func ReopenOnSignal(ctx context.Context, sig os.Signal, files ...*File) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				for _, f := range files {
					f.Reopen()
				}
			}
		}
	}()
}
