package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/profiles"
)

// Phase transitions, as pure functions of the object: `sysward k8s` runs
// them inside Client.Modify, the node agent runs Promote for automatic
// promotion (AutoPromoteWindow).

// Errors of the phase transitions.
var (
	// ErrNoSyscalls: the object learned nothing yet, there is no profile
	// to apply or promote.
	ErrNoSyscalls = errors.New("no syscalls learned")
	// ErrPhase: the transition is not allowed from the object's phase.
	ErrPhase = errors.New("wrong phase")
	// ErrAlreadyEnforcing from Promote: nothing to do.
	ErrAlreadyEnforcing = errors.New("already enforcing")
	// ErrMode: a mode other than complain or enforce.
	ErrMode = errors.New("unknown mode")
)

func objName(wp *v1.WorkloadProfile) string { return wp.Namespace + "/" + wp.Name }

// WorkloadArg is the WORKLOAD argument naming wp's workload in `sysward k8s`
// commands (kind/name).
func WorkloadArg(wp *v1.WorkloadProfile) string {
	return wp.Spec.Workload.Kind + "/" + wp.Spec.Workload.Name
}

func stamp(now time.Time) *metav1.Time {
	t := metav1.NewTime(now.UTC().Truncate(time.Second))
	return &t
}

// ModeAction is the default action of the profile for mode: SCMP_ACT_LOG
// for complain (calls outside the profile run and are logged),
// SCMP_ACT_ERRNO (EPERM) for enforce.
func ModeAction(mode string) (profiles.Action, error) {
	switch mode {
	case v1.ModeComplain:
		return profiles.ActLog, nil
	case v1.ModeEnforce:
		return profiles.ActErrno, nil
	}
	return "", fmt.Errorf("%w %q: want %s or %s", ErrMode, clip(mode, 32), v1.ModeComplain, v1.ModeEnforce)
}

// MaxProfileFileName bounds the file part of a LocalhostProfile (the node
// agent refuses longer ones).
const MaxProfileFileName = 200

// LocalhostProfile is the path under the kubelet's seccomp root of the
// profile file for wp's current version in mode with the given hash:
// "sysward/<namespace>/<object>-v<version>-<mode>-<first 12 hex of hash>.json".
// An object name too long for MaxProfileFileName is cut and ends in 10 hex
// of its sha256, so two long names do not share a file.
func LocalhostProfile(wp *v1.WorkloadProfile, mode, hash string) string {
	if len(hash) > 12 {
		hash = hash[:12]
	}
	suffix := fmt.Sprintf("-v%d-%s-%s.json", wp.Status.Version, mode, hash)
	name := wp.Name
	if len(name)+len(suffix) > MaxProfileFileName {
		sum := sha256.Sum256([]byte(name))
		keep := MaxProfileFileName - len(suffix) - 11
		if keep > len(name) {
			keep = len(name)
		}
		if keep < 0 {
			keep = 0
		}
		name = strings.TrimRight(name[:keep], "-.") + "-" + hex.EncodeToString(sum[:])[:10]
	}
	return fmt.Sprintf("sysward/%s/%s%s", wp.Namespace, name, suffix)
}

// AppliedProfileFor builds the applied profile for wp's current syscalls in
// mode without changing wp: the profile (Build with the mode's default
// action, without the per-syscall statistics) in profiles' canonical
// encoding, its sha256 and the
// LocalhostProfile path naming it.
func AppliedProfileFor(wp *v1.WorkloadProfile, mode string, now time.Time) (v1.AppliedProfile, error) {
	def, err := ModeAction(mode)
	if err != nil {
		return v1.AppliedProfile{}, err
	}
	if len(wp.Status.Syscalls) == 0 {
		return v1.AppliedProfile{}, fmt.Errorf("%s: %w yet (version %d, phase %s): mark the workload with %s=true and let it run",
			objName(wp), ErrNoSyscalls, wp.Status.Version, phaseOf(wp), v1.LearnLabel)
	}
	// Without the per-syscall statistics, as the stored Profile (Rebuild):
	// the object holds them once in Syscalls, and every applied entry
	// carrying them again (137 KB each with every table's syscalls) let
	// MaxApplied entries take the object over etcd's request limit, after
	// which neither the agents' merges nor apply could write it.
	p := Build(wp, def)
	p.Sysward.Stats = nil
	data, err := profiles.Marshal(p)
	if err != nil {
		return v1.AppliedProfile{}, fmt.Errorf("%s: %w", objName(wp), err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	return v1.AppliedProfile{
		Mode:             mode,
		Version:          wp.Status.Version,
		Image:            wp.Status.Image,
		LocalhostProfile: LocalhostProfile(wp, mode, hash),
		Hash:             hash,
		Profile:          runtime.RawExtension{Raw: data},
		AppliedAt:        stamp(now),
	}, nil
}

// AddApplied builds the profile of wp for mode (AppliedProfileFor) and
// appends it to Status.Applied; an entry with the same path and hash is
// not added again but moved to the end with AppliedAt = now, so the last
// entry is always the latest applied. Applied stays
// within v1.MaxApplied: the oldest entry of an older version goes first,
// then the oldest of this version; never the one just added.
func AddApplied(wp *v1.WorkloadProfile, mode string, now time.Time) (v1.AppliedProfile, error) {
	ap, err := AppliedProfileFor(wp, mode, now)
	if err != nil {
		return ap, err
	}
	st := &wp.Status
	for i, e := range st.Applied {
		if e.LocalhostProfile == ap.LocalhostProfile && e.Hash == ap.Hash {
			st.Applied = append(st.Applied[:i], st.Applied[i+1:]...)
			break
		}
	}
	st.Applied = append(st.Applied, ap)
	for len(st.Applied) > v1.MaxApplied {
		drop := -1
		for i, e := range st.Applied[:len(st.Applied)-1] {
			if e.Version != st.Version {
				drop = i
				break
			}
		}
		if drop < 0 {
			drop = 0
		}
		st.Applied = append(st.Applied[:drop], st.Applied[drop+1:]...)
	}
	return ap, nil
}

// AppliedFile returns the bytes of the profile file ap names, checked
// against ap.Hash: the object holds the profile as JSON the apiserver may
// have re-encoded, so it is parsed (strictly, as any profile file) and
// written again in the canonical encoding, which gives back the bytes
// AddApplied hashed.
func AppliedFile(ap *v1.AppliedProfile) ([]byte, error) {
	p, err := profiles.Parse(ap.LocalhostProfile, ap.Profile.Raw)
	if err != nil {
		return nil, err
	}
	data, err := profiles.Marshal(p)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != ap.Hash {
		return nil, fmt.Errorf("applied profile %s: content hashes to %.12s, the entry says %.12s", ap.LocalhostProfile, got, clip(ap.Hash, 64))
	}
	return data, nil
}

func phaseOf(wp *v1.WorkloadProfile) v1.Phase {
	if wp.Status.Phase == "" {
		return v1.PhaseLearning
	}
	return wp.Status.Phase
}

// SetPhase moves wp to phase, PhaseSince = now; the same phase is no
// change. Allowed: Learning → Complain (the profile must hold syscalls),
// Enforcing → Complain (back off after a refusal), any → Learning
// (re-learn). Complain → Enforcing is Promote's, which checks the evidence.
func SetPhase(wp *v1.WorkloadProfile, phase v1.Phase, now time.Time) error {
	cur := phaseOf(wp)
	if cur == phase {
		wp.Status.Phase = cur
		return nil
	}
	switch phase {
	case v1.PhaseLearning:
	case v1.PhaseComplain:
		if len(wp.Status.Syscalls) == 0 {
			return fmt.Errorf("%s: %w yet, nothing to run in complain mode: mark the workload with %s=true and let it run",
				objName(wp), ErrNoSyscalls, v1.LearnLabel)
		}
	case v1.PhaseEnforcing:
		return fmt.Errorf("%s is %s: %w, use promote (sysward k8s promote %s --window DURATION) to move to %s",
			objName(wp), cur, ErrPhase, WorkloadArg(wp), v1.PhaseEnforcing)
	default:
		return fmt.Errorf("%s: %w: unknown phase %q", objName(wp), ErrPhase, clip(string(phase), 32))
	}
	wp.Status.Phase, wp.Status.PhaseSince = phase, stamp(now)
	return nil
}

// PromoteRefusal is Promote's error when the evidence is too recent: the
// newest event (a new syscall, a complain-mode deviation, or the move to
// Complain itself) and how long until the window is met.
type PromoteRefusal struct {
	Object string
	// What: "new syscall", "complain-mode deviation" or "phase Complain".
	What               string
	Syscall, Pod, Node string
	At                 time.Time
	Window             time.Duration
	// Wait is how long until At is window old.
	Wait time.Duration
}

func (r *PromoteRefusal) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "not promoting %s: ", r.Object)
	if r.What == "phase Complain" {
		fmt.Fprintf(&b, "in Complain only since %s", r.At.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(&b, "last %s %s", r.What, clip(r.Syscall, 64))
		if r.Pod != "" {
			fmt.Fprintf(&b, " in pod %s", clip(r.Pod, 253))
		}
		if r.Node != "" {
			fmt.Fprintf(&b, " on node %s", clip(r.Node, 253))
		}
		fmt.Fprintf(&b, " at %s", r.At.UTC().Format(time.RFC3339))
	}
	if ago := r.Window - r.Wait; ago >= 0 {
		fmt.Fprintf(&b, ", %s ago", ago.Round(time.Second))
	} else {
		// Written by a machine whose clock is ahead of this one's.
		fmt.Fprintf(&b, ", %s ahead of this machine's clock (a node's clock ahead?)", (-ago).Round(time.Second))
	}
	fmt.Fprintf(&b, ": the window is %s, %s to go", r.Window, r.Wait.Round(time.Second))
	return b.String()
}

// Promote moves wp from Complain to Enforcing (PhaseSince = now; from then
// the profile is frozen and calls outside it only count as deviations). It
// refuses from Learning (apply complain mode first), and with a
// *PromoteRefusal while wp has been in Complain for less than window, or
// its last new syscall or last complain-mode deviation is less than window
// old. An Enforcing object gives ErrAlreadyEnforcing.
func Promote(wp *v1.WorkloadProfile, window time.Duration, now time.Time) error {
	if window <= 0 {
		return fmt.Errorf("promote window %s: must be positive", window)
	}
	switch phaseOf(wp) {
	case v1.PhaseEnforcing:
		return fmt.Errorf("%s: %w", objName(wp), ErrAlreadyEnforcing)
	case v1.PhaseLearning:
		return fmt.Errorf("%s is in Learning: %w; run `sysward k8s apply %s --mode complain` first and observe the workload in complain mode",
			objName(wp), ErrPhase, WorkloadArg(wp))
	case v1.PhaseComplain:
	default:
		return fmt.Errorf("%s: %w: unknown phase %q", objName(wp), ErrPhase, clip(string(wp.Status.Phase), 32))
	}
	if len(wp.Status.Syscalls) == 0 {
		return fmt.Errorf("%s: %w, nothing to enforce", objName(wp), ErrNoSyscalls)
	}
	newest := &PromoteRefusal{Object: objName(wp), Window: window}
	consider := func(what, syscall, pod, node string, at time.Time) {
		if at.After(newest.At) || newest.What == "" {
			newest.What, newest.Syscall, newest.Pod, newest.Node, newest.At = what, syscall, pod, node, at
		}
	}
	if wp.Status.PhaseSince != nil {
		consider("phase Complain", "", "", "", wp.Status.PhaseSince.Time)
	}
	if wp.Status.LastNewSyscall != nil {
		name, s := newestSyscall(wp.Status.Syscalls)
		consider("new syscall", name, s.FirstPod, s.FirstNode, wp.Status.LastNewSyscall.Time)
	}
	for _, d := range wp.Status.RecentDeviations {
		if d.Mode != v1.ModeComplain {
			continue
		}
		// A call this version already held before the deviation (a pod
		// still under an older complain profile, which lacked it) is not
		// new evidence: the profile to enforce allows it.
		if _, held := wp.Status.Syscalls[d.Syscall]; held && !d.Absorbed {
			continue
		}
		consider("complain-mode deviation", d.Syscall, d.Pod, d.Node, d.Time.Time)
	}
	if newest.What != "" {
		if age := now.Sub(newest.At); age < window {
			newest.Wait = window - age
			return newest
		}
	}
	wp.Status.Phase, wp.Status.PhaseSince = v1.PhaseEnforcing, stamp(now)
	return nil
}

// newestSyscall is the syscall with the latest first-seen time (the
// smallest name among equals, so the answer does not depend on map order).
func newestSyscall(m map[string]v1.Syscall) (string, v1.Syscall) {
	var name string
	var best v1.Syscall
	for n, s := range m {
		if name == "" || best.FirstSeen.Before(&s.FirstSeen) || (s.FirstSeen.Equal(&best.FirstSeen) && n < name) {
			name, best = n, s
		}
	}
	return name, best
}

// AutoPromoteWindow reads v1.AutoPromoteAnnotation: (window, true) when
// it is a positive Go duration, (0, false, nil) when absent, an error
// naming the annotation and the value otherwise (the agent logs it and
// does not promote).
func AutoPromoteWindow(wp *v1.WorkloadProfile) (time.Duration, bool, error) {
	s, ok := wp.Annotations[v1.AutoPromoteAnnotation]
	if !ok {
		return 0, false, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, false, fmt.Errorf("%s: annotation %s=%q: want a positive duration such as 30m", objName(wp), v1.AutoPromoteAnnotation, clip(s, 64))
	}
	return d, true, nil
}

// clip bounds attacker-controlled text in messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
