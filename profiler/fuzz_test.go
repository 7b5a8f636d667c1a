package profiler

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// FuzzDecodeEvent: any ring-buffer record decodes or fails cleanly.
func FuzzDecodeEvent(f *testing.F) {
	var e profilerEvent
	e.Kind, e.Nr, e.Arch, e.Ret = uint32(EventDenied), 309, 0, -1
	copy(e.Comm[:], []int8{'s', 'h'})
	var buf bytes.Buffer
	binary.Write(&buf, binary.NativeEndian, &e)
	f.Add(buf.Bytes())
	e.Kind, e.Arch, e.Nr = uint32(EventDeviation), 2, 39
	buf.Reset()
	binary.Write(&buf, binary.NativeEndian, &e)
	f.Add(buf.Bytes())
	f.Add([]byte{1, 2, 3})
	var x profilerExecEvent
	x.Ev.Kind, x.Ev.Flags, x.ArgvLen = uint32(EventExec), evfParentOutside|evfArgvTruncated, 9
	copy(x.Argv[:], []int8{'s', 'h', 0, '-', 'c', 0, 'i', 'd', 0})
	buf.Reset()
	binary.Write(&buf, binary.NativeEndian, &x)
	f.Add(buf.Bytes())
	x.ArgvLen = 1 << 31 // not from our program: clamped
	buf.Reset()
	binary.Write(&buf, binary.NativeEndian, &x)
	f.Add(buf.Bytes())
	p := &Profiler{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := p.decode(raw)
		if len(raw) < int(unsafe.Sizeof(profilerEvent{})) {
			if err == nil {
				t.Fatal("short record decoded")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Syscall != "" && ev.Nr < 0 {
			t.Fatalf("syscall %q with nr %d", ev.Syscall, ev.Nr)
		}
		if n := len(strings.Join(ev.Argv, "\x00")); n > ArgvMax {
			t.Fatalf("argv of %d bytes, bound %d", n, ArgvMax)
		}
	})
}

// FuzzContainerState: any runc state.json or crun status either resolves or
// fails with an error, never panics.
func FuzzContainerState(f *testing.F) {
	f.Add([]byte(`{"init_process_pid": 1, "config": {"seccomp": {"default_action": 2}}}`), false)
	f.Add([]byte(`{"init_process_pid": -4}`), false)
	f.Add([]byte(`{"pid": 1, "bundle": "/nonexistent"}`), true)
	f.Add([]byte(`not json`), true)
	f.Fuzz(func(t *testing.T, data []byte, crun bool) {
		root := t.TempDir()
		dir := filepath.Join(root, "c1")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		name := "state.json"
		if crun {
			name = "status"
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := ResolveContainer("c1", []string{root})
		if err == nil && (c.InitPID <= 0 || c.Cgroup == "") {
			t.Fatalf("resolved without pid or cgroup: %+v", c)
		}
	})
}

// FuzzDecodeNewCgroup: any new-cgroup record decodes or fails cleanly, and
// the path stops at its NUL within the record.
func FuzzDecodeNewCgroup(f *testing.F) {
	var n profilerNewCgroup
	n.CgroupId, n.Pid = 4242, 77
	copy(n.Path[:], []int8{'/', 'a', 'b'})
	var buf bytes.Buffer
	binary.Write(&buf, binary.NativeEndian, &n)
	f.Add(buf.Bytes())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := decodeNewCgroup(raw)
		if len(raw) < int(unsafe.Sizeof(profilerNewCgroup{})) {
			if err == nil {
				t.Fatal("short record decoded")
			}
			return
		}
		if err != nil {
			return // e.g. no NUL in the path: refused
		}
		if len(c.Path) >= len(n.Path) || bytes.IndexByte([]byte(c.Path), 0) >= 0 {
			t.Fatalf("path %q", c.Path)
		}
	})
}

// FuzzBundleArg: a runtime command line yields a clean absolute bundle only
// when it names the container; the usual shapes give the expected one.
func FuzzBundleArg(f *testing.F) {
	for _, tc := range []struct{ cmdline, want string }{
		{"runc\x00--root\x00/r\x00run\x00--bundle\x00/b/x\x00c1\x00", "/b/x"},
		{"runc\x00create\x00--bundle=rel\x00c1\x00", "/cwd/rel"},
		{"runc\x00run\x00-b\x00/b\x00c1\x00", "/b"},
		{"runc\x00run\x00c1\x00", "/cwd"},
		{"runc\x00run\x00other\x00", ""},
	} {
		got, ok := bundleArg(tc.cmdline, "c1", "/cwd")
		if got != tc.want || ok != (tc.want != "") {
			f.Fatalf("bundleArg(%q) = %q, %v; want %q", tc.cmdline, got, ok, tc.want)
		}
		f.Add(tc.cmdline, "c1")
	}
	f.Fuzz(func(t *testing.T, cmdline, id string) {
		b, ok := bundleArg(cmdline, id, "/cwd")
		if !ok {
			return
		}
		if id == "" || !strings.Contains(cmdline, id) || !filepath.IsAbs(b) || filepath.Clean(b) != b {
			t.Fatalf("bundleArg(%q, %q) = %q", cmdline, id, b)
		}
	})
}
