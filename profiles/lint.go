package profiles

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
)

// Severity of a lint finding.
type Severity string

const (
	SevHigh   Severity = "high"
	SevMedium Severity = "medium"
	SevLow    Severity = "low"
	SevInfo   Severity = "info"
)

// Rank orders severities: high 3, medium 2, low 1, info 0, unknown -1.
func (s Severity) Rank() int {
	switch s {
	case SevHigh:
		return 3
	case SevMedium:
		return 2
	case SevLow:
		return 1
	case SevInfo:
		return 0
	}
	return -1
}

// Dangerous describes why allowing a syscall weakens a container's isolation.
type Dangerous struct {
	Severity Severity
	Reason   string
}

// DangerousSyscalls lists syscalls a workload profile should not allow,
// with the reason. Most are what Docker's default profile blocks without an
// extra capability; a learned profile containing one deserves a look.
var DangerousSyscalls = map[string]Dangerous{
	"ptrace":            {SevHigh, "inspects and rewrites other processes' memory and registers; with a shared pid namespace or a leaked host pid a classic escape aid (Docker needs CAP_SYS_PTRACE before 4.8)"},
	"process_vm_writev": {SevHigh, "writes another process's memory directly"},
	"process_vm_readv":  {SevMedium, "reads another process's memory (secrets, keys)"},
	"bpf":               {SevHigh, "loads eBPF programs and maps into the kernel: large kernel attack surface and kernel memory reads with CAP_BPF/CAP_SYS_ADMIN"},
	"mount":             {SevHigh, "changes the mount table; inside a user namespace it exposes filesystem code to unprivileged input"},
	"umount":            {SevHigh, "detaches mounts, e.g. ones that mask host paths"},
	"umount2":           {SevHigh, "detaches mounts, e.g. ones that mask host paths"},
	"fsopen":            {SevHigh, "new mount API: same power as mount"},
	"fsconfig":          {SevHigh, "new mount API: same power as mount"},
	"fsmount":           {SevHigh, "new mount API: same power as mount"},
	"fspick":            {SevHigh, "new mount API: reconfigures an existing mount"},
	"move_mount":        {SevHigh, "new mount API: attaches mounts anywhere"},
	"open_tree":         {SevHigh, "new mount API: clones mount trees"},
	"mount_setattr":     {SevHigh, "changes mount attributes (read-only, idmapping)"},
	"pivot_root":        {SevHigh, "changes the root filesystem"},
	"unshare":           {SevHigh, "creates namespaces; a user namespace unlocks CAP_SYS_ADMIN-gated kernel code to the container (many kernel CVEs)"},
	"setns":             {SevHigh, "joins another namespace, the host's if a namespace fd leaks in"},
	"clone3":            {SevMedium, "its flags sit in a struct seccomp cannot inspect, so namespace creation (CLONE_NEWUSER…) cannot be filtered; Docker makes it fail with ENOSYS so libc falls back to clone"},
	"keyctl":            {SevHigh, "the kernel keyring is not namespaced: keys of other containers and the host are reachable"},
	"add_key":           {SevHigh, "the kernel keyring is not namespaced"},
	"request_key":       {SevHigh, "the kernel keyring is not namespaced"},
	"kexec_load":        {SevHigh, "replaces the running kernel"},
	"kexec_file_load":   {SevHigh, "replaces the running kernel"},
	"init_module":       {SevHigh, "loads a kernel module"},
	"finit_module":      {SevHigh, "loads a kernel module"},
	"delete_module":     {SevHigh, "unloads a kernel module"},
	"create_module":     {SevHigh, "obsolete module interface"},
	"open_by_handle_at": {SevHigh, "opens any file of a mounted filesystem by handle, bypassing the container's root (the \"shocker\" escape)"},
	"name_to_handle_at": {SevMedium, "produces the file handles open_by_handle_at consumes"},
	"perf_event_open":   {SevHigh, "kernel and hardware profiling: information leaks and a long history of kernel bugs"},
	"userfaultfd":       {SevHigh, "stalls kernel page faults at will, widening race windows in kernel exploits"},
	"swapon":            {SevHigh, "changes the host's swap"},
	"swapoff":           {SevHigh, "changes the host's swap"},
	"reboot":            {SevHigh, "reboots or halts the host (or the pid namespace)"},
	"iopl":              {SevHigh, "raw I/O port access"},
	"ioperm":            {SevHigh, "raw I/O port access"},
	"acct":              {SevMedium, "switches process accounting, host-wide"},
	"lookup_dcookie":    {SevMedium, "exposes kernel-internal directory entry cookies"},
	"quotactl":          {SevMedium, "manipulates host filesystem quotas"},
	"quotactl_fd":       {SevMedium, "manipulates host filesystem quotas"},
	"syslog":            {SevMedium, "reads the kernel log, which can leak kernel addresses"},
	"settimeofday":      {SevMedium, "sets the host clock (time is not namespaced)"},
	"stime":             {SevMedium, "sets the host clock (time is not namespaced)"},
	"clock_settime":     {SevMedium, "sets the host clock (time is not namespaced)"},
	"pidfd_getfd":       {SevMedium, "copies file descriptors out of another process"},
	"kcmp":              {SevLow, "compares kernel objects of other processes, leaking layout information"},
	"fanotify_init":     {SevLow, "filesystem-wide event monitoring"},
	"vm86":              {SevMedium, "virtual 8086 mode: a historically bug-prone kernel path"},
	"vm86old":           {SevMedium, "virtual 8086 mode: a historically bug-prone kernel path"},
	"modify_ldt":        {SevLow, "edits the local descriptor table, a historic kernel-exploit primitive"},
	"io_uring_setup":    {SevMedium, "io_uring performs I/O that seccomp never sees and is a frequent kernel-exploit target (Docker's default now blocks it)"},
	"io_uring_enter":    {SevMedium, "io_uring performs I/O that seccomp never sees"},
	"io_uring_register": {SevMedium, "io_uring performs I/O that seccomp never sees"},
	"nfsservctl":        {SevLow, "obsolete kernel NFS server control"},
	"uselib":            {SevLow, "obsolete a.out loader"},
	"_sysctl":           {SevLow, "obsolete sysctl interface"},
	"get_kernel_syms":   {SevLow, "obsolete, exposes kernel symbols"},
	"query_module":      {SevLow, "obsolete module interface"},
	"vhangup":           {SevLow, "hangs up terminals"},
	"personality":       {SevLow, "can disable address space randomisation (ADDR_NO_RANDOMIZE) unless argument conditions restrict it to a few values, as Docker's default does"},
}

// Finding is one lint result.
type Finding struct {
	Severity Severity `json:"severity"`
	// Code is a stable identifier: dangerous-syscall, allow-by-default,
	// missing-arch, compat-arch, no-arch, unchecked-arch, errno-zero,
	// unfiltered-clone, socketcall-bypass, redundant-entry, coverage.
	Code    string `json:"code"`
	Syscall string `json:"syscall,omitempty"`
	Arch    Arch   `json:"arch,omitempty"`
	// Field is the JSON path of the entry involved, e.g. "syscalls[0]".
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// LintReport is Lint's result.
type LintReport struct {
	// Allowed counts, per architecture checked, the syscalls allowed for at
	// least some arguments.
	Allowed  map[Arch]int `json:"allowed"`
	Findings []Finding    `json:"findings"`
	// Docker compares with Docker's default on each architecture checked.
	Docker []*DockerComparison `json:"docker"`
}

// Max returns the highest severity among the findings, "" if none.
func (r *LintReport) Max() Severity {
	var m Severity
	for _, f := range r.Findings {
		if f.Severity.Rank() > m.Rank() || m == "" {
			m = f.Severity
		}
	}
	return m
}

// NativeArch is the architecture sysward runs on ("" when it has no table).
func NativeArch() Arch {
	a, ok := ParseArch(runtime.GOARCH)
	if !ok {
		return ""
	}
	return a
}

// CheckedArches returns the architectures an analysis of p covers: the
// listed ones sysward has tables for, else the native one.
func CheckedArches(p *Profile) []Arch {
	var out []Arch
	for _, a := range p.Architectures {
		if tables[Arch(a)] != nil {
			out = append(out, Arch(a))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	if len(out) == 0 && NativeArch() != "" {
		out = []Arch{NativeArch()}
	}
	return out
}

// Lint reports what in p weakens isolation. It assumes p is valid.
func Lint(p *Profile) *LintReport {
	r := &LintReport{Allowed: map[Arch]int{}, Findings: []Finding{}, Docker: []*DockerComparison{}}
	arches := CheckedArches(p)
	add := func(f Finding) { r.Findings = append(r.Findings, f) }

	if Allows(p.DefaultAction) {
		add(Finding{Severity: SevHigh, Code: "allow-by-default", Field: "defaultAction",
			Message: fmt.Sprintf("defaultAction %s allows every syscall not listed, including ones added to future kernels: a deny-list, not an allow-list", p.DefaultAction)})
	}
	listed := map[Arch]bool{}
	for _, a := range p.Architectures {
		listed[Arch(a)] = true
		if tables[Arch(a)] == nil {
			add(Finding{Severity: SevInfo, Code: "unchecked-arch", Arch: Arch(a),
				Message: "sysward has no syscall table for this architecture: names and lint are not checked for it"})
		}
	}
	if len(p.Architectures) == 0 {
		add(Finding{Severity: SevInfo, Code: "no-arch",
			Message: "no architectures listed: the filter covers the runtime's native architecture only and refuses every other ABI (32-bit binaries fail)"})
	}
	if listed[ArchX86_64] && (!listed[ArchX86] || !listed[ArchX32]) {
		var miss []string
		for _, a := range []Arch{ArchX86, ArchX32} {
			if !listed[a] {
				miss = append(miss, string(a))
			}
		}
		add(Finding{Severity: SevInfo, Code: "missing-arch", Arch: ArchX86_64,
			Message: fmt.Sprintf("SCMP_ARCH_X86_64 without %s: syscalls through those ABIs (int 0x80, x32) hit the filter's bad-architecture action; safe, but 32-bit binaries in the workload fail", strings.Join(miss, ", "))})
	}
	if listed[ArchAARCH64] && !listed[ArchARM] {
		add(Finding{Severity: SevInfo, Code: "missing-arch", Arch: ArchAARCH64,
			Message: "SCMP_ARCH_AARCH64 without SCMP_ARCH_ARM: 32-bit ARM binaries in the workload fail"})
	}

	for _, a := range arches {
		allowed := p.AllowedSyscalls(a)
		r.Allowed[a] = len(allowed)
		if a == ArchX86 || a == ArchX32 || a == ArchARM {
			if len(allowed) > 0 && len(arches) > 1 {
				add(Finding{Severity: SevLow, Code: "compat-arch", Arch: a,
					Message: fmt.Sprintf("%d syscalls allowed through the compat ABI %s: a separate kernel entry path with its own history of bugs; drop the architecture unless the workload runs such binaries", len(allowed), a)})
			}
		}
	}
	// Dangerous syscalls: reported once per name, listing the arches.
	type hit struct {
		arches []string
		d      Decision
	}
	hits := map[string]*hit{}
	for _, a := range arches {
		for name := range DangerousSyscalls {
			if _, ok := SyscallNumber(a, name); !ok {
				continue
			}
			d := p.Decide(a, name)
			if !d.MayAllow(p) {
				continue
			}
			h := hits[name]
			if h == nil {
				h = &hit{d: d}
				hits[name] = h
			}
			h.arches = append(h.arches, string(a))
		}
	}
	for name, h := range hits {
		dg := DangerousSyscalls[name]
		how, field := "allowed by the default action", "defaultAction"
		if h.d.Entry >= 0 {
			how, field = "allowed by "+fmt.Sprintf("syscalls[%d]", h.d.Entry), fmt.Sprintf("syscalls[%d]", h.d.Entry)
		} else if !h.d.Allowed() {
			for _, i := range h.d.Conditional {
				if Allows(p.Syscalls[i].Action) {
					how, field = fmt.Sprintf("allowed with argument conditions by syscalls[%d]", i), fmt.Sprintf("syscalls[%d]", i)
					break
				}
			}
		}
		sev := dg.Severity
		if !h.d.Allowed() && sev.Rank() > SevLow.Rank() {
			sev = lower(sev) // argument conditions narrow it
		}
		add(Finding{Severity: sev, Code: "dangerous-syscall", Syscall: name, Field: field,
			Message: fmt.Sprintf("%s %s (%s): %s", name, how, strings.Join(h.arches, ", "), dg.Reason)})
	}
	// clone without argument conditions allows namespace creation.
	for _, a := range arches {
		if _, ok := SyscallNumber(a, "clone"); !ok {
			continue
		}
		if d := p.Decide(a, "clone"); d.Allowed() && d.Entry >= 0 {
			add(Finding{Severity: SevLow, Code: "unfiltered-clone", Syscall: "clone", Field: fmt.Sprintf("syscalls[%d]", d.Entry),
				Message: "clone allowed without argument conditions: CLONE_NEWUSER and the other namespace flags are allowed too (Docker's default masks them unless CAP_SYS_ADMIN)"})
			break
		}
	}
	// socketcall/ipc on x86 multiplex calls whose own entries have conditions.
	if listed[ArchX86] {
		for mux, calls := range map[string][]string{"socketcall": {"socket", "connect", "bind", "accept", "sendto", "recvfrom", "setsockopt"}, "ipc": {"shmget", "shmat", "msgget", "semget"}} {
			if !p.Decide(ArchX86, mux).MayAllow(p) {
				continue
			}
			for _, c := range calls {
				if len(p.Decide(ArchX86_64, c).Conditional) > 0 {
					add(Finding{Severity: SevMedium, Code: "socketcall-bypass", Syscall: mux, Arch: ArchX86,
						Message: fmt.Sprintf("%s is allowed on SCMP_ARCH_X86 and multiplexes %s, whose argument conditions it bypasses", mux, c)})
					break
				}
			}
		}
	}
	for i, s := range p.Syscalls {
		if s.Action == ActErrno && s.ErrnoRet != nil && *s.ErrnoRet == 0 {
			add(Finding{Severity: SevMedium, Code: "errno-zero", Field: fmt.Sprintf("syscalls[%d]", i), Syscall: strings.Join(s.Names, ","),
				Message: "SCMP_ACT_ERRNO with errnoRet 0 skips the syscall yet reports success: callers act on results that never happened"})
		}
	}
	if p.DefaultAction == ActErrno && p.DefaultErrnoRet != nil && *p.DefaultErrnoRet == 0 {
		add(Finding{Severity: SevMedium, Code: "errno-zero", Field: "defaultErrnoRet",
			Message: "default SCMP_ACT_ERRNO with errnoRet 0: every refused syscall reports success"})
	}
	// Redundant or shadowed: an argument-conditioned entry for a name that
	// an unconditional entry decides (libseccomp drops the conditions), or
	// an entry that repeats the default action (runc skips it).
	reported := map[string]bool{}
	conflict := func(a Arch, name string, d Decision) {
		if i, j, ok := d.Conflict(p); ok && !reported[name] {
			reported[name] = true
			add(Finding{Severity: SevMedium, Code: "ambiguous-entries", Syscall: name, Arch: a, Field: fmt.Sprintf("syscalls[%d]", j),
				Message: fmt.Sprintf("%s: syscalls[%d] (%s) and syscalls[%d] (%s) are argument-conditioned with different actions (sysward does not prove they never overlap); libseccomp orders such rules by argument, not by entry, so `sysward run` refuses the profile", name, i, actionText(p.Syscalls[i].Action, p.Syscalls[i].ErrnoRet), j, actionText(p.Syscalls[j].Action, p.Syscalls[j].ErrnoRet))})
		}
	}
	dc := p.decider()
	for _, a := range arches {
		for _, name := range p.Names() {
			d := dc.decide(a, name)
			for _, i := range d.Ignored {
				s := p.Syscalls[i]
				switch {
				case len(s.Args) > 0 && d.Entry >= 0 && SameVerdict(s.Action, s.ErrnoRet, d.Action, d.ErrnoRet):
					add(Finding{Severity: SevInfo, Code: "redundant-entry", Syscall: name, Field: fmt.Sprintf("syscalls[%d]", i),
						Message: fmt.Sprintf("%s: argument conditions in syscalls[%d] give the same action as the unconditional syscalls[%d]", name, i, d.Entry)})
				case len(s.Args) > 0 && d.Entry >= 0:
					add(Finding{Severity: SevLow, Code: "shadowed-entry", Syscall: name, Field: fmt.Sprintf("syscalls[%d]", i),
						Message: fmt.Sprintf("%s: argument conditions in syscalls[%d] (%s) have no effect: the unconditional syscalls[%d] (%s) decides for every argument in runc, ctr, podman and the kubelet (libseccomp drops a syscall's conditions once it has an unconditional rule)", name, i, actionText(s.Action, s.ErrnoRet), d.Entry, actionText(d.Action, d.ErrnoRet))})
				}
			}
			conflict(a, name, d)
		}
		break // names are arch independent; one pass is enough
	}
	if listed[ArchX86] {
		for _, mux := range []string{"socketcall", "ipc"} {
			conflict(ArchX86, mux, p.Decide(ArchX86, mux))
		}
	}
	for _, f := range coverageFindings(p) {
		add(f)
	}
	for _, a := range arches {
		if c, err := CompareDocker(p, a); err == nil {
			r.Docker = append(r.Docker, c)
		}
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		if a.Syscall != b.Syscall {
			return a.Syscall < b.Syscall
		}
		return a.Message < b.Message
	})
	return r
}

func lower(s Severity) Severity {
	switch s {
	case SevHigh:
		return SevMedium
	case SevMedium:
		return SevLow
	}
	return s
}

// WriteText writes the report for people; name labels the profile.
func (r *LintReport) WriteText(w io.Writer, name string) {
	fmt.Fprintf(w, "%s:\n", name)
	var arches []Arch
	for a := range r.Allowed {
		arches = append(arches, a)
	}
	sort.Slice(arches, func(i, j int) bool { return arches[i] < arches[j] })
	for _, a := range arches {
		fmt.Fprintf(w, "  allowed on %s: %d syscalls\n", a, r.Allowed[a])
	}
	for _, c := range r.Docker {
		fmt.Fprintf(w, "  vs Docker default on %s: this profile allows %d, Docker's allows %d; %d allowed here that Docker blocks",
			c.Arch, c.Allowed, c.DockerAllowed, len(c.BlockedByDocker))
		if len(c.BlockedByDocker) > 0 {
			fmt.Fprintf(w, ": %s", strings.Join(c.BlockedByDocker, " "))
		}
		fmt.Fprintln(w)
		if len(c.RestrictedByDocker) > 0 {
			fmt.Fprintf(w, "    allowed here for any arguments, by Docker only for some: %s\n", strings.Join(c.RestrictedByDocker, " "))
		}
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "  no findings")
		return
	}
	counts := map[Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
		loc := ""
		if f.Field != "" {
			loc = " [" + f.Field + "]"
		}
		fmt.Fprintf(w, "  %-6s %s%s: %s\n", f.Severity, f.Code, loc, f.Message)
	}
	fmt.Fprintf(w, "  %d findings: %d high, %d medium, %d low, %d info\n", len(r.Findings),
		counts[SevHigh], counts[SevMedium], counts[SevLow], counts[SevInfo])
}

// coverageFindings reports the gap between what the workload's binaries can
// reach (their imports, recorded by `learn --static hints`) and what the
// trace or a family covers: a syscall reachable but not allowed (a
// dangerous one is never added) fails the workload the day it makes it; a
// syscall allowed only from static hints was never seen and is allowed on
// the binary's word.
func coverageFindings(p *Profile) []Finding {
	if p.Sysward == nil {
		return nil
	}
	var out []Finding
	reach := p.Sysward.Reachable
	names := make([]string, 0, len(reach))
	for n := range reach {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		allowed := false
		for _, a := range CheckedArches(p) {
			allowed = allowed || p.Decide(a, n).MayAllow(p)
		}
		if allowed {
			continue // a later merge or absorb allowed it
		}
		var from []string
		for _, s := range reach[n] {
			from = append(from, strings.TrimPrefix(s, SourceStaticPrefix))
		}
		sev := SevLow
		why := "the workload is refused the day it makes it"
		if d, ok := DangerousSyscalls[n]; ok {
			sev = SevInfo
			why = "left out as dangerous (" + d.Reason + "); the workload is refused if it makes it"
		}
		out = append(out, Finding{Severity: sev, Code: "coverage", Syscall: n, Field: "sysward.reachable",
			Message: fmt.Sprintf("%s is reachable from %s but neither traced nor covered by a family and not allowed: %s", n, strings.Join(from, ", "), why)})
	}
	stats := make([]string, 0, len(p.Sysward.Stats))
	for n := range p.Sysward.Stats {
		stats = append(stats, n)
	}
	sort.Strings(stats)
	for _, n := range stats {
		src := p.Sysward.Stats[n].Sources
		if PrimarySource(src) != KindStatic {
			continue
		}
		var from []string
		for _, s := range src {
			if SourceKind(s) == KindStatic {
				from = append(from, strings.TrimPrefix(s, SourceStaticPrefix))
			}
		}
		out = append(out, Finding{Severity: SevInfo, Code: "coverage", Syscall: n, Field: "sysward.stats." + n,
			Message: fmt.Sprintf("%s is allowed because %s can reach it, but neither the trace nor a family covers it (a complain run would show whether the workload makes it)", n, strings.Join(from, ", "))})
	}
	return out
}
