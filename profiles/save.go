package profiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Canonical returns a canonical copy of p (p is not modified):
// architectures and flags sorted and deduplicated; entries with the same
// action, errnoRet and argument conditions joined into one with sorted,
// deduplicated names; argument conditions sorted; entries ordered by action
// (most permissive first), errnoRet (none first), conditions (none first),
// first name; provenance sorted and deduplicated; stats arches sorted; empty
// sysward metadata dropped. The result means exactly what p means.
func Canonical(p *Profile) *Profile {
	c := p.Clone()
	c.Architectures = sortedUniqueArch(c.Architectures)
	if len(c.Architectures) == 0 {
		c.Architectures = nil
	}
	c.Flags = sortedUniqueFlags(c.Flags)
	if len(c.Flags) == 0 {
		c.Flags = nil
	}
	type group struct {
		s   specs.LinuxSyscall
		key string
	}
	groups := map[string]*group{}
	var order []*group
	for _, s := range c.Syscalls {
		s.Args = sortedArgs(s.Args)
		if len(s.Args) == 0 {
			s.Args = nil
		}
		k := string(s.Action) + "\x00" + errnoText(s.ErrnoRet) + "\x00" + argsKey(s.Args)
		g := groups[k]
		if g == nil {
			g = &group{s: specs.LinuxSyscall{Action: s.Action, ErrnoRet: s.ErrnoRet, Args: s.Args}, key: argsKey(s.Args)}
			groups[k] = g
			order = append(order, g)
		}
		g.s.Names = append(g.s.Names, s.Names...)
	}
	c.Syscalls = nil
	for _, g := range order {
		g.s.Names = sortedUnique(g.s.Names)
		if len(g.s.Names) == 0 {
			continue
		}
		c.Syscalls = append(c.Syscalls, g.s)
	}
	sort.SliceStable(c.Syscalls, func(i, j int) bool {
		a, b := c.Syscalls[i], c.Syscalls[j]
		if pa, pb := permissiveness(a.Action), permissiveness(b.Action); pa != pb {
			return pa > pb
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		if (a.ErrnoRet == nil) != (b.ErrnoRet == nil) {
			return a.ErrnoRet == nil
		}
		if a.ErrnoRet != nil && *a.ErrnoRet != *b.ErrnoRet {
			return *a.ErrnoRet < *b.ErrnoRet
		}
		ka, kb := argsKey(a.Args), argsKey(b.Args)
		if (ka == "") != (kb == "") {
			return ka == ""
		}
		if a.Names[0] != b.Names[0] {
			return a.Names[0] < b.Names[0]
		}
		return ka < kb
	})
	if m := c.Sysward; m != nil {
		m.Provenance = sortedProvenance(m.Provenance)
		for k, st := range m.Stats {
			st.Arches = sortedUniqueArches(st.Arches)
			st.Sources = sortedUniqueStrings(st.Sources)
			m.Stats[k] = st
		}
		if len(m.Stats) == 0 {
			m.Stats = nil
		}
		for k, r := range m.Reachable {
			if r = sortedUniqueStrings(r); len(r) == 0 {
				delete(m.Reachable, k)
			} else {
				m.Reachable[k] = r
			}
		}
		if len(m.Reachable) == 0 {
			m.Reachable = nil
		}
		if len(m.Provenance) == 0 && m.Stats == nil && m.Reachable == nil {
			c.Sysward = nil
		}
	}
	return c
}

// Marshal returns the canonical JSON of p (see Canonical), two-space
// indented, HTML characters not escaped, with a trailing newline.
func Marshal(p *Profile) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeJSON(&b, Canonical(p)); err != nil {
		return nil, fmt.Errorf("encoding profile: %w", err)
	}
	return b.Bytes(), nil
}

// Write writes the canonical JSON of p to w.
func (p *Profile) Write(w io.Writer) error {
	data, err := Marshal(p)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// SaveFile writes the canonical JSON of p to path atomically.
func SaveFile(path string, p *Profile) error {
	data, err := Marshal(p)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o644)
}

// encodeJSON writes v as indented JSON without HTML escaping.
func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteFileAtomic writes data to path so that readers see either the old
// file or the complete new one, when path is absent or a regular file (or a
// symbolic link to one: the file it leads to is replaced, the link kept).
// Anything else at path (a character device such as /dev/stdout on a
// terminal, a FIFO) is written to directly: renaming over it would replace
// the device or the link with a regular file. See CreateOutput.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	o, err := CreateOutput(path, perm)
	if err != nil {
		return err
	}
	if _, err := o.Write(data); err != nil {
		o.Abort()
		return err
	}
	return o.Commit()
}

// Output is a file being written to a destination path (CreateOutput).
// Write, then Commit; Abort on failure. Not safe for concurrent use.
type Output struct {
	path string // destination as given, for messages
	dst  string // where the temporary file is renamed to; "" when streaming
	f    *os.File
	perm os.FileMode
	done bool
}

// CreateOutput starts writing to path. When path is absent or a regular
// file, or a symbolic link to a regular file, the data go to a temporary
// file in the destination's directory, which Commit fsyncs and renames over
// the destination (the link's target, so the link stays), then fsyncs the
// directory: readers see the old file or the complete new one, and after an
// error or Abort nothing is left behind. Any other file type (character
// device, FIFO) is opened and written to directly ("streamed"), as a shell
// redirection would; a directory or a dangling symbolic link is an error.
func CreateOutput(path string, perm os.FileMode) (*Output, error) {
	o := &Output{path: path, perm: perm}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, lerr := os.Lstat(path); lerr == nil {
			return nil, fmt.Errorf("writing %s: symbolic link to a missing file", path)
		}
		o.dst = path
	case err != nil:
		return nil, fmt.Errorf("writing %s: %w", path, err)
	case fi.Mode().IsRegular():
		if o.dst, err = filepath.EvalSymlinks(path); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	case fi.IsDir():
		return nil, fmt.Errorf("writing %s: is a directory", path)
	default: // device, FIFO: stream
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		o.f = f
		return o, nil
	}
	dir, base := filepath.Split(o.dst)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	o.f = f
	return o, nil
}

// Streaming reports whether o writes straight to the destination (a device
// or FIFO) instead of replacing it atomically.
func (o *Output) Streaming() bool { return o.dst == "" }

// Write writes to the temporary file (or the streamed destination).
func (o *Output) Write(b []byte) (int, error) {
	n, err := o.f.Write(b)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", o.path, err)
	}
	return n, err
}

// Commit finishes the output: for an atomic replacement it fsyncs the
// temporary file, renames it over the destination and fsyncs the
// directory; a stream is closed. On error the temporary file is removed.
func (o *Output) Commit() (err error) {
	if o.done {
		return fmt.Errorf("writing %s: already finished", o.path)
	}
	o.done = true
	if o.Streaming() {
		if err := o.f.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", o.path, err)
		}
		return nil
	}
	tmp := o.f.Name()
	defer func() {
		if err != nil {
			o.f.Close()
			os.Remove(tmp)
		}
	}()
	if err = o.f.Chmod(o.perm); err != nil {
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	if err = o.f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", o.path, err)
	}
	if err = o.f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	if err = os.Rename(tmp, o.dst); err != nil {
		return fmt.Errorf("renaming into %s: %w", o.path, err)
	}
	if d, derr := os.Open(filepath.Dir(o.dst)); derr == nil {
		_ = d.Sync() // best effort: the rename is done
		d.Close()
	}
	return nil
}

// Abort drops the output: the temporary file is removed (the destination
// is untouched), a stream closed. Safe after Commit.
func (o *Output) Abort() {
	if o.done {
		return
	}
	o.done = true
	o.f.Close()
	if !o.Streaming() {
		os.Remove(o.f.Name())
	}
}

func sortedArgs(args []specs.LinuxSeccompArg) []specs.LinuxSeccompArg {
	out := append([]specs.LinuxSeccompArg(nil), args...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		if a.Value != b.Value {
			return a.Value < b.Value
		}
		return a.ValueTwo < b.ValueTwo
	})
	return out
}

func sortedUniqueArch(as []specs.Arch) []specs.Arch {
	sort.Slice(as, func(i, j int) bool { return as[i] < as[j] })
	out := as[:0]
	for i, a := range as {
		if i == 0 || a != as[i-1] {
			out = append(out, a)
		}
	}
	return out
}

func sortedUniqueArches(as []Arch) []Arch {
	sort.Slice(as, func(i, j int) bool { return as[i] < as[j] })
	out := as[:0]
	for i, a := range as {
		if i == 0 || a != as[i-1] {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func sortedUniqueFlags(fs []specs.LinuxSeccompFlag) []specs.LinuxSeccompFlag {
	sort.Slice(fs, func(i, j int) bool { return fs[i] < fs[j] })
	out := fs[:0]
	for i, f := range fs {
		if i == 0 || f != fs[i-1] {
			out = append(out, f)
		}
	}
	return out
}

func provKey(p Provenance) string {
	return strings.Join([]string{
		p.Started.UTC().Format("2006-01-02T15:04:05.000000000Z"), p.Ended.UTC().Format("2006-01-02T15:04:05.000000000Z"),
		p.Host, p.Target, p.Workload, p.Kernel, p.Tool, p.Started.String(), p.Ended.String(),
	}, "\x00")
}

func sortedProvenance(ps []Provenance) []Provenance {
	out := append([]Provenance(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool { return provKey(out[i]) < provKey(out[j]) })
	res := out[:0]
	for i, p := range out {
		if i == 0 || provKey(p) != provKey(out[i-1]) {
			res = append(res, p)
		}
	}
	if len(res) == 0 {
		return nil
	}
	return res
}

// sortedUniqueStrings returns a sorted copy of ss without duplicates (nil
// when empty).
func sortedUniqueStrings(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return slices.Compact(out)
}
