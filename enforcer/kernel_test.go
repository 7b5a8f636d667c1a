package enforcer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// kernelChildEnv: the child installs the program (file) on its thread,
// makes the listed calls and prints their errnos as JSON.
const kernelChildEnv = "SYSWARD_ENFORCER_TEST_KERNEL"

type kernelCall struct {
	Nr   uintptr
	Arg0 uintptr
}

type kernelRequest struct {
	Program string
	Calls   []kernelCall
}

func init() {
	if raw := os.Getenv(kernelChildEnv); raw != "" {
		os.Exit(kernelChild(raw))
	}
}

func kernelChild(raw string) int {
	var req kernelRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		return 3
	}
	data, err := os.ReadFile(req.Program)
	if err != nil {
		return 3
	}
	rawIns, err := decodeRaw(data)
	if err != nil {
		return 3
	}
	prog := make([]unix.SockFilter, len(rawIns))
	for i, r := range rawIns {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return 3
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		fmt.Fprintln(os.Stderr, "seccomp:", e)
		return 3
	}
	errnos := make([]int, len(req.Calls))
	for i, c := range req.Calls {
		_, _, e := unix.RawSyscall(c.Nr, c.Arg0, 0, 0)
		errnos[i] = int(e)
	}
	out, _ := json.Marshal(errnos)
	os.Stdout.Write(out)
	return 0
}

// TestKernelAgreesWithVM installs a compiled program for real (in a child)
// and checks that the kernel's verdict for each call is the one the VM
// gives: a filter ERRNO(n) is errno n, an ALLOW runs the syscall. Distinct
// errno values per rule make every verdict identifiable, including the
// argument-conditioned ones.
func TestKernelAgreesWithVM(t *testing.T) {
	testutil.Require(t, testutil.Root)
	arch := profiles.NativeArch()
	p := profiles.New(profiles.ActAllow, arch) // the Go runtime keeps running on the thread
	p.AddRule(profiles.ActErrno, ptr(11), "getuid")
	p.AddRule(profiles.ActErrno, ptr(12), "getgid")
	p.AddRule(profiles.ActErrno, ptr(14), "getegid")
	p.Syscalls = append(p.Syscalls,
		specs.LinuxSyscall{Names: []string{"getpgid"}, Action: profiles.ActErrno, ErrnoRet: ptr(13),
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpNotEqual, Value: 0}}},
		specs.LinuxSyscall{Names: []string{"getsid"}, Action: profiles.ActErrno, ErrnoRet: ptr(15),
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpMaskedEqual, Value: 0xff00, ValueTwo: 0x100}}},
		specs.LinuxSyscall{Names: []string{"getpriority"}, Action: profiles.ActErrno, ErrnoRet: ptr(16),
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpGreaterThan, Value: 1 << 33}}},
		// Shadowed: the unconditional entry after it decides (errno 17
		// for every argument, never 18).
		specs.LinuxSyscall{Names: []string{"getppid"}, Action: profiles.ActErrno, ErrnoRet: ptr(18),
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0}}},
		specs.LinuxSyscall{Names: []string{"getppid"}, Action: profiles.ActErrno, ErrnoRet: ptr(17)})
	f, err := Compile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	nr := func(name string) uintptr {
		n, ok := profiles.SyscallNumber(arch, name)
		if !ok {
			t.Fatalf("no %s on %s", name, arch)
		}
		return uintptr(n)
	}
	calls := []kernelCall{
		{nr("getuid"), 0}, {nr("getgid"), 0}, {nr("geteuid"), 0}, {nr("getegid"), 0},
		{nr("getpgid"), 0}, {nr("getpgid"), 1}, {nr("getsid"), 0x100}, {nr("getsid"), 0x1ff00},
		{nr("getsid"), 0x200}, {nr("getpriority"), 1<<33 + 1}, {nr("getpriority"), 1<<32 + 5},
		{nr("getppid"), 0}, {nr("getppid"), 1},
	}
	prog, err := NewProgram(f.Instructions)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := AuditArch(arch)
	path := writeProgram(t, t.TempDir(), "prog", f.Raw)
	raw, _ := json.Marshal(kernelRequest{Program: path, Calls: calls})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), kernelChildEnv+"="+string(raw))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v: %s", err, errb.String())
	}
	var errnos []int
	if err := json.Unmarshal(out.Bytes(), &errnos); err != nil {
		t.Fatalf("child output %q: %v", out.String(), err)
	}
	filterErrnos := map[int]bool{11: true, 12: true, 13: true, 14: true, 15: true, 16: true, 17: true, 18: true}
	denied := 0
	for i, c := range calls {
		name, _ := profiles.SyscallName(arch, int(c.Nr))
		vm, err := prog.Run(SeccompData{Nr: int32(c.Nr), Arch: token, Args: [6]uint64{uint64(c.Arg0)}})
		if err != nil {
			t.Fatal(err)
		}
		got := errnos[i]
		switch {
		case vm&retActionMask == RetErrno:
			denied++
			if got != int(vm&retDataMask) {
				t.Errorf("%s(%#x): VM says %s, kernel gave errno %d", name, c.Arg0, RetString(vm), got)
			}
		case vm == RetAllow:
			if filterErrnos[got] {
				t.Errorf("%s(%#x): VM says ALLOW, kernel gave the filter's errno %d", name, c.Arg0, got)
			}
		default:
			t.Fatalf("%s: unexpected VM verdict %s", name, RetString(vm))
		}
		if want := Expect(p, f, arch, int(c.Nr), [6]uint64{uint64(c.Arg0)}); want != vm {
			t.Errorf("%s(%#x): Expect %s, VM %s", name, c.Arg0, RetString(want), RetString(vm))
		}
	}
	if denied != 8 {
		t.Fatalf("%d calls denied, want 8 (the test lost its teeth)", denied)
	}
}
