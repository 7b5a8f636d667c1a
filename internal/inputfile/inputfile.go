// Package inputfile is sysward's one way to read a file that a user or an
// attacker can shape: a profile, a rules file, an events file, an outputs
// config, a CA bundle, a file in the node agent's profiles directory.
//
// Read refuses anything that is not a regular file (a FIFO would block the
// reader for good; /dev/zero or a symlink to it never ends) and anything
// larger than the caller's cap, before and while reading, so a bad input
// costs at most cap+1 bytes of memory and never blocks. Symlinks are
// followed: the file they lead to is what is checked.
//
// The check is made twice: on the path (stat) so that a device is never
// opened (opening some devices has effects), then on the opened descriptor
// (fstat), so a file swapped after the stat is still caught. The open uses
// O_NONBLOCK, so opening a FIFO returns at once instead of waiting for a
// writer.
//
// Errors name the path; ErrNotRegular and ErrTooLarge are matched with
// errors.Is.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/sysward/sysward/profiles"
)

var (
	// ErrNotRegular: the path is a FIFO, a device, a socket or a directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file is larger than the caller's cap.
	ErrTooLarge = errors.New("file too large")
)

// Read returns the content of the regular file at path, at most max bytes:
// a non-regular file is refused with ErrNotRegular, a larger one with
// ErrTooLarge (also when it grows past max while being read).
func Read(path string, max int64) ([]byte, error) {
	f, err := open(path, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, tooLarge(path, max)
	}
	return data, nil
}

// Open opens the regular file at path for a caller that streams it (a
// record, a log) and bounds what it reads itself: anything else is refused
// with ErrNotRegular, checked on the path before opening (a device is never
// opened) and on the opened descriptor.
func Open(path string) (*os.File, error) {
	return open(path, -1)
}

// open is Open with Read's size cap (max < 0: none).
func open(path string, max int64) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	if err := check(path, fi, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err != nil { // fstat: the file we will read
		f.Close()
		return nil, err
	}
	if err := check(path, fi, max); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func check(path string, fi fs.FileInfo, max int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, Kind(fi.Mode()))
	}
	if max >= 0 && fi.Size() > max {
		return tooLarge(path, max)
	}
	return nil
}

func tooLarge(path string, max int64) error {
	return fmt.Errorf("%s: %w: over the limit of %s", path, ErrTooLarge, Size(max))
}

// Kind names the type of file m describes, for messages.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "irregular file"
}

// Size formats n bytes for messages and flag help: "4 MiB", "512 KiB",
// "100 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Profile reads the profile at path (at most profiles.MaxFileSize) and
// parses it strictly (profiles.Parse): the one way sysward loads a profile
// file, so profiles itself stays free of sysward imports.
func Profile(path string) (*profiles.Profile, error) {
	data, err := Read(path, profiles.MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	return profiles.Parse(path, data)
}
