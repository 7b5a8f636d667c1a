package testutil

import (
	"os"
	"syscall"
	"testing"
)

// TestProbeABIs runs the real probes on this kernel and checks they agree
// with what the kernel configuration promises where it promises anything.
func TestProbeABIs(t *testing.T) {
	ia32, x32 := ProbeIA32(t), ProbeX32(t)
	t.Logf("%v", ia32)
	t.Logf("%v", x32)
	if os.Getenv(SimulateIA32OffEnv) == "off" {
		if ia32.State != ABIRefused || ia32.Signal != syscall.SIGSYS {
			t.Errorf("%s=off: ia32 probe %v, want refused with SIGSYS", SimulateIA32OffEnv, ia32)
		}
	}
	if x32.State == ABIRefused {
		t.Errorf("x32 refused (%v): the kernel always enters the syscall path for it", x32)
	}
}
