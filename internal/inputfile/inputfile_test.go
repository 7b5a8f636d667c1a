package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRead: regular files (and links to them) are read; FIFOs, devices,
// directories and files over the cap are refused with an error naming the
// path, promptly.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.json")
	os.WriteFile(small, []byte("0123456789"), 0o644)
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		max  int64
		err  error
		kind string
	}{
		{"regular", small, 10, nil, ""},
		{"symlink to regular", link("link.json", small), 10, nil, ""},
		{"over the cap", small, 9, ErrTooLarge, "over the limit of 9 bytes"},
		{"FIFO", fifo, 10, ErrNotRegular, "FIFO"},
		{"symlink to FIFO", link("lfifo.json", fifo), 10, ErrNotRegular, "FIFO"},
		{"/dev/zero", "/dev/zero", 10, ErrNotRegular, "character device"},
		{"symlink to /dev/zero", link("zero.json", "/dev/zero"), 10, ErrNotRegular, "character device"},
		{"directory", dir, 10, ErrNotRegular, "directory"},
		// /proc files say size 0: the cap holds while reading.
		{"proc file over the cap", "/proc/self/status", 16, ErrTooLarge, "over the limit of 16 bytes"},
		{"missing", filepath.Join(dir, "nope"), 10, os.ErrNotExist, "no such file"},
		{"symlink loop", link("loop.json", filepath.Join(dir, "loop.json")), 10, syscall.ELOOP, "too many levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var data []byte
			var err error
			go func() {
				data, err = Read(tt.path, tt.max)
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second): // a failure detector only: Read never waits
				t.Fatalf("Read(%s) blocked", tt.path)
			}
			if tt.err == nil {
				if err != nil || string(data) != "0123456789" {
					t.Fatalf("Read = %q, %v", data, err)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("Read = %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.kind) {
				t.Fatalf("error %q should name %s and say %q", err, tt.path, tt.kind)
			}
			if data != nil {
				t.Fatalf("data returned with an error")
			}
		})
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{4 << 20: "4 MiB", 512 << 10: "512 KiB", 1000: "1000 bytes", 64 << 20: "64 MiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
