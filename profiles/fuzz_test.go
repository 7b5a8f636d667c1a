package profiles

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadProfile: Parse never panics; an accepted profile saves, reloads
// and saves again to the same bytes (the canonical form is a fixed point),
// and a rejected one always yields a positioned *Error.
func FuzzLoadProfile(f *testing.F) {
	for _, glob := range []string{"../examples/profiles/*.json", "testdata/canonicalize/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"defaultAction": "SCMP_ACT_ALLOW"}`,
		`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`,
		`{"defaultAction": "SCMP_ACT_ERRNO", "sysward": {"stats": {"read": {"sessions": 1}}}}`,
		`{"defaultAction": 1}`, `{"defaultAction": "SCMP_ACT_ERRNO",}`, "{\"a\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.json", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *profiles.Error: %T %v", err, err)
			}
			if pe.File != "fuzz.json" {
				t.Fatalf("error without file: %v", err)
			}
			return
		}
		out, err := Marshal(p)
		if err != nil {
			t.Fatalf("Marshal of an accepted profile: %v", err)
		}
		q, err := Parse("saved.json", out)
		if err != nil {
			t.Fatalf("saved profile does not load: %v\n%s", err, out)
		}
		out2, err := Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("canonical form is not a fixed point:\n%s\n---\n%s", out, out2)
		}
		_ = Lint(p) // must not panic on any valid profile
	})
}
