package profiler

import (
	"errors"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/testutil"
)

// TestLoadWithoutCaps drops the effective capabilities of one locked thread
// and checks that Load's privilege check names what is missing.
func TestLoadWithoutCaps(t *testing.T) {
	testutil.Require(t, testutil.Root)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var saved [2]unix.CapUserData
	if err := unix.Capget(&hdr, &saved[0]); err != nil {
		t.Fatal(err)
	}
	dropped := saved
	dropped[0].Effective, dropped[1].Effective = 0, 0
	if err := unix.Capset(&hdr, &dropped[0]); err != nil {
		t.Fatal(err)
	}
	err := checkCaps()
	if rerr := unix.Capset(&hdr, &saved[0]); rerr != nil {
		t.Fatalf("restoring capabilities: %v", rerr)
	}
	if !errors.Is(err, ErrPermission) {
		t.Errorf("checkCaps without capabilities = %v, want ErrPermission", err)
	}
	if err := checkCaps(); err != nil {
		t.Errorf("checkCaps as root = %v", err)
	}
}
