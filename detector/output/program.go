package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// ProgramConfig configures the program output: one long-running process
// that reads alert lines on its stdin (Falco's program_output with
// keep_alive: true).
type ProgramConfig struct {
	// Argv is the program and its arguments. Use ShellCommand for a
	// shell pipeline such as "jq -c . | curl -d @- URL".
	Argv []string `yaml:"argv"`
	// Command is a shell command line run by /bin/sh -c, used when Argv is
	// empty (the form Falco's program_output takes).
	Command string `yaml:"command"`
	// Format of the lines (default text).
	Format string `yaml:"format"`
	// Stdout and Stderr of the program (default: sysward's own).
	Stdout io.Writer `yaml:"-"`
	Stderr io.Writer `yaml:"-"`
	// RestartMin and RestartMax bound the backoff between restarts of a
	// program that keeps dying (defaults 100ms and 10s).
	RestartMin Duration `yaml:"restart_min"`
	RestartMax Duration `yaml:"restart_max"`
}

// ShellCommand is the argv running cmd with /bin/sh -c.
func ShellCommand(cmd string) []string { return []string{"/bin/sh", "-c", cmd} }

// Program writes alert lines to a program's stdin, restarting it if it dies.
type Program struct {
	*queue
	ps *programSink
}

type programSink struct {
	cfg      ProgramConfig
	f        Format
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{}
	fails    int // consecutive restarts without a successful write
	restarts atomic.Uint64
	pid      atomic.Int64
}

// NewProgram starts the program and returns an output feeding it.
func NewProgram(cfg ProgramConfig, opts *Options) (*Program, error) {
	if len(cfg.Argv) == 0 {
		if cfg.Command == "" {
			return nil, fmt.Errorf("%w: program output needs argv or command", ErrBadConfig)
		}
		cfg.Argv = ShellCommand(cfg.Command)
	}
	f, err := ParseFormat(cfg.Format)
	if err != nil {
		return nil, err
	}
	if cfg.RestartMin <= 0 {
		cfg.RestartMin = Duration(100 * time.Millisecond)
	}
	if cfg.RestartMax <= 0 {
		cfg.RestartMax = Duration(10 * time.Second)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	ps := &programSink{cfg: cfg, f: f}
	if err := ps.start(); err != nil {
		return nil, err
	}
	return &Program{queue: newQueue(opts.withDefaults("program"), ps), ps: ps}, nil
}

// Restarts is how many times the program was restarted after dying.
func (p *Program) Restarts() uint64 { return p.ps.restarts.Load() }

// Pid is the current process id (0 if none is running).
func (p *Program) Pid() int { return int(p.ps.pid.Load()) }

func (s *programSink) start() error {
	cmd := exec.Command(s.cfg.Argv[0], s.cfg.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = s.cfg.Stdout, s.cfg.Stderr
	// Own process group, so a shell pipeline is stopped as a whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("starting alert program: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting alert program %q: %w", s.cfg.Argv[0], err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.stdin, s.exited = cmd, stdin, exited
	s.pid.Store(int64(cmd.Process.Pid))
	return nil
}

func (s *programSink) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop ends the current process: close stdin, wait up to grace, then kill
// its process group.
func (s *programSink) stop(grace time.Duration) {
	if s.cmd == nil {
		return
	}
	s.stdin.Close()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
	s.pid.Store(0)
}

func (s *programSink) restart(ctx context.Context) error {
	s.stop(100 * time.Millisecond)
	if s.fails > 0 {
		d := time.Duration(s.cfg.RestartMin) << min(s.fails-1, 30)
		if d > time.Duration(s.cfg.RestartMax) || d <= 0 {
			d = time.Duration(s.cfg.RestartMax)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	s.fails++
	s.restarts.Add(1)
	return s.start()
}

func (s *programSink) format() Format { return s.f }

// writeLines writes to the running program; if it has died or the write
// fails (EPIPE), it restarts the program and tries once more.
func (s *programSink) writeLines(ctx context.Context, b []byte) error {
	var firstErr error
	for try := 0; try < 2; try++ {
		if s.cmd == nil || !s.alive() {
			if err := s.restart(ctx); err != nil {
				return errors.Join(firstErr, fmt.Errorf("restarting alert program: %w", err))
			}
		}
		_, err := s.stdin.Write(b)
		if err == nil {
			s.fails = 0
			return nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("writing to alert program: %w", err)
		}
		s.stop(0)
	}
	return firstErr
}

func (s *programSink) shutdown(ctx context.Context) error {
	grace := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		grace = time.Until(dl)
	}
	s.stop(max(grace, 0))
	return nil
}
