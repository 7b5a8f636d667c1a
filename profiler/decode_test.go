package profiler

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
	"unsafe"
)

// decodeReflect is the previous decoder (binary.Read into bpf2go's struct,
// reflection per field), kept as the reference decodeRecord must agree with.
func decodeReflect(raw []byte, bootOff int64) (Event, error) {
	var e profilerEvent
	if len(raw) < int(unsafe.Sizeof(e)) {
		return Event{}, fmt.Errorf("decoding event: %d bytes, want %d", len(raw), unsafe.Sizeof(e))
	}
	if err := binary.Read(bytes.NewReader(raw), binary.NativeEndian, &e); err != nil {
		return Event{}, fmt.Errorf("decoding event: %w", err)
	}
	cstr := func(b []int8) string {
		var out []byte
		for _, c := range b {
			if c == 0 {
				break
			}
			out = append(out, byte(c))
		}
		return string(out)
	}
	ev := Event{
		Kind:     EventKind(e.Kind),
		Time:     time.Unix(0, int64(e.TsBootNs)+bootOff),
		CgroupID: e.CgroupId,
		PID:      e.Pid, TID: e.Tid, PPID: e.Ppid, UID: e.Uid, GID: e.Gid,
		Comm:     cstr(e.Comm[:]),
		PComm:    cstr(e.Pcomm[:]),
		Nr:       -1,
		Args:     e.Args,
		Ret:      e.Ret,
		Filename: cstr(e.Filename[:]),
	}
	if ev.Kind != EventExec && e.Nr >= 0 && int(e.Arch) < numArches {
		ev.Arch = archOrder[e.Arch]
		ev.Nr = tableNr(ev.Arch, int(e.Nr))
		ev.Syscall = syscallName(ev.Arch, ev.Nr)
	}
	switch ev.Kind {
	case EventDenied:
		if e.Ret < 0 && e.Ret >= -4095 {
			ev.Errno = int(-e.Ret)
		}
	case EventExitSigsys:
		ev.ExitCode = int(e.Ret)
	case EventExec:
		ev.ParentOutside = e.Flags&evfParentOutside != 0
		ev.ArgvTruncated = e.Flags&evfArgvTruncated != 0
	}
	return ev, nil
}

func encodeEvent(t testing.TB, e *profilerEvent) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, e); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sampleEvent(kind EventKind, nr int32, arch uint32, ret int64, comm, file string) *profilerEvent {
	e := &profilerEvent{TsBootNs: 123456789, CgroupId: 0xdeadbeef, Args: [6]uint64{1, 2, 3, 1 << 63, 5, 6},
		Ret: ret, Kind: uint32(kind), Pid: 10, Tid: 11, Ppid: 1, Uid: 1000, Gid: 1001, Nr: nr, Arch: arch}
	for i := 0; i < len(comm) && i < len(e.Comm); i++ {
		e.Comm[i] = int8(comm[i])
	}
	for i := 0; i < len(file) && i < len(e.Filename); i++ {
		e.Filename[i] = int8(file[i])
	}
	return e
}

// TestDecodeAgrees: the field decoder and the reflection reference decode
// every kind of record the same way, including full-length strings without
// a NUL, negative numbers, bad arch values and trailing bytes.
func TestDecodeAgrees(t *testing.T) {
	long := string(bytes.Repeat([]byte{'x'}, 300))
	for _, c := range []struct {
		name string
		e    *profilerEvent
		tail int
	}{
		{"deviation", sampleEvent(EventDeviation, 39, 0, 0, "sleep", ""), 0},
		{"denied-errno", sampleEvent(EventDenied, 309, 0, -1, "a", ""), 0},
		{"denied-not-errno", sampleEvent(EventDenied, 309, 0, -5000, "a", ""), 0},
		{"exec", sampleEvent(EventExec, -1, 0, 0, "sh", "/bin/true"), 0},
		{"exit-sigsys", sampleEvent(EventExitSigsys, 5, 0, 0x9f, "k", ""), 0},
		{"ia32", sampleEvent(EventFirstSeen, 11, 1, 0, "i", ""), 0},
		{"x32", sampleEvent(EventFirstSeen, 0, 2, 0, "x", ""), 0},
		{"bad-arch", sampleEvent(EventDeviation, 1, 7, 0, "b", ""), 0},
		{"unterminated-strings", sampleEvent(EventExec, -1, 0, 0, long, long), 0},
		{"non-ascii", sampleEvent(EventExec, -1, 0, 0, "caf\xc3\xa9\xff", "/t\xffmp"), 0},
		{"trailing-bytes", sampleEvent(EventDeviation, 39, 0, 0, "t", ""), 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := append(encodeEvent(t, c.e), make([]byte, c.tail)...)
			want, err1 := decodeReflect(raw, 42)
			got, err2 := decodeRecord(raw, 42)
			if err1 != nil || err2 != nil {
				t.Fatalf("errors: reference %v, decodeRecord %v", err1, err2)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
				t.Errorf("decodeRecord\n%#v\nreference\n%#v", got, want)
			}
		})
	}
	if _, err := decodeRecord(make([]byte, eventSize-1), 0); err == nil {
		t.Error("short record decoded")
	}
}

// BenchmarkDecode prices decoding one record: the field decoder against the
// reflection decoder it replaced, measured in the same run (fastest of 5
// interleaved rounds each) and printed as a ratio.
func BenchmarkDecode(b *testing.B) {
	raw := encodeEvent(b, sampleEvent(EventDeviation, 39, 0, 0, "profiler.test", ""))
	const n = 200_000
	time1 := func(f func([]byte, int64) (Event, error)) float64 {
		start := time.Now()
		for i := 0; i < n; i++ {
			if _, err := f(raw, 0); err != nil {
				b.Fatal(err)
			}
		}
		return float64(time.Since(start).Nanoseconds()) / n
	}
	ref, direct := 1e18, 1e18
	for i := 0; i < b.N*5; i++ {
		ref = min(ref, time1(decodeReflect))
		direct = min(direct, time1(decodeRecord))
	}
	allocs := func(f func([]byte, int64) (Event, error)) float64 {
		return testing.AllocsPerRun(1000, func() { f(raw, 0) })
	}
	b.Logf("\ndecoder                 ns/event  allocs/event\nbinary.Read (before)  %10.1f  %12.0f\nfield decode (after)  %10.1f  %12.0f\nafter/before: %.3fx",
		ref, allocs(decodeReflect), direct, allocs(decodeRecord), direct/ref)
	b.ReportMetric(direct/ref, "after/before")
}
