package testutil

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/testutil/compat"
)

// ABIState is what the kernel did with a probe call.
type ABIState string

const (
	// ABIWorks: the call ran (and returned the right value).
	ABIWorks ABIState = "works"
	// ABINoSys: the kernel entered the syscall path and returned ENOSYS
	// (x32 without CONFIG_X86_X32_ABI). The call still reaches sys_enter.
	ABINoSys ABIState = "ENOSYS"
	// ABIRefused: the process got a signal instead (SIGSEGV for int $0x80
	// with IA-32 emulation off, SIGSYS for a seccomp kill). The call never
	// reached the syscall path.
	ABIRefused ABIState = "refused"
)

// ABIProbe is the result of running one call through an ABI in a child.
type ABIProbe struct {
	ABI    string // "ia32" or "x32"
	State  ABIState
	Signal syscall.Signal // for ABIRefused
	// Hint is what the kernel's configuration says (boot command line,
	// kernel config), for the log; the probe is the truth.
	Hint string
	// Simulated is set when SimulateIA32OffEnv made the refusal.
	Simulated bool
}

func (p ABIProbe) String() string {
	s := fmt.Sprintf("%s %s", p.ABI, p.State)
	if p.State == ABIRefused {
		s += fmt.Sprintf(" (%v)", p.Signal)
	}
	if p.Simulated {
		s += " [simulated: " + SimulateIA32OffEnv + "=off]"
	}
	if p.Hint != "" {
		s += "; config: " + p.Hint
	}
	return s
}

// SimulateIA32OffEnv is compat.SimulateIA32OffEnv: set to "off", the probe
// child and the compat command refuse ia32 calls with a seccomp kill
// (SIGSYS, where a kernel booted with ia32_emulation=false raises SIGSEGV);
// the call never reaches the syscall path either way. It exercises the
// ia32-off branches of the ABI tests on a machine that cannot be rebooted;
// the probe still observes the refusal in a real child. Other processes of
// the test are left alone.
const SimulateIA32OffEnv = compat.SimulateIA32OffEnv

const probeEnv = "SYSWARD_TESTUTIL_ABI_PROBE"

func init() {
	if abi := os.Getenv(probeEnv); abi != "" {
		os.Exit(probeChild(abi))
	}
}

// probeChild makes one getpid through abi and prints "<result> <pid>".
func probeChild(abi string) int {
	if err := compat.SimulateIfRequested(); err != nil {
		fmt.Fprintf(os.Stderr, "testutil: %v\n", err)
		return 3
	}
	compat.DefaultFaultSignals()
	var r int64
	switch abi {
	case "ia32":
		r = compat.Int80(compat.IA32Getpid)
	case "x32":
		v, e := compat.X32(compat.X32Getpid)
		r = int64(v)
		if e != 0 {
			r = -int64(e)
		}
	default:
		return 3
	}
	fmt.Printf("%d %d\n", r, os.Getpid())
	return 0
}

var (
	probeMu    sync.Mutex
	probeCache = map[string]ABIProbe{}
)

// ProbeIA32 reports what this kernel does with an ia32 call (int $0x80
// getpid) from a 64-bit process, found by making it in a child process
// (the test binary re-executed; a refused call kills only the child). It
// fails t if the probe cannot run; off amd64 it skips t.
func ProbeIA32(t testing.TB) ABIProbe { return probe(t, "ia32") }

// ProbeX32 is ProbeIA32 for an x32 call (getpid | __X32_SYSCALL_BIT).
func ProbeX32(t testing.TB) ABIProbe { return probe(t, "x32") }

func probe(t testing.TB, abi string) ABIProbe {
	t.Helper()
	if !compat.Supported {
		t.Skipf("%s calls need an amd64 build", abi)
	}
	probeMu.Lock()
	defer probeMu.Unlock()
	if p, ok := probeCache[abi]; ok {
		return p
	}
	p, err := runProbe(abi)
	if err != nil {
		t.Fatalf("probing %s: %v", abi, err)
	}
	probeCache[abi] = p
	return p
}

func runProbe(abi string) (ABIProbe, error) {
	p := ABIProbe{ABI: abi, Simulated: abi == "ia32" && os.Getenv(SimulateIA32OffEnv) == "off"}
	if abi == "ia32" {
		p.Hint = ia32Hint()
	} else {
		p.Hint = x32Hint()
	}
	self, err := os.Executable()
	if err != nil {
		return p, err
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), probeEnv+"="+abi)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.State, p.Signal = ABIRefused, ws.Signal()
			return p, nil
		}
	}
	if err != nil {
		return p, fmt.Errorf("probe child: %v: %s", err, errb.String())
	}
	f := strings.Fields(out.String())
	if len(f) != 2 {
		return p, fmt.Errorf("probe child printed %q", out.String())
	}
	r, err1 := strconv.ParseInt(f[0], 10, 64)
	pid, err2 := strconv.ParseInt(f[1], 10, 64)
	switch {
	case err1 != nil || err2 != nil:
		return p, fmt.Errorf("probe child printed %q", out.String())
	case r == pid:
		p.State = ABIWorks
	case r == -int64(syscall.ENOSYS):
		p.State = ABINoSys
	default:
		return p, fmt.Errorf("%s getpid returned %d in pid %d", abi, r, pid)
	}
	return p, nil
}

// ia32Hint reads the boot command line and the kernel configuration.
func ia32Hint() string {
	var hints []string
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if strings.HasPrefix(f, "ia32_emulation=") {
				hints = append(hints, "cmdline "+f)
			}
		}
	}
	hints = append(hints, kernelConfig("CONFIG_IA32_EMULATION", "CONFIG_IA32_EMULATION_DEFAULT_DISABLED")...)
	return strings.Join(hints, ", ")
}

func x32Hint() string { return strings.Join(kernelConfig("CONFIG_X86_X32_ABI"), ", ") }

// kernelConfig returns the named options' lines from /proc/config.gz or
// /boot/config-<release> ("CONFIG_X=y", "CONFIG_Y unset").
func kernelConfig(names ...string) []string {
	var r io.Reader
	if f, err := os.Open("/proc/config.gz"); err == nil {
		defer f.Close()
		if zr, err := gzip.NewReader(f); err == nil {
			r = zr
		}
	}
	if r == nil {
		var u unix.Utsname
		if unix.Uname(&u) != nil {
			return nil
		}
		f, err := os.Open(filepath.Join("/boot", "config-"+unix.ByteSliceToString(u.Release[:])))
		if err != nil {
			return nil
		}
		defer f.Close()
		r = f
	}
	found := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(r, 1<<22))
	for sc.Scan() {
		line := sc.Text()
		for _, n := range names {
			if strings.HasPrefix(line, n+"=") || line == "# "+n+" is not set" {
				found[n] = line
			}
		}
	}
	var out []string
	for _, n := range names {
		if l, ok := found[n]; ok {
			out = append(out, strings.TrimPrefix(l, "# "))
		} else {
			out = append(out, n+" absent")
		}
	}
	return out
}

// BuildCompat builds the compat command (internal/testutil/compat/cmd/compat)
// into a temporary directory and returns its path.
func BuildCompat(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "compat")
	cmd := exec.Command("go", "build", "-o", out, "github.com/sysward/sysward/internal/testutil/compat/cmd/compat")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the compat command: %v\n%s", err, b)
	}
	return out
}
