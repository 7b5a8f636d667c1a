package profiler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bpfFDs counts this process's eBPF file descriptors by kind
// ("bpf-prog", "bpf-map", "bpf-link"), from /proc/self/fd.
func bpfFDs(t *testing.T) map[string]int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue
		}
		if k, ok := strings.CutPrefix(target, "anon_inode:"); ok && strings.HasPrefix(k, "bpf") {
			m[strings.ReplaceAll(strings.Trim(k, "[]"), "_", "-")]++
		}
	}
	return m
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestNoLeaks: links, programs, maps and cgroup directories are all released
// after a normal session, an interrupted one and one that fails.
func TestNoLeaks(t *testing.T) {
	requireBPF(t)
	badExec := filepath.Join(t.TempDir(), "bad")
	// Found on PATH and executable, but execve fails (missing interpreter):
	// the error comes after the cgroup was created and tracked.
	if err := os.WriteFile(badExec, []byte("#!/nonexistent/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		timeout time.Duration
		wantErr bool
	}{
		{"normal", []string{"true"}, 0, false},
		{"interrupted", []string{"sh", "-c", "sleep 30 & sleep 30"}, 300 * time.Millisecond, false},
		{"exec fails", []string{badExec}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fdsBefore, dirsBefore := bpfFDs(t), learnDirs(t)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			var during map[string]int
			_, err := Learn(ctx, Target{Command: tc.args}, &LearnOptions{
				Tracking: func(uint64, string) { during = bpfFDs(t) },
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Learn: %v, want error %v", err, tc.wantErr)
			}
			if during["bpf-link"] == 0 || during["bpf-prog"] == 0 || during["bpf-map"] == 0 {
				t.Fatalf("during the session: %v, want links, programs and maps (is the count broken?)", during)
			}
			if after := bpfFDs(t); !sameCounts(after, fdsBefore) {
				t.Errorf("bpf fds before %v, after %v", fdsBefore, after)
			}
			if after := learnDirs(t); after != dirsBefore {
				t.Errorf("learn cgroup dirs before %d, after %d", dirsBefore, after)
			}
		})
	}
}
