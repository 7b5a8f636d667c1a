package cgroups

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindMount(t *testing.T) {
	cases := []struct {
		name, mountinfo, want string
		wantErr               error
	}{
		{"hybrid", "30 23 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n35 30 0:30 / /sys/fs/cgroup/unified rw,relatime shared:6 - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/unified", nil},
		{"pure", "35 30 0:30 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup", nil},
		{"escaped", "35 30 0:30 / /mnt/my\\040cg rw - cgroup2 none rw\n", "/mnt/my cg", nil},
		{"none", "30 23 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", "", ErrNoCgroup2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(f, []byte(c.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := findMount(f)
			if err != c.wantErr || got != c.want {
				t.Fatalf("findMount = %q, %v; want %q, %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestOfSelf(t *testing.T) {
	if _, err := Mountpoint(); err != nil {
		t.Skip(err)
	}
	dir, err := OfPID(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ID(dir); err != nil {
		t.Fatal(err)
	}
}
