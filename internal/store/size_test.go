package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/profiles"
)

// etcdRequestLimit is etcd's default --max-request-bytes: an update of a
// larger object fails, for ever, whoever writes it.
const etcdRequestLimit = 3 << 19 // 1.5 MiB

// largestObject is the largest object the merge and `sysward k8s apply`
// make: every syscall of every table on every architecture, first seen
// in pods and nodes with the longest names, every list at its bound, the
// image at its longest, and MaxApplied applied profiles of the whole set.
func largestObject(t testing.TB) *v1.WorkloadProfile {
	t.Helper()
	k := Key{Namespace: "shop", Kind: "deployment", Workload: strings.Repeat("w", 200), Container: strings.Repeat("c", 63)}
	wp := New(k, t0)
	now := t0.Add(time.Hour)
	long := func(prefix string, i int) string { return fmt.Sprintf("%s%0*d", prefix, 253-len(prefix), i) }
	for i := range v1.MaxRetired + 1 {
		if _, err := Apply(wp, &Delta{Key: k, Image: fmt.Sprintf("%0*d", 1024, i), PodCreated: now, Pod: long("p", 0), Traced: map[string]Seen{"read": {First: t0}}}, now); err != nil {
			t.Fatal(err)
		}
	}
	d := &Delta{Key: k, Image: wp.Status.Image, Pod: long("p", 0), Node: long("n", 0), Traced: map[string]Seen{}}
	for _, a := range profiles.KnownArches() {
		for _, n := range profiles.Syscalls(a) {
			s := d.Traced[n]
			s.First, s.Arches = t0, append(s.Arches, string(a))
			d.Traced[n] = s
		}
	}
	if _, err := Apply(wp, d, now); err != nil {
		t.Fatal(err)
	}
	for i := range v1.MaxNodes {
		if _, err := Apply(wp, &Delta{Key: k, Pod: long("p", i), Node: long("n", i)}, now); err != nil {
			t.Fatal(err)
		}
	}
	for i := range v1.MaxApplied {
		wp.Status.Version = int32(100 + i)
		mode := v1.ModeComplain
		if i%2 == 1 {
			mode = v1.ModeEnforce
		}
		if _, err := AddApplied(wp, mode, now); err != nil {
			t.Fatal(err)
		}
	}
	wp.Status.Phase = v1.PhaseComplain
	for i := range v1.MaxDeviations {
		if _, err := Apply(wp, &Delta{Key: k, Pod: long("p", i), Node: long("n", i), Complain: map[string]Seen{"restart_syscall": {First: t0.Add(time.Duration(i) * time.Second)}}}, now); err != nil {
			t.Fatal(err)
		}
	}
	return wp
}

// TestLargestObjectFits: the largest object the store makes stays well
// under etcd's request limit (the agents' merges and `apply` write it
// whole; an object over the limit can never be updated again, and what
// the nodes learned would be lost). Each applied profile once carried
// every syscall's statistics (137 KB each with every table: 16 of them
// made a 1.67 MB object).
func TestLargestObjectFits(t *testing.T) {
	wp := largestObject(t)
	st := &wp.Status
	if len(st.Applied) != v1.MaxApplied || len(st.Retired) != v1.MaxRetired || len(st.Nodes) != v1.MaxNodes ||
		len(st.Replicas) != v1.MaxReplicas || len(st.RecentDeviations) != v1.MaxDeviations {
		t.Fatalf("not at the bounds: %d applied, %d retired, %d nodes, %d replicas, %d deviations",
			len(st.Applied), len(st.Retired), len(st.Nodes), len(st.Replicas), len(st.RecentDeviations))
	}
	data, err := json.Marshal(wp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("largest object: %d bytes (%d syscalls, an applied profile %d bytes)", len(data), len(st.Syscalls), len(st.Applied[0].Profile.Raw))
	if len(data) > etcdRequestLimit*2/3 {
		t.Fatalf("largest object %d bytes: over 2/3 of etcd's request limit (%d)", len(data), etcdRequestLimit)
	}
}

// TestLargestObjectAPI: the apiserver stores the largest object and an
// agent's merge into it goes through.
func TestLargestObjectAPI(t *testing.T) {
	c := startCluster(t, "shop")
	cl := c.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wp := largestObject(t)
	if _, err := cl.Create(ctx, wp); err != nil {
		t.Fatalf("creating the largest object: %v", err)
	}
	k := Key{Namespace: wp.Namespace, Kind: wp.Spec.Workload.Kind, Workload: wp.Spec.Workload.Name, Container: wp.Spec.Container}
	out, _, err := cl.Merge(ctx, &Delta{Key: k, Image: wp.Status.Image, Pod: "zz-new-pod", Node: "zz-node", Complain: map[string]Seen{"read": {First: time.Now()}}}, nil)
	if err != nil || out == nil {
		t.Fatalf("merge into the largest object: %v", err)
	}
}
