package testutil

import (
	"strings"
	"testing"
)

func TestBusyboxBundleRuns(t *testing.T) {
	b := BusyboxBundle(t, []string{"sh", "-c", "cat /etc/hostname; exit 3"}, nil)
	out, code := RunRunc(t, b, ContainerID(t))
	if code != 3 || !strings.Contains(out, "sysward-test") {
		t.Fatalf("runc: status %d, output %q", code, out)
	}
}
