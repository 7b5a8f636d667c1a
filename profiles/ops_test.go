package profiles

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func mustLoad(t *testing.T, path string) *Profile {
	t.Helper()
	p, err := testLoad(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecideAndEvaluate(t *testing.T) {
	p := New(ActErrno, ArchX86_64, ArchX86)
	p.Allow("read", "write")
	p.AddRule(ActKillProcess, nil, "ptrace")
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"personality"}, Action: ActAllow,
		Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}})
	tests := []struct {
		name     string
		arch     Arch
		syscall  string
		args     [6]uint64
		decide   Action
		evaluate Action
		entry    int
		mayAllow bool
	}{
		{"allowed", ArchX86_64, "read", [6]uint64{}, ActAllow, ActAllow, 0, true},
		{"denied by entry", ArchX86_64, "ptrace", [6]uint64{}, ActKillProcess, ActKillProcess, 1, false},
		{"default", ArchX86_64, "mount", [6]uint64{}, ActErrno, ActErrno, -1, false},
		{"conditional match", ArchX86_64, "personality", [6]uint64{8}, ActErrno, ActAllow, -1, true},
		{"conditional miss", ArchX86_64, "personality", [6]uint64{9}, ActErrno, ActErrno, -1, true},
		{"name absent on arch", ArchX86_64, "socketcall", [6]uint64{}, ActErrno, ActErrno, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.arch, tt.syscall)
			if d.Action != tt.decide || d.Entry != tt.entry || d.MayAllow(p) != tt.mayAllow {
				t.Errorf("Decide = %+v (mayAllow %v)", d, d.MayAllow(p))
			}
			if a, _ := p.Evaluate(tt.arch, tt.syscall, tt.args); a != tt.evaluate {
				t.Errorf("Evaluate = %s, want %s", a, tt.evaluate)
			}
		})
	}
	nr, _ := SyscallNumber(ArchX86_64, "write")
	if d, name, ok := p.DecideNr(ArchX86_64, nr); !ok || name != "write" || !d.Allowed() {
		t.Errorf("DecideNr(write) = %+v %q %v", d, name, ok)
	}
	if a, _ := p.EvaluateNr(ArchX86_64, 135, [6]uint64{8}); a != ActAllow {
		t.Errorf("EvaluateNr(personality, 8) = %s", a)
	}
	if a, _ := p.EvaluateNr(ArchX86_64, 99999, [6]uint64{}); a != ActErrno {
		t.Errorf("EvaluateNr(unknown) = %s", a)
	}
	if got := p.AllowedSyscalls(ArchX86_64); !slices.Equal(got, []string{"personality", "read", "write"}) {
		t.Errorf("AllowedSyscalls = %v", got)
	}
	if got := p.AllowedNumbers(ArchX86_64); !slices.Equal(got, []int{0, 1, 135}) {
		t.Errorf("AllowedNumbers = %v", got)
	}
	if *p.DefaultErrnoRet != 1 {
		t.Errorf("New(ActErrno) errnoRet = %d, want EPERM", *p.DefaultErrnoRet)
	}
}

func findingCodes(r *LintReport) map[string][]string {
	m := map[string][]string{}
	for _, f := range r.Findings {
		m[f.Code] = append(m[f.Code], f.Syscall)
	}
	return m
}

func TestLintRisky(t *testing.T) {
	r := Lint(mustLoad(t, "../examples/profiles/risky.json"))
	codes := findingCodes(r)
	for _, name := range []string{"ptrace", "mount", "umount2", "unshare", "setns", "bpf", "keyctl", "open_by_handle_at", "userfaultfd"} {
		if !slices.Contains(codes["dangerous-syscall"], name) {
			t.Errorf("no dangerous-syscall finding for %s: %v", name, codes)
		}
	}
	for _, code := range []string{"errno-zero", "socketcall-bypass", "unfiltered-clone", "compat-arch", "missing-arch"} {
		if _, ok := codes[code]; !ok {
			t.Errorf("no %s finding", code)
		}
	}
	if _, ok := codes["allow-by-default"]; ok {
		t.Error("allow-by-default on an ERRNO-default profile")
	}
	if r.Max() != SevHigh {
		t.Errorf("Max = %s", r.Max())
	}
	c := r.Docker[len(r.Docker)-1]
	if c.Arch != ArchX86_64 || !slices.Equal(c.BlockedByDocker, []string{"bpf", "keyctl", "mount", "open_by_handle_at", "setns", "umount2", "unshare", "userfaultfd"}) ||
		!slices.Contains(c.RestrictedByDocker, "clone") {
		t.Errorf("docker comparison: %+v", c)
	}
}

func TestLintAllowByDefault(t *testing.T) {
	r := Lint(mustLoad(t, "../examples/profiles/allow-by-default.json"))
	codes := findingCodes(r)
	if _, ok := codes["allow-by-default"]; !ok {
		t.Error("no allow-by-default finding")
	}
	if slices.Contains(codes["dangerous-syscall"], "kexec_load") {
		t.Error("kexec_load is denied by an entry but reported")
	}
	if !slices.Contains(codes["dangerous-syscall"], "ptrace") {
		t.Error("ptrace allowed by default but not reported")
	}
}

func TestLintLearnedSample(t *testing.T) {
	r := Lint(mustLoad(t, "../examples/profiles/busybox-sh.json"))
	if r.Max().Rank() > SevInfo.Rank() {
		t.Errorf("a small learned profile has findings: %+v", r.Findings)
	}
	if r.Allowed[ArchX86_64] != 37 {
		t.Errorf("allowed = %d", r.Allowed[ArchX86_64])
	}
}

// TestDockerDefault: the resolution matches what dockerd does on amd64 for
// the well-known conditional entries, and it compares equal to itself.
func TestDockerDefault(t *testing.T) {
	d, dropped, err := DockerDefault(ArchX86_64, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("resolved Docker default is not valid: %v", err)
	}
	tests := []struct {
		syscall string
		allowed bool
	}{
		{"read", true}, {"ptrace", true}, {"arch_prctl", true},
		{"mount", false}, {"bpf", false}, {"kexec_load", false}, {"unshare", false}, {"keyctl", false},
		{"clone3", false}, // ERRNO(ENOSYS) without CAP_SYS_ADMIN
		{"chroot", true},  // CAP_SYS_CHROOT is a default capability
		{"reboot", false}, // needs CAP_SYS_BOOT
	}
	for _, tt := range tests {
		if got := d.Decide(ArchX86_64, tt.syscall).MayAllow(d); got != tt.allowed {
			t.Errorf("docker default %s: allowed %v, want %v", tt.syscall, got, tt.allowed)
		}
	}
	if dd := d.Decide(ArchX86_64, "clone3"); dd.ErrnoRet == nil || *dd.ErrnoRet != 38 {
		t.Errorf("clone3 = %+v, want ERRNO(ENOSYS=38)", dd)
	}
	if !slices.Equal(d.Arches(), []Arch{ArchX32, ArchX86, ArchX86_64}) {
		t.Errorf("arches %v", d.Arches())
	}
	t.Logf("names unknown to libseccomp 2.5.4, dropped: %v", dropped)
	c, _ := CompareDocker(d, ArchX86_64)
	if len(c.BlockedByDocker) != 0 || c.Allowed != c.DockerAllowed || c.OnlyDocker != 0 {
		t.Errorf("self comparison: %+v", c)
	}
	// With CAP_SYS_ADMIN, mount and clone3 come in.
	admin, _, _ := DockerDefault(ArchX86_64, append(slices.Clone(DockerDefaultCaps), "CAP_SYS_ADMIN"))
	if !admin.Decide(ArchX86_64, "mount").Allowed() || !admin.Decide(ArchX86_64, "clone3").Allowed() {
		t.Error("CAP_SYS_ADMIN does not allow mount/clone3")
	}
	// The shipped export is current.
	want, _ := Marshal(d)
	got, _ := os.ReadFile("../examples/profiles/docker-default.json")
	if !bytes.Equal(got, want) {
		t.Error("examples/profiles/docker-default.json is stale: regenerate with `sysward profile export --docker-default --arch x86_64 -o examples/profiles/docker-default.json`")
	}
}

var updateDiff = flag.Bool("update-diff", false, "rewrite testdata/diff golden")

func TestDiff(t *testing.T) {
	a := mustLoad(t, "../examples/profiles/busybox-sh.json")
	b := mustLoad(t, "../examples/profiles/busybox-httpd.json")
	d := Diff(a, b, "busybox-sh.json", "busybox-httpd.json")
	var buf bytes.Buffer
	d.WriteText(&buf)
	golden := "testdata/diff/sh-httpd.txt"
	if *update || *updateDiff {
		os.MkdirAll("testdata/diff", 0o755)
		os.WriteFile(golden, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("diff text differs from %s:\n%s", golden, buf.String())
	}
	x := d.Arches[0]
	var added, removed []string
	for _, c := range x.Added {
		added = append(added, c.Syscall)
	}
	for _, c := range x.Removed {
		removed = append(removed, c.Syscall)
	}
	if !slices.Contains(added, "accept") || !slices.Contains(added, "socket") || !slices.Contains(removed, "getppid") {
		t.Errorf("added %v removed %v", added, removed)
	}
	if js, err := json.Marshal(d); err != nil || !strings.Contains(string(js), `"added":[{"syscall":"accept"`) {
		t.Errorf("json %s %v", js, err)
	}
	if !Diff(a, a, "a", "a").Empty() {
		t.Error("a profile differs from itself")
	}
	// A newly listed architecture: everything it allows there is added.
	withX86 := a.Clone()
	withX86.AddArch(ArchX86)
	d3 := Diff(a, withX86, "a", "withX86")
	if len(d3.ArchesAdded) != 1 || len(d3.Arches) != 2 || d3.Arches[0].Arch != ArchX86 || len(d3.Arches[0].Added) == 0 ||
		d3.Arches[0].Added[0].From != "refused (architecture not in the profile)" {
		t.Errorf("new arch: %+v", d3)
	}
	// A rule change that keeps a syscall allowed is "changed".
	c := a.Clone()
	c.AddRule(ActKillProcess, nil, "mount")
	d2 := Diff(a, c, "a", "c")
	if len(d2.Arches[0].Changed) != 1 || d2.Arches[0].Changed[0].Syscall != "mount" {
		t.Errorf("changed = %+v", d2.Arches[0].Changed)
	}
}

func TestExplain(t *testing.T) {
	p := mustLoad(t, "../examples/profiles/redis.json")
	e := Explain(p, "clone3", ArchX86_64)
	if !e.Allowed || e.Entry != "syscalls[0]" || e.Stats == nil || e.Stats.Sessions != 1 || len(e.Provenance) != 1 || e.Dangerous == nil || e.DockerAllows {
		t.Errorf("explain clone3: %+v", e)
	}
	var buf bytes.Buffer
	e.WriteText(&buf)
	for _, want := range []string{"clone3 (nr 435 on SCMP_ARCH_X86_64) is allowed: SCMP_ACT_ALLOW by syscalls[0]", "learned: first seen", "redis-server", "Docker's default profile blocks it"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("explain text lacks %q:\n%s", want, buf.String())
		}
	}
	e = Explain(p, "ptrace", ArchX86_64)
	if e.Allowed || e.Entry != "defaultAction" || e.Stats != nil {
		t.Errorf("explain ptrace: %+v", e)
	}
	if e := Explain(p, "nope", ArchX86_64); e.Known {
		t.Error("unknown syscall explained as known")
	}
}
