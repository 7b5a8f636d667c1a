// Package cgroups finds the cgroup2 hierarchy and maps cgroup ids (the inode
// number of a cgroup2 directory, which is what bpf_get_current_cgroup_id
// returns) to paths and back.
//
// Hosts differ: a pure cgroup2 host mounts it at /sys/fs/cgroup, a hybrid
// host (systemd's "hybrid" layout, this CI machine) at /sys/fs/cgroup/unified.
// Nothing here hard-codes either; the mount table decides.
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrNoCgroup2 means no cgroup2 filesystem is mounted.
var ErrNoCgroup2 = errors.New("no cgroup2 filesystem mounted")

var (
	mountOnce sync.Once
	mountPath string
	mountErr  error
)

// Mountpoint returns where the cgroup2 hierarchy is mounted, read from
// /proc/self/mountinfo (the first cgroup2 mount wins).
func Mountpoint() (string, error) {
	mountOnce.Do(func() { mountPath, mountErr = findMount("/proc/self/mountinfo") })
	return mountPath, mountErr
}

func findMount(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", fmt.Errorf("reading mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		line := sc.Text()
		sep := strings.Index(line, " - ")
		if sep < 0 {
			continue
		}
		post := strings.Fields(line[sep+3:])
		pre := strings.Fields(line[:sep])
		if len(post) < 1 || len(pre) < 5 || post[0] != "cgroup2" {
			continue
		}
		return unescape(pre[4]), nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading mount table: %w", err)
	}
	return "", ErrNoCgroup2
}

// unescape undoes mountinfo's octal escapes (\040 for space and so on).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ID returns the cgroup id of a cgroup2 directory: its inode number.
func ID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	return st.Ino, nil
}

// FindIDs walks the cgroup2 hierarchy under root (at most maxDirs
// directories) for the directories whose ids are in want, and returns them
// by id; ids not found are absent.
func FindIDs(root string, want map[uint64]bool, maxDirs int) map[uint64]string {
	found := map[uint64]string{}
	n := 0
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if n++; n > maxDirs || len(found) == len(want) {
			return filepath.SkipAll
		}
		if id, err := ID(p); err == nil && want[id] {
			found[id] = p
		}
		return nil
	})
	return found
}

// OfPID returns the absolute cgroup2 directory of a process, from
// /proc/PID/cgroup (the "0::" line).
func OfPID(pid int) (string, error) {
	mnt, err := Mountpoint()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", fmt.Errorf("pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mnt, rel), nil
		}
	}
	return "", fmt.Errorf("pid %d: no cgroup2 entry in /proc/%d/cgroup", pid, pid)
}

// Resolve turns a user-supplied cgroup path (absolute under the mount, or
// relative to it) into an absolute directory that exists.
func Resolve(path string) (string, error) {
	mnt, err := Mountpoint()
	if err != nil {
		return "", err
	}
	p := path
	if !strings.HasPrefix(p, mnt+"/") && p != mnt {
		p = filepath.Join(mnt, strings.TrimPrefix(path, "/"))
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("cgroup %q: %w", path, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("cgroup %q: not a directory", path)
	}
	return p, nil
}
