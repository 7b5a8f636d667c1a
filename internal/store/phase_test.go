package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/profiles"
)

var phaseT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func phaseLearned(t *testing.T, names ...string) *v1.WorkloadProfile {
	t.Helper()
	k := Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
	wp := New(k, phaseT0)
	d := &Delta{Key: k, Image: "web:1", Pod: "web-1", Node: "n1", Traced: map[string]Seen{}}
	for i, n := range names {
		d.Traced[n] = Seen{Arches: []string{"SCMP_ARCH_X86_64"}, First: phaseT0.Add(time.Duration(i) * time.Minute)}
	}
	if _, err := Apply(wp, d, phaseT0.Add(time.Hour)); err != nil { // after every first-seen time (later ones are clamped)
		t.Fatal(err)
	}
	return wp
}

func TestAddApplied(t *testing.T) {
	wp := phaseLearned(t, "read", "write", "openat")
	ap, err := AddApplied(wp, v1.ModeComplain, phaseT0)
	if err != nil {
		t.Fatal(err)
	}
	// Without the per-syscall statistics (Syscalls holds them once).
	bp := Build(wp, profiles.ActLog)
	bp.Sysward.Stats = nil
	data, _ := profiles.Marshal(bp)
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]); ap.Hash != want {
		t.Fatalf("hash %s, want sha256 of the canonical encoding %s", ap.Hash, want)
	}
	if want := "sysward/shop/" + wp.Name + "-v1-complain-" + ap.Hash[:12] + ".json"; ap.LocalhostProfile != want {
		t.Fatalf("path %q, want %q", ap.LocalhostProfile, want)
	}
	p, err := profiles.Parse("applied", ap.Profile.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sysward == nil || len(p.Sysward.Stats) != 0 || len(p.Sysward.Provenance) == 0 {
		t.Fatalf("applied profile's sysward metadata: %+v", p.Sysward)
	}
	if p.DefaultAction != profiles.ActLog {
		t.Fatalf("complain default action %s", p.DefaultAction)
	}
	if ap.Mode != v1.ModeComplain || ap.Version != 1 || ap.Image != "web:1" || len(wp.Status.Applied) != 1 {
		t.Fatalf("entry %+v, applied %d", ap, len(wp.Status.Applied))
	}

	// Same content again: no new entry.
	again, err := AddApplied(wp, v1.ModeComplain, phaseT0.Add(time.Hour))
	if err != nil || again.LocalhostProfile != ap.LocalhostProfile || len(wp.Status.Applied) != 1 {
		t.Fatalf("identical apply: %v, %d entries", err, len(wp.Status.Applied))
	}
	if !again.AppliedAt.Time.Equal(phaseT0.Add(time.Hour)) {
		t.Fatal("identical apply did not refresh AppliedAt")
	}

	enf, err := AddApplied(wp, v1.ModeEnforce, phaseT0)
	if err != nil {
		t.Fatal(err)
	}
	pe, _ := profiles.Parse("enforce", enf.Profile.Raw)
	if pe.DefaultAction != profiles.ActErrno || pe.DefaultErrnoRet == nil || *pe.DefaultErrnoRet != 1 {
		t.Fatalf("enforce default %s %v", pe.DefaultAction, pe.DefaultErrnoRet)
	}
	if enf.Hash == ap.Hash || !strings.Contains(enf.LocalhostProfile, "-v1-enforce-") || len(wp.Status.Applied) != 2 {
		t.Fatalf("enforce entry %s, %d entries", enf.LocalhostProfile, len(wp.Status.Applied))
	}
	// Complain again: its entry moves to the end (the latest applied).
	if _, err := AddApplied(wp, v1.ModeComplain, phaseT0.Add(2*time.Hour)); err != nil || len(wp.Status.Applied) != 2 ||
		wp.Status.Applied[1].LocalhostProfile != ap.LocalhostProfile {
		t.Fatalf("re-apply complain: %v, %+v", err, wp.Status.Applied)
	}

	// The file the agents write: bytes as hashed, also after the JSON
	// went through a re-encoding (as the apiserver does).
	var generic any
	if err := json.Unmarshal(enf.Profile.Raw, &generic); err != nil {
		t.Fatal(err)
	}
	enf.Profile.Raw, _ = json.Marshal(generic)
	file, err := AppliedFile(&enf)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(file); hex.EncodeToString(sum[:]) != enf.Hash {
		t.Fatal("AppliedFile bytes do not hash to the entry's hash")
	}
	enf.Hash = strings.Repeat("0", 64)
	if _, err := AppliedFile(&enf); err == nil {
		t.Fatal("AppliedFile accepted a wrong hash")
	}
}

func TestAddAppliedRefusals(t *testing.T) {
	k := Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
	wp := New(k, phaseT0)
	if _, err := AddApplied(wp, v1.ModeComplain, phaseT0); !errors.Is(err, ErrNoSyscalls) {
		t.Fatalf("empty object: %v", err)
	}
	wp = phaseLearned(t, "read")
	if _, err := AddApplied(wp, "audit", phaseT0); !errors.Is(err, ErrMode) {
		t.Fatalf("bad mode: %v", err)
	}
	if len(wp.Status.Applied) != 0 {
		t.Fatal("refused apply added an entry")
	}
}

func TestAddAppliedBounded(t *testing.T) {
	wp := phaseLearned(t, "read")
	// Fill with entries: 4 of an older version, then this version's.
	for i := 0; i < v1.MaxApplied; i++ {
		v := wp.Status.Version
		if i < 4 {
			v = 0
		}
		wp.Status.Applied = append(wp.Status.Applied, v1.AppliedProfile{Mode: v1.ModeComplain, Version: v, LocalhostProfile: fmt.Sprintf("old-%d", i), Hash: "x"})
	}
	ap, err := AddApplied(wp, v1.ModeEnforce, phaseT0)
	if err != nil {
		t.Fatal(err)
	}
	a := wp.Status.Applied
	if len(a) != v1.MaxApplied || a[len(a)-1].LocalhostProfile != ap.LocalhostProfile || a[0].LocalhostProfile != "old-1" {
		t.Fatalf("after one over the bound: len %d first %s last %s", len(a), a[0].LocalhostProfile, a[len(a)-1].LocalhostProfile)
	}
	// Only this version's entries left: the oldest of them goes, never the new one.
	for i := range a {
		a[i].Version = wp.Status.Version
	}
	wp.Status.Syscalls["write"] = v1.Syscall{FirstSeen: metav1.NewTime(phaseT0)}
	ap2, err := AddApplied(wp, v1.ModeEnforce, phaseT0)
	if err != nil {
		t.Fatal(err)
	}
	a = wp.Status.Applied
	if len(a) != v1.MaxApplied || a[0].LocalhostProfile != "old-2" || a[len(a)-1].LocalhostProfile != ap2.LocalhostProfile {
		t.Fatalf("second: len %d first %s", len(a), a[0].LocalhostProfile)
	}
	for _, e := range a {
		if e.LocalhostProfile == ap.LocalhostProfile {
			return
		}
	}
	t.Fatal("the previous new entry was dropped before older ones")
}

func TestSetPhase(t *testing.T) {
	k := Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
	empty := New(k, phaseT0)
	if err := SetPhase(empty, v1.PhaseComplain, phaseT0); !errors.Is(err, ErrNoSyscalls) {
		t.Fatalf("complain with nothing learned: %v", err)
	}
	wp := phaseLearned(t, "read")
	later := phaseT0.Add(time.Hour)
	if err := SetPhase(wp, v1.PhaseComplain, later); err != nil {
		t.Fatal(err)
	}
	if wp.Status.Phase != v1.PhaseComplain || !wp.Status.PhaseSince.Time.Equal(later) {
		t.Fatalf("phase %s since %v", wp.Status.Phase, wp.Status.PhaseSince)
	}
	// Same phase: PhaseSince kept.
	if err := SetPhase(wp, v1.PhaseComplain, later.Add(time.Hour)); err != nil || !wp.Status.PhaseSince.Time.Equal(later) {
		t.Fatalf("same phase: %v, since %v", err, wp.Status.PhaseSince)
	}
	err := SetPhase(wp, v1.PhaseEnforcing, later)
	if !errors.Is(err, ErrPhase) || !strings.Contains(err.Error(), "sysward k8s promote deployment/web") {
		t.Fatalf("enforcing through SetPhase: %v", err)
	}
	if err := SetPhase(wp, "Bogus", later); !errors.Is(err, ErrPhase) {
		t.Fatalf("unknown phase: %v", err)
	}
	wp.Status.Phase = v1.PhaseEnforcing
	if err := SetPhase(wp, v1.PhaseComplain, later); err != nil {
		t.Fatalf("back off to complain: %v", err)
	}
	if err := SetPhase(wp, v1.PhaseLearning, later); err != nil || wp.Status.Phase != v1.PhaseLearning {
		t.Fatalf("re-learn: %v", err)
	}
}

func TestPromote(t *testing.T) {
	window := 30 * time.Minute
	wp := phaseLearned(t, "read", "write", "openat") // openat first seen at phaseT0+2m
	err := Promote(wp, window, phaseT0.Add(24*time.Hour))
	if !errors.Is(err, ErrPhase) || !strings.Contains(err.Error(), "sysward k8s apply deployment/web --mode complain") {
		t.Fatalf("from Learning: %v", err)
	}
	complainAt := phaseT0.Add(10 * time.Minute)
	if err := SetPhase(wp, v1.PhaseComplain, complainAt); err != nil {
		t.Fatal(err)
	}
	// Too soon after the move to complain.
	err = Promote(wp, window, complainAt.Add(20*time.Minute))
	var ref *PromoteRefusal
	if !errors.As(err, &ref) || ref.What != "phase Complain" || ref.Wait != 10*time.Minute {
		t.Fatalf("too soon in complain: %v", err)
	}
	// A complain-mode deviation, absorbed, from pod web-2 on n2.
	devAt := complainAt.Add(25 * time.Minute)
	d := &Delta{Key: Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}, Image: "web:1", Pod: "web-2", Node: "n2",
		Complain: map[string]Seen{"connect": {First: devAt}}}
	if _, err := Apply(wp, d, devAt); err != nil {
		t.Fatal(err)
	}
	now := devAt.Add(20 * time.Minute)
	err = Promote(wp, window, now)
	if !errors.As(err, &ref) {
		t.Fatalf("recent deviation: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"connect", "web-2", "n2", devAt.Format(time.RFC3339), "10m0s to go", "30m0s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not name %q", msg, want)
		}
	}
	if wp.Status.Phase != v1.PhaseComplain {
		t.Fatal("refused promote changed the phase")
	}
	// An enforce-mode deviation (an old pod) does not hold promotion back.
	d2 := *d
	d2.Complain, d2.Denied = nil, map[string]Seen{"ptrace": {First: now}}
	if _, err := Apply(wp, &d2, now); err != nil {
		t.Fatal(err)
	}
	ok := devAt.Add(window)
	if err := Promote(wp, window, ok); err != nil {
		t.Fatalf("window met: %v", err)
	}
	if wp.Status.Phase != v1.PhaseEnforcing || !wp.Status.PhaseSince.Time.Equal(ok) {
		t.Fatalf("after promote: %s since %v", wp.Status.Phase, wp.Status.PhaseSince)
	}
	if err := Promote(wp, window, ok); !errors.Is(err, ErrAlreadyEnforcing) {
		t.Fatalf("again: %v", err)
	}
	if err := Promote(wp, 0, ok); err == nil {
		t.Fatal("zero window accepted")
	}
}

// TestPromoteClockAhead: evidence stamped by a node whose clock is ahead
// (agents clamp times to their own now) is refused with a message that
// says so, not "-5m0s ago".
func TestPromoteClockAhead(t *testing.T) {
	wp := phaseLearned(t, "read")
	if err := SetPhase(wp, v1.PhaseComplain, phaseT0); err != nil {
		t.Fatal(err)
	}
	now := phaseT0.Add(3 * time.Hour)
	ahead := metav1.NewTime(now.Add(5 * time.Minute))
	wp.Status.RecentDeviations = []v1.Deviation{{Syscall: "connect", Time: ahead, Pod: "web-2", Node: "n2", Mode: v1.ModeComplain, Absorbed: true}}
	err := Promote(wp, time.Hour, now)
	var ref *PromoteRefusal
	if !errors.As(err, &ref) || ref.Wait != time.Hour+5*time.Minute {
		t.Fatalf("%v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "-5m") || !strings.Contains(msg, "5m0s ahead of this machine's clock") || !strings.Contains(msg, "1h5m0s to go") {
		t.Fatalf("refusal %q", msg)
	}
}

func TestPromoteNewSyscall(t *testing.T) {
	wp := phaseLearned(t, "read", "write")
	if err := SetPhase(wp, v1.PhaseComplain, phaseT0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// write was first seen at phaseT0+1m by web-1 on n1.
	err := Promote(wp, time.Hour, phaseT0.Add(31*time.Minute))
	var ref *PromoteRefusal
	if !errors.As(err, &ref) || ref.What != "new syscall" || ref.Syscall != "write" || ref.Pod != "web-1" || ref.Node != "n1" || ref.Wait != 30*time.Minute {
		t.Fatalf("recent new syscall: %v", err)
	}
}

// TestPromoteOldComplainPod: a pod still under an older complain profile
// reports a call the profile absorbed long ago; it is counted as a
// deviation but does not hold promotion back (it is not new), while a
// complain deviation of a call the profile does not hold does.
func TestPromoteOldComplainPod(t *testing.T) {
	window := 30 * time.Minute
	wp := phaseLearned(t, "read", "write")
	if err := SetPhase(wp, v1.PhaseComplain, phaseT0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	k := Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
	now := phaseT0.Add(2 * time.Hour)
	if _, err := Apply(wp, &Delta{Key: k, Image: "web:1", Pod: "web-9", Node: "n1", Complain: map[string]Seen{"write": {First: now}}}, now); err != nil {
		t.Fatal(err)
	}
	if wp.Status.Deviations == 0 || wp.Status.RecentDeviations[0].Absorbed {
		t.Fatalf("deviation of a held call: %+v", wp.Status.RecentDeviations)
	}
	if err := Promote(wp.DeepCopy(), window, now.Add(time.Minute)); err != nil {
		t.Fatalf("an old pod's held call holds promotion back: %v", err)
	}
	if _, err := Apply(wp, &Delta{Key: k, Image: "web:1", Pod: "web-9", Node: "n1", Complain: map[string]Seen{"connect": {First: now}}}, now); err != nil {
		t.Fatal(err)
	}
	var ref *PromoteRefusal
	if err := Promote(wp, window, now.Add(time.Minute)); !errors.As(err, &ref) || ref.Syscall != "connect" {
		t.Fatalf("a new call in complain mode: %v", err)
	}
}

func TestAutoPromoteWindow(t *testing.T) {
	wp := phaseLearned(t, "read")
	if d, ok, err := AutoPromoteWindow(wp); d != 0 || ok || err != nil {
		t.Fatalf("absent: %v %v %v", d, ok, err)
	}
	for _, c := range []struct {
		val  string
		want time.Duration
		bad  bool
	}{
		{"30m", 30 * time.Minute, false},
		{" 2h ", 2 * time.Hour, false},
		{"", 0, true},
		{"0s", 0, true},
		{"-5m", 0, true},
		{"soon", 0, true},
		{strings.Repeat("x", 10000), 0, true},
	} {
		wp.Annotations = map[string]string{v1.AutoPromoteAnnotation: c.val}
		d, ok, err := AutoPromoteWindow(wp)
		if c.bad {
			if err == nil || ok || !strings.Contains(err.Error(), v1.AutoPromoteAnnotation) || len(err.Error()) > 300 {
				t.Errorf("%.20q: %v %v", c.val, ok, err)
			}
			continue
		}
		if err != nil || !ok || d != c.want {
			t.Errorf("%q: %v %v %v", c.val, d, ok, err)
		}
	}
}

var phasePathRE = regexp.MustCompile(`^sysward/[a-z0-9-]+/[a-z0-9.-]+-v[0-9]+-(complain|enforce)-[0-9a-f]{12}\.json$`)

func TestLocalhostProfileShape(t *testing.T) {
	k := Key{Namespace: "shop", Kind: "deployment", Workload: "Web_Front", Container: strings.Repeat("c", 300)}
	wp := New(k, phaseT0)
	wp.Status.Syscalls = map[string]v1.Syscall{"read": {FirstSeen: metav1.NewTime(phaseT0)}}
	ap, err := AddApplied(wp, v1.ModeEnforce, phaseT0)
	if err != nil {
		t.Fatal(err)
	}
	file := strings.TrimPrefix(ap.LocalhostProfile, "sysward/shop/")
	if !phasePathRE.MatchString(ap.LocalhostProfile) || len(file) > MaxProfileFileName {
		t.Fatalf("path %q (file %d bytes)", ap.LocalhostProfile, len(file))
	}
	// Two long names that share the first 200 characters get two files.
	k2 := k
	k2.Container = strings.Repeat("c", 299) + "d"
	wp2 := New(k2, phaseT0)
	wp2.Status.Syscalls = wp.Status.Syscalls
	if p1, p2 := LocalhostProfile(wp, v1.ModeEnforce, ap.Hash), LocalhostProfile(wp2, v1.ModeEnforce, ap.Hash); p1 == p2 {
		t.Fatalf("two objects, one file %s", p1)
	}
	// A short name is kept whole.
	short := phaseLearned(t, "read")
	if p := LocalhostProfile(short, v1.ModeComplain, ap.Hash); p != "sysward/shop/"+short.Name+"-v1-complain-"+ap.Hash[:12]+".json" {
		t.Fatalf("short name: %s", p)
	}
}

func FuzzAutoPromoteWindow(f *testing.F) {
	for _, s := range []string{"30m", "1h30m", "", "0", "-1s", "9999999999h", "1e9h", " 5m "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		wp := &v1.WorkloadProfile{}
		wp.Namespace, wp.Name = "ns", "obj"
		wp.Annotations = map[string]string{v1.AutoPromoteAnnotation: s}
		d, ok, err := AutoPromoteWindow(wp)
		if err != nil {
			if ok || d != 0 || len(err.Error()) > 400 {
				t.Fatalf("%q: %v %v, error of %d bytes", s, d, ok, len(err.Error()))
			}
			return
		}
		if !ok || d <= 0 {
			t.Fatalf("%q: accepted as %v %v", s, d, ok)
		}
	})
}
