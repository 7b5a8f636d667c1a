package profiler

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/elfhints"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// buildImporter compiles elfhints' importer: a C program that imports
// fsync and ptrace from glibc and calls them only when asked.
func buildImporter(t *testing.T) string {
	t.Helper()
	testutil.Require(t, testutil.Binary("cc"))
	bin := filepath.Join(t.TempDir(), "importer")
	if out, err := exec.Command("cc", "-O0", "-o", bin, "../elfhints/testdata/importer.c").CombinedOutput(); err != nil {
		t.Fatalf("compiling importer: %v\n%s", err, out)
	}
	return bin
}

// TestLearnStaticHints: a run that never calls fsync or ptrace still gets
// fsync allowed (the binary imports it), marked static:<binary>:fsync, and
// ptrace (dangerous) listed as reachable, not allowed.
func TestLearnStaticHints(t *testing.T) {
	requireBPF(t)
	bin := buildImporter(t)

	off, err := Learn(context.Background(), Target{Command: []string{bin}}, nil) // "" is off
	if err != nil {
		t.Fatal(err)
	}
	if got := names(off.Profile); got["fsync"] || got["ptrace"] || off.Static != nil {
		t.Fatalf("--static off: fsync=%v ptrace=%v static=%+v: the run itself must make neither", got["fsync"], got["ptrace"], off.Static)
	}

	res, err := Learn(context.Background(), Target{Command: []string{bin}}, &LearnOptions{Static: StaticHints})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Profile
	if !names(p)["fsync"] {
		t.Fatalf("fsync not allowed; profile %v", p.Names())
	}
	src := profiles.SourceStaticPrefix + bin + ":fsync"
	if st := p.Sysward.Stats["fsync"]; !slices.Contains(st.Sources, src) || !slices.Contains(st.Arches, profiles.ArchX86_64) {
		t.Errorf("fsync stats %+v, want source %s on x86_64", st, src)
	}
	if names(p)["ptrace"] {
		t.Errorf("ptrace (dangerous) allowed by a static hint")
	}
	if r := p.Sysward.Reachable["ptrace"]; !slices.Contains(r, profiles.SourceStaticPrefix+bin+":ptrace") {
		t.Errorf("reachable %v, want ptrace from %s", p.Sysward.Reachable, bin)
	}
	if res.Static == nil || !slices.Contains(res.Static.Added, "fsync") || !slices.Equal(res.Static.Reachable, []string{"clone3", "ptrace"}) {
		t.Errorf("report %+v", res.Static)
	}
	if len(res.Static.Binaries) != 1 || res.Static.Binaries[0] != (StaticBinary{Path: bin, Kind: elfhints.KindDynamic}) {
		t.Errorf("binaries %+v, want only %s", res.Static.Binaries, bin)
	}
	// Traced syscalls keep their own stats: no static source on them.
	if st := p.Sysward.Stats["execve"]; slices.ContainsFunc(st.Sources, func(s string) bool { return strings.HasPrefix(s, profiles.SourceStaticPrefix) }) {
		t.Errorf("execve (traced) got static sources %v", st.Sources)
	}
	// The profile saves and loads (the strict loader accepts what we wrote).
	data, err := profiles.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := profiles.Parse("learned", data)
	if err != nil {
		t.Fatalf("reloading: %v", err)
	}
	if !slices.Equal(q.Sysward.Reachable["ptrace"], p.Sysward.Reachable["ptrace"]) {
		t.Errorf("reachable lost on save: %v", q.Sysward.Reachable)
	}
}

// TestLearnStaticChild: a program the command starts (found by polling
// the cgroup while it runs) is read too.
func TestLearnStaticChild(t *testing.T) {
	requireBPF(t)
	bin := buildImporter(t)
	res, err := Learn(context.Background(), Target{Command: []string{testutil.BusyboxPath, "sh", "-c", bin + " wait"}}, &LearnOptions{Static: StaticHints})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("learn: %v (exit %d)", err, res.ExitCode)
	}
	var paths []string
	for _, b := range res.Static.Binaries {
		paths = append(paths, b.Path)
	}
	if !slices.Contains(paths, bin) || !slices.Contains(paths, testutil.BusyboxPath) {
		t.Fatalf("binaries read %v, want busybox and %s", paths, bin)
	}
	if !slices.ContainsFunc(res.Static.Notes, func(n string) bool { return strings.Contains(n, "no static hints are possible") }) {
		t.Errorf("notes %v: want busybox's no-hints note", res.Static.Notes)
	}
	if !slices.Contains(res.Profile.Sysward.Stats["fsync"].Sources, profiles.SourceStaticPrefix+bin+":fsync") {
		t.Errorf("fsync sources %v", res.Profile.Sysward.Stats["fsync"].Sources)
	}
}

// TestLearnStaticShortChild: a child that runs for a moment and makes no
// syscall new to the session is still read: the session is tracked in
// watch mode with everything allowed, so the kernel reports each exec with
// its path, read from the process if it is still there, else from the path.
func TestLearnStaticShortChild(t *testing.T) {
	requireBPF(t)
	bin := buildImporter(t)
	// Polling (every 50 ms) and first-seen events (read after the child
	// has usually exited) miss it; three sessions, so that a lucky poll
	// cannot pass the test.
	for i := 0; i < 3; i++ {
		res, err := Learn(context.Background(), Target{Command: []string{testutil.BusyboxPath, "sh", "-c", bin + " >/dev/null; true"}}, &LearnOptions{Static: StaticHints})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("learn: %v (exit %d)", err, res.ExitCode)
		}
		if !slices.Contains(res.Static.Binaries, StaticBinary{Path: bin, Kind: elfhints.KindDynamic}) {
			t.Fatalf("run %d: binaries read %+v, want %s (notes %v)", i, res.Static.Binaries, bin, res.Static.Notes)
		}
		if !slices.Contains(res.Profile.Sysward.Stats["fsync"].Sources, profiles.SourceStaticPrefix+bin+":fsync") {
			t.Errorf("fsync sources %v", res.Profile.Sysward.Stats["fsync"].Sources)
		}
	}
}

// TestLearnStaticContainer: a dynamic binary inside a runc container is
// read from the container's root filesystem (with its own libc), named by
// its path inside the container.
func TestLearnStaticContainer(t *testing.T) {
	requireBPF(t)
	testutil.Require(t, testutil.Runc)
	bin := buildImporter(t)
	bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", "echo hello; /bin/importer wait >/dev/null; echo done"}, withSeccomp(allowAll()))
	rootfs := filepath.Join(bundle, "rootfs")
	for from, to := range map[string]string{
		bin:                               "bin/importer",
		"/lib64/ld-linux-x86-64.so.2":     "lib64/ld-linux-x86-64.so.2",
		"/lib/x86_64-linux-gnu/libc.so.6": "lib/x86_64-linux-gnu/libc.so.6",
	} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(rootfs, to)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	res := learnContainer(t, bundle, func(o *LearnOptions) { o.Static = StaticHints })
	if res.Static == nil || !slices.Contains(res.Static.Binaries, StaticBinary{Path: "/bin/importer", Kind: elfhints.KindDynamic}) {
		t.Fatalf("static report %+v, want /bin/importer read inside the container", res.Static)
	}
	if !slices.Contains(res.Profile.Sysward.Stats["fsync"].Sources, profiles.SourceStaticPrefix+"/bin/importer:fsync") {
		t.Errorf("fsync sources %v", res.Profile.Sysward.Stats["fsync"].Sources)
	}
	if !slices.Contains(res.Profile.Sysward.Reachable["ptrace"], profiles.SourceStaticPrefix+"/bin/importer:ptrace") || names(res.Profile)["ptrace"] {
		t.Errorf("ptrace: reachable %v, allowed %v", res.Profile.Sysward.Reachable, names(res.Profile)["ptrace"])
	}
	// The entrypoint, from the bundle's config.json inside root.path.
	if res.Static.Binaries[0] != (StaticBinary{Path: "/bin/sh", Kind: elfhints.KindStatic}) {
		t.Errorf("first binary %+v, want the entrypoint /bin/sh (busybox, static)", res.Static.Binaries[0])
	}
	// runc's own binary (it runs from a memfd before exec'ing the
	// entrypoint) is not the workload.
	for _, b := range res.Static.Binaries {
		if strings.Contains(b.Path, "runc") || b.Kind == elfhints.KindGo {
			t.Errorf("read %+v: runc's binary, not the workload's", b)
		}
	}
}

func TestMergeStatic(t *testing.T) {
	imp := func(names ...string) []elfhints.Import {
		var out []elfhints.Import
		for _, n := range names {
			out = append(out, elfhints.Import{Name: n, Version: "GLIBC_2.2.5", Library: "libc.so.6"})
		}
		return out
	}
	scan := newExecScanner(StaticHints)
	scan.binaries = []*elfhints.Binary{
		{Path: "/usr/bin/a", Kind: elfhints.KindDynamic, Imports: imp("write", "writev", "ptrace", "mount")},
		{Path: "/usr/bin/b", Kind: elfhints.KindDynamic, Imports: imp("writev")},
		{Path: "/bin/busybox", Kind: elfhints.KindStatic},
	}
	p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
	p.Allow("write")
	p.Sysward = &profiles.Metadata{Stats: map[string]profiles.SyscallStats{"write": {Sessions: 1, Arches: []profiles.Arch{profiles.ArchX86_64}}}}
	rep := mergeStatic(p, scan, StaticHints)
	if !slices.Equal(rep.Added, []string{"writev"}) || !slices.Equal(rep.Reachable, []string{"mount", "ptrace"}) {
		t.Errorf("added %v reachable %v", rep.Added, rep.Reachable)
	}
	if got := p.Sysward.Stats["writev"].Sources; !slices.Equal(got, []string{"static:/usr/bin/a:writev", "static:/usr/bin/b:writev"}) {
		t.Errorf("writev sources %v", got)
	}
	if got := p.Sysward.Stats["write"]; len(got.Sources) != 0 || got.Sessions != 1 {
		t.Errorf("write (already allowed) changed: %+v", got)
	}
	if !slices.Equal(p.Sysward.Reachable["mount"], []string{"static:/usr/bin/a:mount"}) {
		t.Errorf("reachable %v", p.Sysward.Reachable)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "/bin/busybox") }) {
		t.Errorf("notes %v", rep.Notes)
	}
	if !rep.LegacyLibc {
		t.Error("busybox read: LegacyLibc false, want true (families widen to legacy members)")
	}

	// clone3 reachable (posix_spawn) and not allowed: ENOSYS, not EPERM,
	// so that glibc falls back to clone (which the hint allows).
	scan.binaries = []*elfhints.Binary{{Path: "/usr/bin/c", Kind: elfhints.KindDynamic, Needed: []string{"libc.so.6"}, Imports: imp("posix_spawn")}}
	c := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
	rep = mergeStatic(c, scan, StaticHints)
	if rep.LegacyLibc {
		t.Error("a glibc binary only: LegacyLibc true, want false")
	}
	if !slices.Contains(rep.Reachable, "clone3") || !slices.Contains(rep.Added, "clone") {
		t.Fatalf("posix_spawn: added %v reachable %v", rep.Added, rep.Reachable)
	}
	d := c.Decide(profiles.ArchX86_64, "clone3")
	if d.Action != profiles.ActErrno || d.ErrnoRet == nil || *d.ErrnoRet != uint(unix.ENOSYS) {
		t.Errorf("clone3 decision %+v, want ERRNO(ENOSYS)", d)
	}

	// A profile learned on another architecture only gets nothing.
	q := profiles.New(profiles.ActErrno, profiles.ArchAARCH64)
	rep = mergeStatic(q, scan, StaticHints)
	if len(rep.Added) != 0 || len(q.Names()) != 0 || q.Sysward != nil {
		t.Errorf("aarch64 profile got %v / %+v", q.Names(), q.Sysward)
	}
}

// TestExecGone: an exec event whose process is gone is read from its path,
// in the root the scanner knows (a command's: the host's), or in a live
// sibling's root; with neither, a note says it could not be read.
func TestExecGone(t *testing.T) {
	bin := buildImporter(t)
	const gone = 1 << 30 // above pid_max: no such process
	scan := newExecScanner(StaticHints)
	scan.execRoot = "/"
	scan.exec(gone, bin)
	if len(scan.binaries) != 1 || scan.binaries[0].Path != bin {
		t.Fatalf("read %+v, want %s from its path", scan.binaries, bin)
	}

	scan = newExecScanner(StaticHints) // a pid target: root unknown
	scan.exe[os.Getpid()] = "/proc/self/exe"
	scan.exec(gone, bin)
	if len(scan.binaries) != 1 {
		t.Fatalf("read %+v, want %s through a sibling's root", scan.binaries, bin)
	}

	scan = newExecScanner(StaticHints)
	scan.exec(gone, bin)
	if len(scan.binaries) != 0 || !slices.ContainsFunc(scan.notes, func(n string) bool { return strings.Contains(n, "exited before it could be read") }) {
		t.Errorf("no root: read %+v, notes %v", scan.binaries, scan.notes)
	}
}

func TestLearnStaticBadMode(t *testing.T) {
	_, err := Learn(context.Background(), Target{Command: []string{"true"}}, &LearnOptions{Static: "maybe"})
	if !errors.Is(err, ErrUnknownStatic) {
		t.Fatalf("err %v, want ErrUnknownStatic", err)
	}
}

// TestLearnStaticLibs: with StaticLibs the imports of the binary's own
// shared library count (fdatasync, imported only by libswlib.so).
func TestLearnStaticLibs(t *testing.T) {
	requireBPF(t)
	testutil.Require(t, testutil.Binary("cc"))
	dir := t.TempDir()
	so, bin := filepath.Join(dir, "libswlib.so"), filepath.Join(dir, "importer")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-o", so, "../elfhints/testdata/swlib.c"},
		{"-O0", "-DWITH_LIB", "-o", bin, "../elfhints/testdata/importer.c", "-L" + dir, "-lswlib", "-Wl,--enable-new-dtags,-rpath,$ORIGIN"},
	} {
		if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
			t.Fatalf("cc %v: %v\n%s", args, err, out)
		}
	}
	for _, mode := range []string{StaticHints, StaticLibs} {
		res, err := Learn(context.Background(), Target{Command: []string{bin}}, &LearnOptions{Static: mode})
		if err != nil {
			t.Fatal(err)
		}
		srcs := res.Profile.Sysward.Stats["fdatasync"].Sources
		want := mode == StaticLibs
		if got := slices.Contains(srcs, profiles.SourceStaticPrefix+so+":fdatasync"); got != want {
			t.Errorf("%s: fdatasync from %s: %v, want %v (sources %v)", mode, so, got, want, srcs)
		}
	}
}

// TestStaticSelfNamed: sysward's own executable is read when the user names
// it as the command (learning the node agent: `sysward learn -- sysward
// watch ...`), and not when only an exec event shows it (the launcher
// re-exec'ing itself in the learned cgroup).
func TestStaticSelfNamed(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ev := newExecScanner(StaticHints)
	ev.exec(os.Getpid(), self)
	if len(ev.binaries) != 0 {
		t.Errorf("sysward's own executable read from an exec event: %v", ev.binaries)
	}
	named := newExecScanner(StaticHints)
	named.readPath(self)
	if len(named.binaries) != 1 {
		t.Fatalf("sysward's own executable named as the command: read %d binaries, notes %v", len(named.binaries), named.notes)
	}
}
