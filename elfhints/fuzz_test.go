package elfhints

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParse: any bytes give a Binary or an error, never a panic or a hang.
func FuzzParse(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	for _, p := range []string{"/bin/true", "/bin/busybox"} {
		if data, err := os.ReadFile(p); err == nil && len(data) < 4<<20 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parse(bytes.NewReader(data))
		if err == nil {
			Hints(b)
		}
	})
}
