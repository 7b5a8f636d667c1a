package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestLoadValidation asserts the exact error for each kind of bad profile:
// the sentinel (errors.Is), the JSON path, the bad value and the position.
func TestLoadValidation(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		err       error
		field     string
		value     string
		line, col int
		detail    string // substring of Error.Detail
	}{
		{
			name: "malformed: missing comma",
			json: "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\"\n  \"syscalls\": []\n}",
			err:  ErrSyntax, line: 3, col: 3,
		},
		{
			name: "malformed: truncated",
			json: "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [",
			err:  ErrSyntax, line: 1, col: 50, detail: "unexpected end",
		},
		{
			name: "malformed: trailing data",
			json: "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}\n{}",
			err:  ErrSyntax, line: 2, col: 1, detail: "after",
		},
		{
			name: "empty file",
			json: "  \n",
			err:  ErrSyntax, line: 1, col: 1,
		},
		{
			name: "not an object",
			json: `["SCMP_ACT_ALLOW"]`,
			err:  ErrType, line: 1, col: 1,
		},
		{
			name: "unknown top-level field (typo)",
			json: "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"architecture\": [\"SCMP_ARCH_X86_64\"]}",
			err:  ErrUnknownField, field: "architecture", value: "architecture", line: 2, col: 2, detail: `did you mean "architectures"?`,
		},
		{
			name: "unknown entry field",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errno": 1}]}`,
			err:  ErrUnknownField, field: "syscalls[0].errno", value: "errno", line: 1, col: 98,
		},
		{
			name: "unknown sysward field",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "sysward": {"provenance": [{"hots": "a"}]}}`,
			err:  ErrUnknownField, field: "sysward.provenance[0].hots", value: "hots",
		},
		{
			name: "docker extended format: archMap",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "archMap": []}`,
			err:  ErrDockerFormat, field: "archMap", detail: "--docker-default",
		},
		{
			name: "docker extended format: includes",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}}]}`,
			err:  ErrDockerFormat, field: "syscalls[0].includes",
		},
		{
			name: "duplicate key",
			json: "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n\"defaultAction\": \"SCMP_ACT_ALLOW\"}",
			err:  ErrDuplicateKey, field: "defaultAction", line: 2, col: 1,
		},
		{
			name: "missing defaultAction",
			json: `{"syscalls": []}`,
			err:  ErrMissingField, field: "defaultAction",
		},
		{
			name: "wrong type",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": "SCMP_ARCH_X86_64"}`,
			err:  ErrType, field: "architectures", value: "SCMP_ARCH_X86_64", col: 54,
		},
		{
			name: "negative errnoRet",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}`,
			err:  ErrType, field: "defaultErrnoRet", value: "-1",
		},
		{
			name: "unknown default action",
			json: `{"defaultAction": "SCMP_ACT_DENY"}`,
			err:  ErrUnknownAction, field: "defaultAction", value: "SCMP_ACT_DENY", line: 1, col: 19,
		},
		{
			name: "unknown entry action",
			json: "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [\n  {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOWED\"}]}",
			err:  ErrUnknownAction, field: "syscalls[0].action", value: "SCMP_ACT_ALLOWED", line: 3, col: 33,
		},
		{
			name: "unknown architecture",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "x86_64"]}`,
			err:  ErrUnknownArch, field: "architectures[1]", value: "x86_64", detail: `did you mean "SCMP_ARCH_X86_64"?`,
		},
		{
			name: "typo'd syscall on listed arch",
			json: "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_X86_64\"],\n \"syscalls\": [{\"names\": [\"read\", \"wirte\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
			err:  ErrUnknownSyscall, field: "syscalls[0].names[1]", value: "wirte", line: 2, col: 34, detail: `did you mean "write"?`,
		},
		{
			name: "syscall of another arch only",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_AARCH64"], "syscalls": [{"names": ["open"], "action": "SCMP_ACT_ALLOW"}]}`,
			err:  ErrUnknownSyscall, field: "syscalls[0].names[0]", value: "open", detail: "SCMP_ARCH_AARCH64",
		},
		{
			name: "unknown syscall, no arch listed",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["not_a_syscall"], "action": "SCMP_ACT_ALLOW"}]}`,
			err:  ErrUnknownSyscall, field: "syscalls[0].names[0]", value: "not_a_syscall",
		},
		{
			name: "bad argument operator",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQUAL"}]}]}`,
			err:  ErrBadArg, field: "syscalls[0].args[0].op", value: "SCMP_CMP_EQUAL",
		},
		{
			name: "bad argument index",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 8, "op": "SCMP_CMP_EQ"}]}]}`,
			err:  ErrBadArg, field: "syscalls[0].args[0].index", value: "6",
		},
		{
			name: "conflicting duplicates",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "ptrace"], "action": "SCMP_ACT_ALLOW"}, {"names": ["ptrace"], "action": "SCMP_ACT_KILL"}]}`,
			err:  ErrConflict, field: "syscalls[1].names[0]", value: "ptrace", detail: "syscalls[0] gives it SCMP_ACT_ALLOW",
		},
		{
			name: "conflicting errnoRet",
			json: `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}, {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}`,
			err:  ErrConflict, field: "syscalls[1].names[0]", value: "ptrace",
		},
		{
			name: "errnoRet on allow",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}`,
			err:  ErrBadErrnoRet, field: "syscalls[0].errnoRet", value: "1",
		},
		{
			name: "errnoRet 65536 (wraps to ERRNO(0), success)",
			json: "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [{\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 65536}]}",
			err:  ErrBadErrnoRet, field: "syscalls[0].errnoRet", value: "65536", line: 2, col: 77, detail: "16 bits",
		},
		{
			name: "defaultErrnoRet above 16 bits",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65537}`,
			err:  ErrBadErrnoRet, field: "defaultErrnoRet", value: "65537", line: 1, col: 56, detail: "16 bits",
		},
		{
			name: "errnoRet 4095 on ERRNO (libseccomp refuses it: runc could not start the container)",
			json: `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}]}`,
			err:  ErrBadErrnoRet, field: "syscalls[0].errnoRet", value: "4095", detail: "MAX_ERRNO",
		},
		{
			name: "defaultErrnoRet 65535 on ERRNO",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65535}`,
			err:  ErrBadErrnoRet, field: "defaultErrnoRet", value: "65535", detail: "MAX_ERRNO",
		},
		{
			name: "errnoRet above 16 bits on trace",
			json: `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 4294967295}]}`,
			err:  ErrBadErrnoRet, field: "syscalls[0].errnoRet", value: "4294967295",
		},
		{
			name: "no names",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}`,
			err:  ErrNoNames, field: "syscalls[0].names",
		},
		{
			name: "unknown flag",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOGS"]}`,
			err:  ErrUnknownFlag, field: "flags[0]", value: "SECCOMP_FILTER_FLAG_LOGS",
		},
		{
			name: "stats for an unknown syscall",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "sysward": {"stats": {"reed": {"sessions": 1}}}}`,
			err:  ErrUnknownSyscall, field: "sysward.stats.reed", value: "reed",
		},
		{
			name: "bad time",
			json: `{"defaultAction": "SCMP_ACT_ERRNO", "sysward": {"provenance": [{"started": "yesterday"}]}}`,
			err:  ErrType, field: "sysward.provenance[0].started", value: "yesterday",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.json", []byte(tt.json))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v does not wrap %v", err, tt.err)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *profiles.Error", err)
			}
			if pe.File != "bad.json" {
				t.Errorf("File = %q", pe.File)
			}
			if tt.field != "" && pe.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", pe.Field, tt.field, err)
			}
			if tt.value != "" && pe.Value != tt.value {
				t.Errorf("Value = %q, want %q", pe.Value, tt.value)
			}
			if tt.line != 0 && pe.Line != tt.line {
				t.Errorf("Line = %d, want %d (%v)", pe.Line, tt.line, err)
			}
			if tt.col != 0 && pe.Col != tt.col {
				t.Errorf("Col = %d, want %d (%v)", pe.Col, tt.col, err)
			}
			if pe.Line == 0 {
				t.Errorf("no line in %v", err)
			}
			if tt.detail != "" && !strings.Contains(pe.Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to contain %q", pe.Detail, tt.detail)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "bad.json:") {
				t.Errorf("message %q does not start with the file", msg)
			}
			if tt.value != "" && !strings.Contains(msg, tt.value) {
				t.Errorf("message %q does not name the value %q", msg, tt.value)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Parse("two.json", []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
 {"names": ["reed"], "action": "SCMP_ACT_ALLOW"},
 {"names": ["wrte"], "action": "SCMP_ACT_ALLOW"}]}`))
	if err == nil {
		t.Fatal("want error")
	}
	msg := err.Error()
	for _, want := range []string{`two.json:2:13: syscalls[0].names[0]: unknown syscall "reed"`, `two.json:3:13: syscalls[1].names[0]: unknown syscall "wrte"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestLoadAcceptsOCIFields(t *testing.T) {
	p, err := Parse("ok.json", []byte(`{
  "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_S390X"],
  "flags": ["SECCOMP_FILTER_FLAG_LOG"],
  "listenerPath": "/run/agent.sock", "listenerMetadata": "x",
  "syscalls": [
    {"names": ["read", "read"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
    {"names": ["personality"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
  ]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.ListenerPath != "/run/agent.sock" || *p.DefaultErrnoRet != 38 || len(p.Flags) != 1 {
		t.Errorf("fields lost: %+v", p.LinuxSeccomp)
	}
}

// TestLoadExamples: every shipped sample loads except the deliberately bad ones.
func TestLoadExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/profiles/*.json")
	if len(files) < 5 {
		t.Fatalf("only %d sample profiles", len(files))
	}
	for _, f := range files {
		_, err := testLoad(f)
		bad := strings.HasPrefix(filepath.Base(f), "bad-")
		if bad && err == nil {
			t.Errorf("%s loaded, want an error", f)
		}
		if !bad && err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// testLoad reads and parses a trusted test file (sysward itself reads
// profiles with internal/inputfile.Profile, which profiles cannot import).
func testLoad(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// TestErrnoRetRange: 65535 is the largest errnoRet a filter carries and
// loads with TRACE, 4094 with ERRNO; 65536 is refused (TestLoadValidation).
func TestErrnoRetRange(t *testing.T) {
	p, err := Parse("max.json", []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 65535}]}`))
	if err != nil || *p.Syscalls[0].ErrnoRet != 65535 {
		t.Fatalf("Parse = %v, %v", p, err)
	}
	p, err = Parse("max.json", []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4094}`))
	if err != nil || *p.DefaultErrnoRet != MaxErrno {
		t.Fatalf("Parse = %v, %v", p, err)
	}
	q := New(ActAllow, ArchX86_64)
	big := uint(1 << 16)
	q.Syscalls = append(q.Syscalls, specs.LinuxSyscall{Names: []string{"ptrace"}, Action: ActErrno, ErrnoRet: &big})
	if err := q.Validate(); !errors.Is(err, ErrBadErrnoRet) {
		t.Fatalf("Validate = %v, want ErrBadErrnoRet", err)
	}
}

// TestParseTooLarge: data over MaxFileSize is refused before any parsing.
func TestParseTooLarge(t *testing.T) {
	data := make([]byte, MaxFileSize+1)
	for i := range data {
		data[i] = ' '
	}
	_, err := Parse("big.json", data)
	if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), "big.json: profile too large") {
		t.Fatalf("Parse = %v, want ErrTooLarge naming the file", err)
	}
}

func TestValidateInMemory(t *testing.T) {
	p := New(ActErrno, ArchX86_64)
	p.Allow("read", "getpdi")
	err := p.Validate()
	if !errors.Is(err, ErrUnknownSyscall) || !strings.Contains(err.Error(), `syscalls[0].names[0]: unknown syscall "getpdi"`) {
		t.Fatalf("Validate = %v", err)
	}
}
