package profiles

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFamilyTable checks the rules the family table and the baseline
// promise: no dangerous member, every name a syscall on some architecture,
// each syscall in one family at most, clone and clone3 left out.
func TestFamilyTable(t *testing.T) {
	known := func(n string) bool {
		for _, a := range KnownArches() {
			if _, ok := SyscallNumber(a, n); ok {
				return true
			}
		}
		return false
	}
	seen := map[string]string{}
	for _, f := range Families() {
		if f.Why == "" || len(f.Members) < 2 {
			t.Errorf("family %s: want a reason and at least two members", f.Name)
		}
		for _, m := range f.Members {
			if d, ok := DangerousSyscalls[m]; ok {
				t.Errorf("family %s: member %s is dangerous (%s)", f.Name, m, d.Reason)
			}
			if !known(m) {
				t.Errorf("family %s: member %s is not a syscall on any architecture sysward knows", f.Name, m)
			}
			if other, ok := seen[m]; ok {
				t.Errorf("%s is in families %s and %s", m, other, f.Name)
			}
			seen[m] = f.Name
		}
	}
	for _, n := range []string{"clone", "clone3", "execveat", "open_by_handle_at", "prlimit64", "personality"} {
		if f, ok := FamilyOf(n); ok {
			t.Errorf("%s is in family %s: it changes meaning (see families.go)", n, f.Name)
		}
	}
	for _, b := range Baseline() {
		if d, ok := DangerousSyscalls[b.Name]; ok {
			t.Errorf("baseline %s is dangerous (%s)", b.Name, d.Reason)
		}
		if !known(b.Name) {
			t.Errorf("baseline %s is not a syscall on any architecture sysward knows", b.Name)
		}
		if b.Why == "" {
			t.Errorf("baseline %s: no reason", b.Name)
		}
	}
}

// TestFamiliesCoverIssueSiblings: the denied siblings from issue 9's field
// report (learned call → call refused under another load) are each in the
// learned call's family.
func TestFamiliesCoverIssueSiblings(t *testing.T) {
	for learned, refused := range map[string][]string{
		"write":      {"writev", "pwritev", "sendfile"}, // redis SMEMBERS, postgres WAL, lighttpd big file
		"epoll_wait": {"epoll_pwait", "poll", "ppoll"},  // memcached poll
		"ppoll":      {"poll"},
		"mmap":       {"mremap"}, // sqlite
		"getdents":   {"getdents64"},
		"kill":       {"tgkill"}, // postgres abort()
		"wait4":      {"waitid"},
		"openat":     {"open", "openat2"},
		"fstat":      {"newfstatat", "statx"},
		"accept":     {"accept4"},
		"sendto":     {"sendmsg", "sendmmsg"},
		"recvfrom":   {"recvmsg"},
		"unlinkat":   {"unlink", "rmdir"},
		"fsync":      {"fdatasync"},
		"ftruncate":  {"truncate"},
	} {
		f, ok := FamilyOf(learned)
		if !ok {
			t.Errorf("%s has no family", learned)
			continue
		}
		for _, r := range refused {
			if !containsString(f.Members, r) {
				t.Errorf("%s's family %s lacks %s", learned, f.Name, r)
			}
		}
	}
	for _, q := range []string{"getpid", "gettid", "getrusage", "uname", "getcwd", "getsockname", "fadvise64", "clock_nanosleep", "rt_sigreturn", "restart_syscall"} {
		found := false
		for _, b := range Baseline() {
			found = found || b.Name == q
		}
		if !found {
			t.Errorf("baseline lacks the self-query %s", q)
		}
	}
}

func learnedSample(names ...string) *Profile {
	p := New(ActErrno, ArchX86_64)
	p.Allow(names...)
	st := map[string]SyscallStats{}
	for _, n := range names {
		st[n] = SyscallStats{FirstSeen: time.Unix(1, 0).UTC(), Arches: []Arch{ArchX86_64}, Sessions: 1, Sources: []string{SourceTraced}}
	}
	p.Sysward = &Metadata{Stats: st}
	return p
}

func TestWidenFamilies(t *testing.T) {
	p := learnedSample("write", "pwrite64", "epoll_wait", "mmap", "execve")
	// An entry refusing writev by hand: widening never overrides it.
	eacces := uint(13)
	p.AddRule(ActErrno, &eacces, "pwritev")
	added := WidenFamilies(p, []string{"write", "pwrite64", "epoll_wait", "mmap", "execve"})
	want := []string{"epoll_pwait", "epoll_pwait2", "poll", "ppoll", "pselect6", "pwritev2", "select", "sendfile", "writev", "mremap"}
	for _, w := range want {
		if !containsString(added, w) {
			t.Errorf("added %v lacks %s", added, w)
		}
	}
	// pwritev: refused by hand; mmap2, sendfile64, ppoll_time64,
	// _newselect: not x86_64 syscalls; execveat, clone: no family.
	for _, n := range []string{"pwritev", "mmap2", "sendfile64", "ppoll_time64", "_newselect", "execveat", "clone"} {
		if containsString(added, n) {
			t.Errorf("added %s: %v", n, added)
		}
	}
	if d := p.Decide(ArchX86_64, "pwritev"); d.Action != ActErrno || d.ErrnoRet == nil || *d.ErrnoRet != 13 {
		t.Errorf("pwritev: %+v, want the hand-written ERRNO(13) kept", d)
	}
	st := p.Sysward.Stats["writev"]
	if !reflect.DeepEqual(st.Sources, []string{"family:pwrite64", "family:write"}) || !reflect.DeepEqual(st.Arches, []Arch{ArchX86_64}) || st.Sessions != 0 {
		t.Errorf("writev stats %+v, want sources from both traced members, no session", st)
	}
	if got := p.Sysward.Stats["write"].Sources; !reflect.DeepEqual(got, []string{SourceTraced}) {
		t.Errorf("traced write's sources became %v", got)
	}
	// The result still loads: Marshal + Load round trip.
	data, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("widened.json", data); err != nil {
		t.Fatalf("widened profile does not load: %v", err)
	}
}

func TestWidenFamiliesPerArch(t *testing.T) {
	p := learnedSample("mmap", "fstat")
	p.AddArch(ArchX86)
	WidenFamilies(p, []string{"mmap", "fstat"})
	st := p.Sysward.Stats["mmap2"]
	if !reflect.DeepEqual(st.Arches, []Arch{ArchX86}) {
		t.Errorf("mmap2 arches %v, want x86 only", st.Arches)
	}
	if st := p.Sysward.Stats["newfstatat"]; !reflect.DeepEqual(st.Arches, []Arch{ArchX86_64}) {
		t.Errorf("newfstatat arches %v, want x86_64 only", st.Arches)
	}
	if st := p.Sysward.Stats["statx"]; len(st.Arches) != 2 {
		t.Errorf("statx arches %v, want both", st.Arches)
	}
}

func TestAddBaseline(t *testing.T) {
	p := learnedSample("read", "getpid")
	added := AddBaseline(p)
	if containsString(added, "getpid") || !containsString(added, "gettid") || containsString(added, "getuid32") {
		t.Errorf("added %v: want gettid, not the traced getpid nor the 32-bit getuid32", added)
	}
	if got := p.Sysward.Stats["gettid"].Sources; !reflect.DeepEqual(got, []string{SourceBaseline}) {
		t.Errorf("gettid sources %v", got)
	}
	if got := p.Sysward.Stats["getpid"].Sources; !reflect.DeepEqual(got, []string{SourceTraced}) {
		t.Errorf("getpid sources %v", got)
	}
	by := SourcesByKind(p)
	if len(by[KindTraced]) != 2 || len(by[KindBaseline]) != len(added) {
		t.Errorf("by kind %v", by)
	}
}

func TestPrimarySource(t *testing.T) {
	for _, c := range []struct {
		src  []string
		want string
	}{
		{nil, KindUnknown},
		{[]string{"baseline", "traced"}, KindTraced},
		{[]string{"family:write", "static:/bin/x:writev"}, KindFamily},
		{[]string{"runtime-base", "static:/bin/x:writev"}, KindStatic},
		{[]string{"complain", "family:read"}, KindComplain},
	} {
		if got := PrimarySource(c.src); got != c.want {
			t.Errorf("PrimarySource(%v) = %s, want %s", c.src, got, c.want)
		}
	}
}

// TestLintCoverage: syscalls reachable from the imports but not allowed,
// and syscalls allowed only from static hints, are coverage findings; a
// reachable syscall that a family or the trace covers is not.
func TestLintCoverage(t *testing.T) {
	p := learnedSample("read", "write")
	p.Allow("fsync")
	p.Sysward.Stats["fsync"] = SyscallStats{Arches: []Arch{ArchX86_64}, Sources: []string{"static:/usr/bin/app:fsync"}}
	p.Allow("writev")
	p.Sysward.Stats["writev"] = SyscallStats{Arches: []Arch{ArchX86_64}, Sources: []string{"family:write", "static:/usr/bin/app:writev"}}
	p.Sysward.Reachable = map[string][]string{
		"ptrace": {"static:/usr/bin/app:ptrace"},
		"unlink": {"static:/usr/bin/app:unlink", "static:/usr/bin/app:remove"},
		"write":  {"static:/usr/bin/app:write"}, // allowed (a merge): no finding
	}
	r := Lint(p)
	got := map[string]Finding{}
	for _, f := range r.Findings {
		if f.Code == "coverage" {
			got[f.Syscall] = f
		}
	}
	if len(got) != 3 {
		t.Fatalf("coverage findings %v, want ptrace, unlink, fsync", got)
	}
	if f := got["unlink"]; f.Severity != SevLow || !strings.Contains(f.Message, "/usr/bin/app:unlink, /usr/bin/app:remove") {
		t.Errorf("unlink: %+v", f)
	}
	if f := got["ptrace"]; f.Severity != SevInfo || !strings.Contains(f.Message, "dangerous") {
		t.Errorf("ptrace: %+v", f)
	}
	if f := got["fsync"]; f.Severity != SevInfo || !strings.Contains(f.Message, "allowed because /usr/bin/app:fsync can reach it") {
		t.Errorf("fsync: %+v", f)
	}
}

func TestSourcesShownByExplainAndDiff(t *testing.T) {
	old := learnedSample("write")
	p := old.Clone()
	WidenFamilies(p, []string{"write"})
	AddBaseline(p)
	var b bytes.Buffer
	Explain(p, "writev", ArchX86_64).WriteText(&b)
	Explain(p, "gettid", ArchX86_64).WriteText(&b)
	out := b.String()
	for _, w := range []string{"source family:write: a sibling of write in the write family", "not seen while learning", "source baseline: self-query baseline: the calling thread's id"} {
		if !strings.Contains(out, w) {
			t.Errorf("explain lacks %q:\n%s", w, out)
		}
	}
	d := Diff(old, p, "old", "new")
	b.Reset()
	d.WriteText(&b)
	for _, w := range []string{"+ writev: SCMP_ACT_ALLOW [family:write]", "+ gettid: SCMP_ACT_ALLOW [baseline]"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("diff lacks %q:\n%s", w, b.String())
		}
	}
	rev := Diff(p, old, "new", "old")
	for _, c := range rev.Arches[0].Removed {
		if c.Syscall == "writev" && !reflect.DeepEqual(c.Sources, []string{"family:write"}) {
			t.Errorf("removed writev sources %v", c.Sources)
		}
	}
}

// Every legacy member is a family member, an x86_64 syscall, absent from
// the generic table arm64 uses, and has a modern sibling that is there.
func TestLegacyMembers(t *testing.T) {
	for name := range legacyMembers {
		f, ok := FamilyOf(name)
		if !ok {
			t.Errorf("legacy %s is in no family", name)
			continue
		}
		if _, ok := SyscallNumber(ArchX86_64, name); !ok {
			t.Errorf("legacy %s is not an x86_64 syscall", name)
		}
		if _, ok := SyscallNumber(ArchAARCH64, name); ok {
			t.Errorf("legacy %s is in arm64's (generic) table: not legacy", name)
		}
		modern := false
		for _, m := range f.Members {
			if _, ok := SyscallNumber(ArchAARCH64, m); ok && !legacyMembers[m] {
				modern = true
			}
		}
		if !modern {
			t.Errorf("legacy %s: family %s has no modern member on arm64", name, f.Name)
		}
	}
}

func TestWidenFamiliesGenerations(t *testing.T) {
	seeds := []string{"openat", "newfstatat", "epoll_wait", "pipe2", "unlink", "dup3", "clock_gettime", "write"}
	gen := &WidenOptions{Generations: true}
	for _, c := range []struct {
		name   string
		opts   *WidenOptions
		want   []string // added
		absent []string // not added
	}{
		{"generations", gen,
			// modern from modern, legacy from legacy (epoll_wait, unlink)
			[]string{"openat2", "statx", "fstat", "writev", "sendfile", "poll", "select", "rmdir", "dup"},
			// legacy from modern, modern from legacy
			[]string{"open", "creat", "stat", "lstat", "pipe", "dup2", "time", "epoll_pwait", "ppoll", "unlinkat"}},
		{"every member (default, --static off, unknown libc)", nil,
			[]string{"open", "creat", "stat", "lstat", "pipe", "dup2", "time", "epoll_pwait", "ppoll", "unlinkat", "poll"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := learnedSample(seeds...)
			added := WidenFamiliesWith(p, seeds, c.opts)
			for _, w := range c.want {
				if !containsString(added, w) {
					t.Errorf("added %v lacks %s", added, w)
				}
			}
			for _, n := range c.absent {
				if containsString(added, n) {
					t.Errorf("added %s: %v", n, added)
				}
			}
		})
	}

	p := learnedSample("read")
	added := AddBaselineWith(p, gen)
	if containsString(added, "time") || containsString(added, "getpgrp") || !containsString(added, "gettid") {
		t.Errorf("baseline with generations %v: want gettid, not time nor getpgrp", added)
	}
	if added := AddBaseline(learnedSample("read")); !containsString(added, "time") || !containsString(added, "getpgrp") {
		t.Errorf("baseline %v: want time and getpgrp", added)
	}
	for n := range legacyBaseline {
		if _, ok := SyscallNumber(ArchAARCH64, n); ok {
			t.Errorf("legacy baseline %s is in arm64's table", n)
		}
	}
}
