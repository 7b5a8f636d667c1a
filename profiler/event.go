package profiler

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/sysward/sysward/profiles"
)

// EventKind says what an Event reports (bpf/profiler.bpf.c enum event_kind).
type EventKind uint32

// Event kinds.
const (
	// EventDeviation: a call outside the allowed set reached sys_enter
	// (nothing refused it). Once per (cgroup, syscall) unless FlagAllEvents.
	EventDeviation EventKind = 1
	// EventDenied: a call outside the allowed set was refused by seccomp
	// (seen at sys_exit only). Errno holds the error it returned.
	EventDenied EventKind = 2
	// EventExec: a task of a watched cgroup exec'd Filename.
	EventExec EventKind = 3
	// EventExitSigsys: a task of a watched cgroup died of SIGSYS (a seccomp
	// kill action, or a SIGSYS it did not handle). ExitCode is raw.
	EventExitSigsys EventKind = 4
	// EventFirstSeen: a syscall was recorded for the first time
	// (FlagFirstSeen). No arguments.
	EventFirstSeen EventKind = 5
)

func (k EventKind) String() string {
	switch k {
	case EventDeviation:
		return "deviation"
	case EventDenied:
		return "denied"
	case EventExec:
		return "exec"
	case EventExitSigsys:
		return "exit-sigsys"
	case EventFirstSeen:
		return "first-seen"
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// Event is one ring-buffer record, decoded.
type Event struct {
	Kind     EventKind
	Time     time.Time
	CgroupID uint64
	PID, TID uint32 // thread group id and thread id (host pid namespace)
	PPID     uint32 // parent's thread group id
	// UID and GID are the task's effective ids when the event happened (a
	// daemon that drops privileges after exec shows its new ids).
	UID, GID uint32
	Comm     string
	// PComm is the parent's comm when the event happened.
	PComm string
	// Arch, Nr and Syscall identify the call (not set for EventExec; Nr is
	// -1 and Syscall empty when unknown). Nr is the number in profiles'
	// tables (x32 numbers carry __X32_SYSCALL_BIT).
	Arch    profiles.Arch
	Nr      int
	Syscall string
	Args    [6]uint64
	// Errno is the error a denied call returned (EventDenied), 0 if the
	// return value was not an errno (a kill action rolls registers back).
	Errno int
	// Ret is the raw return value (EventDenied).
	Ret int64
	// ExitCode is the task's raw exit code (EventExitSigsys): the signal in
	// the low 7 bits, 0x80 for a core dump.
	ExitCode int
	// Filename is what was exec'd (EventExec), as the caller named it
	// (bprm->filename: absolute, or relative to the caller's cwd).
	Filename string
	// Interp is, for an exec'd #! script, the interpreter the kernel ran
	// ("/bin/sh"); empty for a binary (EventExec).
	Interp string
	// Argv is the new image's argv as the kernel copied it at exec, up to
	// ArgvMax bytes; ArgvTruncated says it was cut (EventExec).
	Argv          []string
	ArgvTruncated bool
	// ParentOutside: the exec'ing task's parent is not in the workload's
	// cgroup, so the runtime (or sysward) started it: the workload's
	// entrypoint, not something the workload spawned (EventExec).
	ParentOutside bool
	// Repeat is how many calls the event stands for: 0 for one call; for
	// a summary of denied calls the kernel counted without sending (see
	// Profiler.Repeats), the count, with Time the last one's.
	Repeat uint64
}

// ArgvMax bounds Event.Argv in bytes (ARGV_MAX in bpf/profiler.bpf.c).
const ArgvMax = 2048

// Event flags (bpf/profiler.bpf.c enum event_flag).
const (
	evfParentOutside = 1 << 0
	evfArgvTruncated = 1 << 1
)

// pollInterval bounds how long ReadEvent waits before looking at the ring
// again: events are submitted without wakeups (BPF_RB_NO_WAKEUP).
const pollInterval = 20 * time.Millisecond

// ReadEvent returns the next event, waiting until one arrives or ctx is
// done (then ctx.Err()). It returns ErrClosed after Close. Call it from one
// goroutine at a time.
func (p *Profiler) ReadEvent(ctx context.Context) (Event, error) {
	p.rdMu.Lock()
	defer p.rdMu.Unlock()
	var rec ringbuf.Record
	for {
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return Event{}, ErrClosed
		}
		p.rd.SetDeadline(time.Now().Add(pollInterval))
		err := p.rd.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if errors.Is(err, ringbuf.ErrClosed) {
			return Event{}, ErrClosed
		}
		if err != nil {
			return Event{}, fmt.Errorf("reading ring buffer: %w", err)
		}
		return p.decode(rec.RawSample)
	}
}

func (p *Profiler) decode(raw []byte) (Event, error) {
	return decodeRecord(raw, p.bootOff)
}

// eventSize is the size of struct event (bpf/profiler.bpf.c), as laid out by
// bpf2go in profilerEvent.
const eventSize = int(unsafe.Sizeof(profilerEvent{}))

// Field offsets in a ring-buffer record, from bpf2go's layout of struct event.
var (
	offTs       = int(unsafe.Offsetof(profilerEvent{}.TsBootNs))
	offCgroup   = int(unsafe.Offsetof(profilerEvent{}.CgroupId))
	offArgs     = int(unsafe.Offsetof(profilerEvent{}.Args))
	offRet      = int(unsafe.Offsetof(profilerEvent{}.Ret))
	offKind     = int(unsafe.Offsetof(profilerEvent{}.Kind))
	offPid      = int(unsafe.Offsetof(profilerEvent{}.Pid))
	offTid      = int(unsafe.Offsetof(profilerEvent{}.Tid))
	offPpid     = int(unsafe.Offsetof(profilerEvent{}.Ppid))
	offUid      = int(unsafe.Offsetof(profilerEvent{}.Uid))
	offGid      = int(unsafe.Offsetof(profilerEvent{}.Gid))
	offNr       = int(unsafe.Offsetof(profilerEvent{}.Nr))
	offArch     = int(unsafe.Offsetof(profilerEvent{}.Arch))
	offFlags    = int(unsafe.Offsetof(profilerEvent{}.Flags))
	offComm     = int(unsafe.Offsetof(profilerEvent{}.Comm))
	offPcomm    = int(unsafe.Offsetof(profilerEvent{}.Pcomm))
	offFilename = int(unsafe.Offsetof(profilerEvent{}.Filename))

	execEventSize = int(unsafe.Sizeof(profilerExecEvent{}))
	offArgvLen    = int(unsafe.Offsetof(profilerExecEvent{}.ArgvLen))
	offInterp     = int(unsafe.Offsetof(profilerExecEvent{}.Interp))
	offArgv       = int(unsafe.Offsetof(profilerExecEvent{}.Argv))
)

// decodeRecord decodes one ring-buffer record field by field (the programs
// are little-endian x86 ones, see gen.go): no reflection, no intermediate
// struct. An exec event is a struct exec_event; other bytes past struct
// event are ignored.
func decodeRecord(raw []byte, bootOff int64) (Event, error) {
	if len(raw) < eventSize {
		return Event{}, fmt.Errorf("decoding event: %d bytes, want %d", len(raw), eventSize)
	}
	full := raw
	raw = raw[:eventSize]
	le := binary.LittleEndian
	u32 := func(off int) uint32 { return le.Uint32(raw[off:]) }
	ret := int64(le.Uint64(raw[offRet:]))
	ev := Event{
		Kind:     EventKind(u32(offKind)),
		Time:     time.Unix(0, int64(le.Uint64(raw[offTs:]))+bootOff),
		CgroupID: le.Uint64(raw[offCgroup:]),
		PID:      u32(offPid), TID: u32(offTid), PPID: u32(offPpid), UID: u32(offUid), GID: u32(offGid),
		Comm:     cString(raw[offComm:offPcomm]),
		PComm:    cString(raw[offPcomm:offFilename]),
		Nr:       -1,
		Ret:      ret,
		Filename: cString(raw[offFilename:eventSize]),
	}
	for i := range ev.Args {
		ev.Args[i] = le.Uint64(raw[offArgs+8*i:])
	}
	nr, arch := int32(u32(offNr)), u32(offArch)
	if ev.Kind != EventExec && nr >= 0 && int(arch) < numArches {
		ev.Arch = archOrder[arch]
		ev.Nr = tableNr(ev.Arch, int(nr))
		ev.Syscall = syscallName(ev.Arch, ev.Nr)
	}
	switch ev.Kind {
	case EventDenied:
		if ret < 0 && ret >= -4095 {
			ev.Errno = int(-ret)
		}
	case EventExitSigsys:
		ev.ExitCode = int(ret)
	case EventExec:
		flags := u32(offFlags)
		ev.ParentOutside = flags&evfParentOutside != 0
		ev.ArgvTruncated = flags&evfArgvTruncated != 0
		if len(full) >= execEventSize {
			x := full[:execEventSize]
			ev.Interp = cString(x[offInterp:offArgv])
			n := int(le.Uint32(x[offArgvLen:]))
			if n > ArgvMax { // not from our program: keep what fits
				n, ev.ArgvTruncated = ArgvMax, true
			}
			ev.Argv = splitArgv(x[offArgv:offArgv+n], ev.ArgvTruncated)
		}
	}
	return ev, nil
}

// splitArgv splits NUL-separated arguments. A cut argv ends mid-argument:
// that part is kept (it is what the kernel saw).
func splitArgv(b []byte, truncated bool) []string {
	if len(b) == 0 {
		return nil
	}
	if !truncated {
		b = bytes.TrimSuffix(b, []byte{0})
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Events delivers events on a channel until ctx is done or the Profiler is
// closed; then the channel is closed. It starts one goroutine that calls
// ReadEvent, so do not call ReadEvent while it runs. The returned function
// waits for that goroutine to end and returns the read error that ended the
// stream, if any (nil for ctx's end or Close).
func (p *Profiler) Events(ctx context.Context) (<-chan Event, func() error) {
	ch := make(chan Event, 64)
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			ev, rerr := p.ReadEvent(ctx)
			if rerr != nil {
				if !errors.Is(rerr, ErrClosed) && ctx.Err() == nil {
					err = rerr
				}
				return
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, func() error { <-done; return err }
}
