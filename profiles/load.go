package profiles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxErrors bounds how many problems one Parse reports.
const maxErrors = 20

// MaxFileSize is the largest profile Parse accepts: 4 MiB. A learned
// profile with statistics for every syscall on five architectures is under
// 200 KiB, Docker's default profile 20 KiB; parsing takes about seven times
// the file's size in memory, so the cap bounds a hostile file to ~30 MB.
const MaxFileSize = 4 << 20

// Parse strictly parses a profile; name is used in errors (usually the file
// path). Every problem found (up to 20) is reported as an *Error wrapping a
// sentinel; several are joined with errors.Join. Data longer than
// MaxFileSize is refused with ErrTooLarge. Reading a profile file is
// sysward's internal/inputfile.Profile (a regular file, at most
// MaxFileSize): profiles itself opens no files.
func Parse(name string, data []byte) (*Profile, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: name, Err: ErrTooLarge, Detail: fmt.Sprintf("%d bytes, over the limit of %d", len(data), MaxFileSize)}
	}
	w := &walker{file: name, data: data, pos: map[string]int{}}
	w.dec = json.NewDecoder(bytes.NewReader(data))
	w.dec.UseNumber()
	if err := w.document(); err != nil {
		return nil, err
	}
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}
	p := &Profile{}
	if err := json.Unmarshal(data, p); err != nil {
		// The walker checked every type; this is a gap in it, still bad input.
		return nil, &Error{File: name, Err: ErrType, Detail: err.Error()}
	}
	errs := validate(p, w.errorAt)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Validate checks an in-memory profile with the rules Parse applies after
// decoding (errors carry the JSON path but no line).
func (p *Profile) Validate() error {
	return errors.Join(validate(p, func(field, value string, err error, detail string) *Error {
		return &Error{Field: field, Value: value, Err: err, Detail: detail}
	})...)
}

// ---- structural pass: positions, unknown/duplicate keys, JSON types ----

type kind int

const (
	kObject kind = iota // fixed fields
	kMap                // any keys, elem schema
	kArray
	kString
	kUint
	kInt
	kTime
)

type node struct {
	kind   kind
	fields map[string]*node
	elem   *node
	// docker names keys of Docker's extended format at this level.
	docker map[string]bool
}

var (
	nString = &node{kind: kString}
	nUint   = &node{kind: kUint}
	nInt    = &node{kind: kInt}
	nTime   = &node{kind: kTime}
)

func arrayOf(n *node) *node { return &node{kind: kArray, elem: n} }

var profileSchema = &node{kind: kObject, fields: map[string]*node{
	"defaultAction":    nString,
	"defaultErrnoRet":  nUint,
	"architectures":    arrayOf(nString),
	"flags":            arrayOf(nString),
	"listenerPath":     nString,
	"listenerMetadata": nString,
	"syscalls": arrayOf(&node{kind: kObject, fields: map[string]*node{
		"names":    arrayOf(nString),
		"action":   nString,
		"errnoRet": nUint,
		"args": arrayOf(&node{kind: kObject, fields: map[string]*node{
			"index":    nUint,
			"value":    nUint,
			"valueTwo": nUint,
			"op":       nString,
		}}),
	}, docker: map[string]bool{"name": true, "comment": true, "includes": true, "excludes": true}}),
	"sysward": {kind: kObject, fields: map[string]*node{
		"provenance": arrayOf(&node{kind: kObject, fields: map[string]*node{
			"tool": nString, "host": nString, "kernel": nString, "target": nString,
			"workload": nString, "started": nTime, "ended": nTime,
		}}),
		"stats": {kind: kMap, elem: &node{kind: kObject, fields: map[string]*node{
			"firstSeen": nTime,
			"arches":    arrayOf(nString),
			"sessions":  nInt,
			"sources":   arrayOf(nString),
		}}},
		"reachable": {kind: kMap, elem: arrayOf(nString)},
	}},
}, docker: map[string]bool{"archMap": true}}

type walker struct {
	file string
	data []byte
	dec  *json.Decoder
	pos  map[string]int // JSON path → byte offset of its value
	errs []error
}

// errorAt builds an *Error for field, positioned at the field's value.
func (w *walker) errorAt(field, value string, err error, detail string) *Error {
	e := &Error{File: w.file, Field: field, Value: value, Err: err, Detail: detail}
	if off, ok := w.pos[field]; ok {
		e.Line, e.Col = lineCol(w.data, off)
	}
	return e
}

func (w *walker) add(e *Error) {
	if len(w.errs) < maxErrors {
		w.errs = append(w.errs, e)
	}
}

func (w *walker) syntaxError(err error) error {
	off := int(w.dec.InputOffset())
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = int(se.Offset)
		err = errors.New(se.Error())
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		off = len(w.data)
		err = errors.New("unexpected end of input")
	}
	e := &Error{File: w.file, Err: ErrSyntax, Detail: err.Error()}
	e.Line, e.Col = lineCol(w.data, off)
	return e
}

// next returns the offset where the next value starts.
func (w *walker) next() int {
	off := int(w.dec.InputOffset())
	for off < len(w.data) {
		switch w.data[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
			continue
		}
		break
	}
	return off
}

func (w *walker) document() error {
	if len(bytes.TrimSpace(w.data)) == 0 {
		return &Error{File: w.file, Line: 1, Col: 1, Err: ErrSyntax, Detail: "empty file"}
	}
	if err := w.value("", profileSchema); err != nil {
		return err
	}
	off := w.next()
	if _, err := w.dec.Token(); err != io.EOF {
		e := &Error{File: w.file, Err: ErrSyntax, Detail: "data after the profile's closing brace"}
		e.Line, e.Col = lineCol(w.data, off)
		return e
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// value consumes one JSON value at path, checking it against n. It returns
// only syntax errors (which end the walk); schema problems go to w.errs.
func (w *walker) value(path string, n *node) error {
	start := w.next()
	w.pos[path] = start
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntaxError(err)
	}
	field := path
	if field == "" {
		field = "(top level)"
	}
	typeErr := func(want string) {
		w.add(w.errorAt(path, tokenText(tok), ErrType, "want "+want))
	}
	switch n.kind {
	case kObject, kMap:
		d, ok := tok.(json.Delim)
		if !ok || d != '{' {
			if path == "" {
				e := &Error{File: w.file, Err: ErrType, Value: tokenText(tok), Detail: "a profile is a JSON object"}
				e.Line, e.Col = lineCol(w.data, start)
				return e
			}
			typeErr("an object")
			return w.skipRest(tok)
		}
		seen := map[string]bool{}
		for w.dec.More() {
			keyOff := w.next()
			kt, err := w.dec.Token()
			if err != nil {
				return w.syntaxError(err)
			}
			key := kt.(string)
			kpath := join(path, key)
			if seen[key] {
				e := &Error{File: w.file, Field: kpath, Err: ErrDuplicateKey, Value: key}
				e.Line, e.Col = lineCol(w.data, keyOff)
				w.add(e)
			}
			seen[key] = true
			var child *node
			if n.kind == kMap {
				child = n.elem
			} else {
				child = n.fields[key]
			}
			if child == nil {
				e := &Error{File: w.file, Field: kpath, Err: ErrUnknownField, Value: key}
				if n.docker[key] {
					e.Err = ErrDockerFormat
					e.Detail = "conditional/annotated entries are a template, not a runtime profile; resolve it with `sysward profile export --docker-default` or drop the key"
				} else if s := suggest(key, fieldNames(n)); s != "" {
					e.Detail = "did you mean " + strconv.Quote(s) + "?"
				} else {
					e.Detail = "known: " + strings.Join(fieldNames(n), ", ")
				}
				e.Line, e.Col = lineCol(w.data, keyOff)
				w.add(e)
				child = &node{kind: -1}
			}
			if err := w.value(kpath, child); err != nil {
				return err
			}
		}
		if _, err := w.dec.Token(); err != nil { // '}'
			return w.syntaxError(err)
		}
		if path == "" {
			if _, ok := seen["defaultAction"]; !ok {
				e := &Error{File: w.file, Field: "defaultAction", Err: ErrMissingField, Line: 1, Col: 1}
				w.add(e)
			}
		}
		return nil
	case kArray:
		d, ok := tok.(json.Delim)
		if !ok || d != '[' {
			typeErr("an array")
			return w.skipRest(tok)
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(fmt.Sprintf("%s[%d]", path, i), n.elem); err != nil {
				return err
			}
		}
		if _, err := w.dec.Token(); err != nil { // ']'
			return w.syntaxError(err)
		}
		return nil
	case kString, kTime:
		s, ok := tok.(string)
		if !ok {
			typeErr("a string")
			return w.skipRest(tok)
		}
		if n.kind == kTime {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				w.add(w.errorAt(path, s, ErrType, "want an RFC 3339 time"))
			}
		}
		return nil
	case kUint, kInt:
		num, ok := tok.(json.Number)
		if !ok {
			typeErr("a number")
			return w.skipRest(tok)
		}
		var perr error
		if n.kind == kUint {
			_, perr = strconv.ParseUint(num.String(), 10, 64)
			if perr == nil && (strings.HasSuffix(path, "errnoRet") || strings.HasSuffix(path, "ErrnoRet") || strings.HasSuffix(path, "index")) {
				_, perr = strconv.ParseUint(num.String(), 10, 32)
			}
		} else {
			_, perr = strconv.ParseInt(num.String(), 10, 32)
		}
		if perr != nil {
			want := "a non-negative integer"
			if n.kind == kInt {
				want = "an integer"
			}
			w.add(w.errorAt(path, num.String(), ErrType, want+" in range"))
		}
		return nil
	default: // unknown key: accept any value
		return w.skipRest(tok)
	}
}

// skipRest consumes the rest of a value whose first token was tok.
func (w *walker) skipRest(tok json.Token) error {
	d, ok := tok.(json.Delim)
	if !ok || (d != '{' && d != '[') {
		return nil
	}
	depth := 1
	for depth > 0 {
		t, err := w.dec.Token()
		if err != nil {
			return w.syntaxError(err)
		}
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
	}
	return nil
}

func tokenText(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		return string(t)
	case string:
		return t
	default:
		return fmt.Sprint(t)
	}
}

func fieldNames(n *node) []string {
	var out []string
	for k := range n.fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lineCol converts a byte offset to a 1-based line and byte column.
func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// ---- semantic pass ----

type errorFunc func(field, value string, err error, detail string) *Error

var ociArches = map[specs.Arch]bool{}

func init() {
	for _, a := range []specs.Arch{specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM,
		specs.ArchAARCH64, specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE,
		specs.ArchS390, specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64,
		specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB} {
		ociArches[a] = true
	}
}

// FlagTSync is SECCOMP_FILTER_FLAG_TSYNC, which the runtime-spec lists and
// runc accepts (a no-op there: libseccomp-golang always synchronises every
// thread). specs-go has no constant for it.
const FlagTSync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// KnownFlags lists the seccomp filter flags Parse accepts: the ones the
// runtime-spec defines and runc knows.
func KnownFlags() []specs.LinuxSeccompFlag {
	return []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, FlagTSync, specs.LinuxSeccompFlagWaitKillableRecv}
}

var knownOps = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

func knownAction(a Action) bool { return permissiveness(a) > 0 }

// errnoAllowed: runc accepts errnoRet only with SCMP_ACT_ERRNO and SCMP_ACT_TRACE.
func errnoAllowed(a Action) bool { return a == ActErrno || a == ActTrace }

// MaxErrnoRet is the largest errnoRet a filter can carry: the kernel's
// SECCOMP_RET_DATA is the low 16 bits of the filter's return value. runc
// 1.1 (int16(errnoRet)) and libseccomp (SCMP_ACT_ERRNO(x) masks x with
// 0xffff) drop the bits above without a word, so errnoRet 65536 becomes
// ERRNO(0): the refused call would report success. Such profiles are
// refused at load.
const MaxErrnoRet = 0xffff

// MaxErrno is the largest errnoRet SCMP_ACT_ERRNO can carry: libseccomp
// (which runc and sysward compile with) refuses ERRNO(x) for x >= 4095,
// the kernel's MAX_ERRNO, so such a profile would load here and then fail
// in runc and in sysward run (EINVAL, which libseccomp-golang words as
// "two checks on same syscall argument"). SCMP_ACT_TRACE takes all 16 bits.
const MaxErrno = 4094

// ErrnoRetOutOfRange says why errnoRet e is out of range for action a (""
// when it is not): above MaxErrnoRet, or above MaxErrno with ERRNO.
func ErrnoRetOutOfRange(a Action, e *uint) string {
	switch {
	case e == nil:
		return ""
	case *e > MaxErrnoRet:
		return errnoRangeDetail
	case a == ActErrno && *e > MaxErrno:
		return errnoErrnoDetail
	}
	return ""
}

const errnoRangeDetail = "above 65535: SECCOMP_RET_DATA is 16 bits and runc and libseccomp drop the bits above, 65536 would be ERRNO(0), success"

const errnoErrnoDetail = "above 4094 with SCMP_ACT_ERRNO: libseccomp, which runc uses, refuses errno values from 4095 (MAX_ERRNO) up, so the container would not start"

func actionNames() string {
	var s []string
	for _, a := range KnownActions() {
		s = append(s, string(a))
	}
	return "known: " + strings.Join(s, ", ")
}

// nameArches returns the architectures whose tables a name must appear in
// (at least one): the listed ones sysward has tables for, or all.
func nameArches(p *Profile) []Arch {
	var out []Arch
	for _, a := range p.Architectures {
		if tables[Arch(a)] != nil {
			out = append(out, Arch(a))
		}
	}
	if len(out) == 0 {
		out = KnownArches()
	}
	return out
}

func knownOn(name string, arches []Arch) bool {
	for _, a := range arches {
		if _, ok := SyscallNumber(a, name); ok {
			return true
		}
	}
	return false
}

func unknownSyscall(mk errorFunc, field, name string, arches []Arch) *Error {
	var an []string
	var cands []string
	for _, a := range arches {
		an = append(an, string(a))
		cands = append(cands, Syscalls(a)...)
	}
	detail := "not a syscall on " + strings.Join(an, ", ")
	if s := suggest(name, cands); s != "" {
		detail += "; did you mean " + strconv.Quote(s) + "?"
	}
	return mk(field, name, ErrUnknownSyscall, detail)
}

func argsKey(args []specs.LinuxSeccompArg) string {
	if len(args) == 0 {
		return ""
	}
	b, _ := json.Marshal(sortedArgs(args))
	return string(b)
}

func errnoText(e *uint) string {
	if e == nil {
		return ""
	}
	return fmt.Sprintf(" errnoRet %d", *e)
}

func validate(p *Profile, mk errorFunc) []error {
	var errs []error
	add := func(e *Error) {
		if len(errs) < maxErrors {
			errs = append(errs, e)
		}
	}
	if p.DefaultAction != "" && !knownAction(p.DefaultAction) {
		add(mk("defaultAction", string(p.DefaultAction), ErrUnknownAction, actionNames()))
	}
	if p.DefaultErrnoRet != nil && !errnoAllowed(p.DefaultAction) {
		add(mk("defaultErrnoRet", strconv.FormatUint(uint64(*p.DefaultErrnoRet), 10), ErrBadErrnoRet, "only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"))
	} else if why := ErrnoRetOutOfRange(p.DefaultAction, p.DefaultErrnoRet); why != "" {
		add(mk("defaultErrnoRet", strconv.FormatUint(uint64(*p.DefaultErrnoRet), 10), ErrBadErrnoRet, why))
	}
	for i, a := range p.Architectures {
		if !ociArches[a] {
			detail := ""
			if pa, ok := ParseArch(string(a)); ok {
				detail = "did you mean " + strconv.Quote(string(pa)) + "?"
			}
			add(mk(fmt.Sprintf("architectures[%d]", i), string(a), ErrUnknownArch, detail))
		}
	}
	known := map[specs.LinuxSeccompFlag]bool{}
	for _, f := range KnownFlags() {
		known[f] = true
	}
	for i, f := range p.Flags {
		if !known[f] {
			add(mk(fmt.Sprintf("flags[%d]", i), string(f), ErrUnknownFlag, ""))
		}
	}
	arches := nameArches(p)
	type first struct {
		entry  int
		action Action
		errno  *uint
	}
	seen := map[string]first{} // name + "\x00" + argsKey → first entry
	for i, s := range p.Syscalls {
		base := fmt.Sprintf("syscalls[%d]", i)
		if s.Action == "" {
			add(mk(base+".action", "", ErrMissingField, ""))
		} else if !knownAction(s.Action) {
			add(mk(base+".action", string(s.Action), ErrUnknownAction, actionNames()))
		}
		if s.ErrnoRet != nil && !errnoAllowed(s.Action) && knownAction(s.Action) {
			add(mk(base+".errnoRet", strconv.FormatUint(uint64(*s.ErrnoRet), 10), ErrBadErrnoRet, "only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"))
		} else if why := ErrnoRetOutOfRange(s.Action, s.ErrnoRet); why != "" {
			add(mk(base+".errnoRet", strconv.FormatUint(uint64(*s.ErrnoRet), 10), ErrBadErrnoRet, why))
		}
		if len(s.Names) == 0 {
			add(mk(base+".names", "", ErrNoNames, ""))
		}
		for k, a := range s.Args {
			ap := fmt.Sprintf("%s.args[%d]", base, k)
			if !knownOps[a.Op] {
				add(mk(ap+".op", string(a.Op), ErrBadArg, "known: SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ"))
			}
			if a.Index > 5 {
				add(mk(ap+".index", strconv.FormatUint(uint64(a.Index), 10), ErrBadArg, "syscalls have arguments 0 to 5"))
			}
		}
		ak := argsKey(s.Args)
		for j, name := range s.Names {
			if len(errs) >= maxErrors {
				break
			}
			np := fmt.Sprintf("%s.names[%d]", base, j)
			if !knownOn(name, arches) {
				add(unknownSyscall(mk, np, name, arches))
				continue
			}
			key := name + "\x00" + ak
			if f, ok := seen[key]; ok {
				if f.action != s.Action || !eqUintPtr(f.errno, s.ErrnoRet) {
					cond := ""
					if ak != "" {
						cond = " with the same argument conditions"
					}
					add(mk(np, name, ErrConflict, fmt.Sprintf("syscalls[%d] gives it %s%s%s; this entry %s%s",
						f.entry, f.action, errnoText(f.errno), cond, s.Action, errnoText(s.ErrnoRet))))
				}
				continue
			}
			seen[key] = first{i, s.Action, s.ErrnoRet}
		}
	}
	if p.Sysward != nil {
		for name, st := range p.Sysward.Stats {
			if len(errs) >= maxErrors {
				break
			}
			sp := "sysward.stats." + name
			if !KnownSyscall(name) {
				add(unknownSyscall(mk, sp, name, KnownArches()))
			}
			for k, a := range st.Arches {
				if !ociArches[specs.Arch(a)] {
					add(mk(fmt.Sprintf("%s.arches[%d]", sp, k), string(a), ErrUnknownArch, ""))
				}
			}
		}
	}
	// Map iteration above is random; report in a stable order.
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].(*Error), errs[j].(*Error)
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Field < b.Field
	})
	return errs
}

// suggest returns the candidate closest to s (edit distance ≤ 2, or ≤ 1 for
// short names), or "".
func suggest(s string, cands []string) string {
	limit := 3 // distances below limit qualify
	if len(s) <= 4 {
		limit = 2
	}
	best, bestD := "", limit
	for _, c := range cands {
		if c == s {
			continue
		}
		d := editDistance(s, c, limit)
		if d < bestD || (d == bestD && d < limit && c < best) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance (Levenshtein plus
// adjacent transpositions, so "getpdi" is 1 from "getpid"), giving up early
// (returning max) once it cannot be below max.
func editDistance(a, b string, max int) int {
	if abs(len(a)-len(b)) >= max {
		return max
	}
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		rowMin := rows[i][0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
			rowMin = min(rowMin, d)
		}
		if rowMin >= max {
			return max
		}
	}
	return rows[len(a)][len(b)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
