package profiles

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; every load error wraps one (test with errors.Is).
var (
	ErrSyntax         = errors.New("malformed JSON")
	ErrUnknownField   = errors.New("unknown field")
	ErrDuplicateKey   = errors.New("duplicate key")
	ErrType           = errors.New("wrong type")
	ErrMissingField   = errors.New("missing field")
	ErrUnknownAction  = errors.New("unknown action")
	ErrUnknownArch    = errors.New("unknown architecture")
	ErrUnknownSyscall = errors.New("unknown syscall")
	ErrUnknownFlag    = errors.New("unknown seccomp flag")
	ErrBadArg         = errors.New("bad argument condition")
	ErrBadErrnoRet    = errors.New("errnoRet not valid here")
	ErrNoNames        = errors.New("entry names no syscall")
	ErrConflict       = errors.New("conflicting entries")
	ErrDockerFormat   = errors.New("docker's extended profile format")
	ErrIncompatible   = errors.New("incompatible profiles")
	ErrUnknownFormat  = errors.New("unknown export format")
	ErrTooLarge       = errors.New("profile too large")
)

// Error is a problem with one place in a profile. Parse returns it
// (possibly several joined with errors.Join); Err is one of the sentinels.
type Error struct {
	File  string // as given to Parse; "" when unknown
	Line  int    // 1-based; 0 when unknown (e.g. Validate of an in-memory profile)
	Col   int    // 1-based byte column
	Field string // JSON path such as "syscalls[3].names[1]"
	Value string // the offending value, as written
	Err   error  // a sentinel
	// Detail adds context ("conflicts with syscalls[1] (SCMP_ACT_ALLOW)").
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("profile")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	if e.Value != "" {
		fmt.Fprintf(&b, " %q", e.Value)
	}
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }
