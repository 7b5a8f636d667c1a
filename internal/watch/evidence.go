package watch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

// MaxRecordLine bounds one line of a record read by ReadEvidence: the
// longest event the watcher writes is a few KiB (command lines, ancestors).
const MaxRecordLine = 1 << 20

// ReadEvidence reads a record written by `sysward watch --record` (or `run
// --watch --record`) as evidence for `sysward profile absorb` and
// `promote`: the span it was watched (its start and end marks; without
// them, its first and last events) and the syscalls the workload made
// outside the profile it was watched with (events with in_profile false,
// and the syscall of a process killed by SIGSYS), each once with its first
// occurrence. The file is streamed, so its size only costs time; a line is
// at most MaxRecordLine bytes. Errors name the file and line.
func ReadEvidence(path string) (profiles.Evidence, error) {
	ev := profiles.Evidence{Name: path}
	f, err := inputfile.Open(path) // a FIFO or device could block or never end
	if err != nil {
		return ev, fmt.Errorf("reading record: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), MaxRecordLine)
	seen := map[string]*profiles.Observed{}
	var firstEv, lastEv, started, ended time.Time
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		switch {
		case len(b) == 0:
			continue
		case bytes.HasPrefix(b, []byte(markStarted)), bytes.HasPrefix(b, []byte(markEnded)):
			prefix := markStarted
			if bytes.HasPrefix(b, []byte(markEnded)) {
				prefix = markEnded
			}
			t, err := time.Parse(time.RFC3339Nano, string(b[len(prefix):]))
			if err != nil {
				return ev, fmt.Errorf("%s:%d: bad time in the record's mark: %w", path, line, err)
			}
			if prefix == markStarted {
				started = t
			} else {
				ended = t
			}
			continue
		case b[0] == '#':
			continue
		}
		e, err := detector.DecodeEvent(path, line, b)
		if err != nil {
			return ev, err
		}
		name, denied := deviationOf(&e)
		if name == "" {
			continue
		}
		if !knownSyscall(name) {
			return ev, fmt.Errorf("%s:%d: %q is not a syscall on any architecture sysward knows", path, line, name)
		}
		if e.Time.IsZero() {
			return ev, fmt.Errorf("%s:%d: event for %s has no \"time\": promote needs when it happened", path, line, name)
		}
		if firstEv.IsZero() || e.Time.Before(firstEv) {
			firstEv = e.Time
		}
		if e.Time.After(lastEv) {
			lastEv = e.Time
		}
		o := seen[name]
		if o == nil {
			o = &profiles.Observed{Syscall: name, First: e.Time, Where: fmt.Sprintf("%s:%d", path, line)}
			seen[name] = o
		} else if e.Time.Before(o.First) {
			o.First, o.Where = e.Time, fmt.Sprintf("%s:%d", path, line)
		}
		o.Count++
		o.Denied = o.Denied || denied
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return ev, fmt.Errorf("%s:%d: line longer than %d bytes", path, line+1, MaxRecordLine)
		}
		return ev, fmt.Errorf("reading record %s: %w", path, err)
	}
	ev.Started, ev.Ended = started, ended
	if ev.Started.IsZero() || (!firstEv.IsZero() && firstEv.Before(ev.Started)) {
		ev.Started = firstEv
	}
	if ev.Ended.IsZero() || lastEv.After(ev.Ended) {
		ev.Ended = lastEv
	}
	if ev.Started.IsZero() || ev.Ended.IsZero() {
		return ev, fmt.Errorf("%s: no start and end marks and no syscall outside the profile: how long the workload was watched is unknown (records written by sysward watch --record have the marks)", path)
	}
	if ev.Ended.Before(ev.Started) {
		return ev, fmt.Errorf("%s: ends (%s) before it starts (%s)", path, ev.Ended.Format(time.RFC3339Nano), ev.Started.Format(time.RFC3339Nano))
	}
	for _, o := range seen {
		ev.Seen = append(ev.Seen, *o)
	}
	sort.Slice(ev.Seen, func(i, j int) bool { return ev.Seen[i].Syscall < ev.Seen[j].Syscall })
	return ev, nil
}

// deviationOf returns the syscall an event shows the workload making
// outside its profile ("" for any other event), and whether it was refused.
func deviationOf(e *detector.Event) (string, bool) {
	if e.Source == detector.SourceK8sAudit {
		return "", false
	}
	if e.Type == "procexit" {
		var sig, sc string
		for _, a := range e.Args {
			switch a.Name {
			case "sig":
				sig = a.Value
			case "syscall":
				sc = a.Value
			}
		}
		if sig == "SIGSYS" && sc != "" {
			return sc, true
		}
		return "", false
	}
	if e.InProfile {
		return "", false
	}
	return e.Type, e.Denied
}

func knownSyscall(name string) bool {
	for _, a := range profiles.KnownArches() {
		if _, ok := profiles.SyscallNumber(a, name); ok {
			return true
		}
	}
	return false
}
