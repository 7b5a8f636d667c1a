package store

import (
	"slices"
	"testing"
	"time"

	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// TestBuildHasRuntimeBase: the store's profiles let runc's window between
// its seccomp() and the entrypoint's execve pass (a pod learned without a
// filter never shows it), each of those calls with the source
// "runtime-base", in both the enforce and the complain variant.
func TestBuildHasRuntimeBase(t *testing.T) {
	k := Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
	now := time.Now()
	wp := New(k, now)
	if _, err := Apply(wp, &Delta{Key: k, Pod: "web-1", Node: "n1", Image: "web:1",
		Traced: map[string]Seen{"read": {First: now}, "sync": {First: now}}}, now); err != nil {
		t.Fatal(err)
	}
	base, err := profiler.LookupRuntimeBase(profiler.RuntimeBaseRunc)
	if err != nil {
		t.Fatal(err)
	}
	for _, def := range []profiles.Action{profiles.ActErrno, profiles.ActLog} {
		p := Build(wp, def)
		allowed := p.AllowedSyscalls(profiles.NativeArch())
		for _, name := range base.Names() {
			if !slices.Contains(allowed, name) {
				t.Errorf("%s: runc's %s not allowed", def, name)
			}
			if st := p.Sysward.Stats[name]; !slices.Contains(st.Sources, profiles.SourceRuntimeBase) {
				t.Errorf("%s: %s sources %v, want runtime-base among them", def, name, st.Sources)
			}
		}
		if st := p.Sysward.Stats["sync"]; !slices.Equal(st.Sources, []string{profiles.SourceTraced}) {
			t.Errorf("sync sources %v", st.Sources)
		}
	}
}
