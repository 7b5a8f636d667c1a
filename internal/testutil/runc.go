package testutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// Runc requires what BusyboxBundle and RunRunc need: root, runc and a static busybox.
func Runc() error {
	var missing []string
	if err := Root(); err != nil {
		missing = append(missing, err.Error())
	}
	if err := Binary("runc")(); err != nil {
		missing = append(missing, err.Error())
	}
	if err := staticBusybox(); err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, ", "))
	}
	return nil
}

func staticBusybox() error {
	out, err := exec.Command("file", "-L", BusyboxPath).CombinedOutput()
	if err != nil {
		if _, serr := os.Stat(BusyboxPath); serr != nil {
			return fmt.Errorf("static busybox at %s (Debian busybox-static)", BusyboxPath)
		}
		return nil // no file(1); trust it
	}
	if !bytes.Contains(out, []byte("statically linked")) && !bytes.Contains(out, []byte("static-pie")) {
		return fmt.Errorf("static busybox at %s (Debian busybox-static, not busybox)", BusyboxPath)
	}
	return nil
}

// BusyboxBundle makes an OCI bundle in a temporary directory: a rootfs holding
// a static busybox with its applet links, and a config.json from `runc spec`
// running args with no terminal. mutate, if non-nil, edits the spec before it
// is written (set Linux.Seccomp there). It returns the bundle directory.
func BusyboxBundle(t testing.TB, args []string, mutate func(*specs.Spec)) string {
	t.Helper()
	Require(t, Runc)
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		_ = os.Symlink("busybox", filepath.Join(rootfs, "bin", applet))
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "hostname"), []byte("sysward-test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	cfgPath := filepath.Join(bundle, "config.json")
	var spec specs.Spec
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Process.Env = []string{"PATH=/bin", "HOME=/root"}
	spec.Root.Readonly = false
	if mutate != nil {
		mutate(&spec)
	}
	raw, err = json.MarshalIndent(&spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// ContainerID returns a container id unique to this test and moment.
func ContainerID(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("sw-%s-%d", strings.ToLower(name), time.Now().UnixNano()%1e9)
}

// RunRunc runs `runc run` on bundle with id and returns its combined output
// and exit status. The container is deleted afterwards.
func RunRunc(t testing.TB, bundle, id string) (string, int) {
	t.Helper()
	cmd := exec.Command("runc", "run", "--bundle", bundle, id)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	_ = exec.Command("runc", "delete", "--force", id).Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("runc run: %v", err)
		}
		code = ee.ExitCode()
	}
	return buf.String(), code
}
