package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/profiles"
)

// cluster is a real etcd + kube-apiserver (free ports, no machine lock)
// with the CRD installed and namespace ns made.
type cluster struct {
	api *kubetest.APIServer
	cfg *rest.Config
}

func startCluster(t testing.TB, namespaces ...string) *cluster {
	t.Helper()
	api := kubetest.NewAPIServer(t)
	api.Start()
	cfg, err := clientcmd.BuildConfigFromFlags("", api.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := InstallCRD(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// Installing again (an update to the same schema) works too.
	if err := InstallCRD(ctx, cfg); err != nil {
		t.Fatalf("installing the CRD again: %v", err)
	}
	for _, ns := range namespaces {
		if out, err := api.Kubectl("", "create", "namespace", ns); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	return &cluster{api: api, cfg: cfg}
}

// client is a Client with its own connection (its own transport: a Dial
// function keeps client-go from sharing one) and no client-side rate limit.
func (c *cluster) client(t testing.TB) *Client {
	t.Helper()
	cfg := rest.CopyConfig(c.cfg)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	cl, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestAPIServer: the CRD installs into a real apiserver, which refuses
// objects outside the schema with its own errors; Merge creates and
// updates the object; `kubectl get wp` prints the columns with the
// object's values.
func TestAPIServer(t *testing.T) {
	c := startCluster(t, "shop")
	cl := c.client(t)
	ctx := context.Background()

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			name, field string
			edit        func(*v1.WorkloadProfile)
		}{
			{"phase outside the enum", "status.phase", func(wp *v1.WorkloadProfile) { wp.Status.Phase = "Sleeping" }},
			{"bad workload kind", "spec.workload.kind", func(wp *v1.WorkloadProfile) { wp.Spec.Workload.Kind = "Deployment" }},
			{"more than 1024 syscalls", "status.syscalls", func(wp *v1.WorkloadProfile) {
				wp.Status.Syscalls = map[string]v1.Syscall{}
				for i := range v1.MaxSyscalls + 1 {
					wp.Status.Syscalls[fmt.Sprint("s", i)] = v1.Syscall{FirstSeen: metav1.NewTime(t0)}
				}
			}},
			{"more than 64 replicas", "status.replicas", func(wp *v1.WorkloadProfile) {
				for i := range v1.MaxReplicas + 1 {
					wp.Status.Replicas = append(wp.Status.Replicas, fmt.Sprint("p", i))
				}
			}},
			{"deviation mode", "status.recentDeviations[0].mode", func(wp *v1.WorkloadProfile) {
				wp.Status.RecentDeviations = []v1.Deviation{{Syscall: "read", Time: metav1.NewTime(t0), Mode: "audit"}}
			}},
			{"empty container", "spec.container", func(wp *v1.WorkloadProfile) { wp.Spec.Container = "" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wp := New(Key{Namespace: "shop", Kind: "deployment", Workload: "bad", Container: "c"}, t0)
				tc.edit(wp)
				_, err := cl.Create(ctx, wp)
				if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.field) {
					t.Fatalf("created, or not refused for %s: %v", tc.field, err)
				}
				t.Logf("apiserver: %v", err)
			})
		}
		// The bounds hold exactly: 1024 syscalls are accepted.
		wp := New(Key{Namespace: "shop", Kind: "deployment", Workload: "full", Container: "c"}, t0)
		wp.Status.Syscalls = map[string]v1.Syscall{}
		for i := range v1.MaxSyscalls {
			wp.Status.Syscalls[fmt.Sprint("s", i)] = v1.Syscall{FirstSeen: metav1.NewTime(t0)}
		}
		if _, err := cl.Create(ctx, wp); err != nil {
			t.Fatalf("1024 syscalls refused: %v", err)
		}
	})

	t.Run("merge and kubectl get", func(t *testing.T) {
		k := Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
		now := time.Now().Add(-time.Minute)
		d := &Delta{Key: k, Image: "registry.example/web:1", Pod: "web-7d9c-abcde", Node: "node-1", PodCreated: now,
			Traced: map[string]Seen{"read": {First: now}, "write": {First: now}, "openat": {First: now}}}
		out, st, err := cl.Merge(ctx, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Requests != 2 || st.Conflicts != 0 || out.ResourceVersion == "" || !slices.Equal(st.Result.New, []string{"openat", "read", "write"}) {
			t.Fatalf("create: %+v, rv %q", st, out.ResourceVersion)
		}
		// The same delta again: read, nothing to write (no object back).
		again, st, err := cl.Merge(ctx, d, nil)
		if err != nil || st.Requests != 1 || again != nil {
			t.Fatalf("no-op merge: %+v, %v", st, err)
		}
		d2 := &Delta{Key: k, Image: d.Image, Pod: "web-7d9c-fghij", Node: "node-2", Traced: map[string]Seen{"mmap": {First: now}},
			Denied: map[string]Seen{"ptrace": {First: now}}}
		// A stale cached copy as the first read: one conflict, then done.
		out2, st, err := cl.Merge(ctx, d2, out.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		if st.Conflicts != 0 || st.Requests != 1 {
			t.Fatalf("merge from a current cached copy: %+v", st)
		}
		_, st, err = cl.Merge(ctx, &Delta{Key: k, Image: d.Image, Pod: "web-7d9c-zzzzz", Traced: map[string]Seen{"close": {First: now}}}, out.DeepCopy())
		if err != nil || st.Conflicts != 1 || st.Requests != 3 {
			t.Fatalf("merge from a stale cached copy: %+v, %v", st, err)
		}
		got, err := cl.Get(ctx, "shop", k.Name())
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.ReplicaCount != 3 || got.Status.NodeCount != 2 || len(got.Status.Syscalls) != 5 || got.Status.Deviations != 1 ||
			got.Status.SyscallCount < 5 || got.Status.Profile == nil || out2.Status.LastNewSyscall == nil {
			t.Fatalf("status %+v", got.Status)
		}
		if _, err := profiles.Parse("status.profile", got.Status.Profile.Raw); err != nil {
			t.Fatalf("stored profile: %v", err)
		}

		table, err := c.api.Kubectl("", "get", "wp", "-n", "shop", k.Name())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("kubectl get wp:\n%s", table)
		cols := row(t, table, k.Name())
		want := map[string]string{"NAME": k.Name(), "WORKLOAD": "web", "CONTAINER": "app", "PHASE": "Learning",
			"SYSCALLS": fmt.Sprint(got.Status.SyscallCount), "REPLICAS": "3", "DEVIATIONS": "1"}
		for h, v := range want {
			if cols[h] != v {
				t.Errorf("column %s = %q, want %q (row %v)", h, cols[h], v, cols)
			}
		}
		if cols["LAST-NEW"] == "" || cols["LAST-NEW"] == "<none>" || cols["AGE"] == "" {
			t.Errorf("LAST-NEW %q AGE %q", cols["LAST-NEW"], cols["AGE"])
		}
		wide, err := c.api.Kubectl("", "get", "wp", "-n", "shop", "-o", "wide", k.Name())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("kubectl get wp -o wide:\n%s", wide)
		cols = row(t, wide, k.Name())
		for h, v := range map[string]string{"KIND": "deployment", "VERSION": "1", "NODES": "2", "IMAGE": d.Image} {
			if cols[h] != v {
				t.Errorf("wide column %s = %q, want %q (row %v)", h, cols[h], v, cols)
			}
		}
		// The short name and the category find it too.
		if all, err := c.api.Kubectl("", "get", "sysward", "-A", "-o", "name"); err != nil || !strings.Contains(all, "workloadprofile.sysward.io/"+k.Name()) {
			t.Errorf("kubectl get sysward: %v %s", err, all)
		}
	})
}

// row parses kubectl's table output into header → value for the line of
// name (values hold no spaces here but for AGE-like "5s").
func row(t *testing.T, table, name string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) < 2 {
		t.Fatalf("table %q", table)
	}
	header := lines[0]
	var starts []int
	for i := range header {
		if header[i] != ' ' && (i == 0 || header[i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, name+" ") {
			continue
		}
		out := map[string]string{}
		for j, s := range starts {
			end := len(header)
			if j+1 < len(starts) {
				end = starts[j+1]
			}
			h := strings.TrimSpace(header[s:min(end, len(header))])
			if s >= len(l) {
				out[h] = ""
				continue
			}
			if j+1 == len(starts) {
				end = len(l)
			}
			out[h] = strings.TrimSpace(l[s:min(end, len(l))])
		}
		return out
	}
	t.Fatalf("no row for %s in\n%s", name, table)
	return nil
}

// TestConcurrentMerges is the store's concurrency proof: 20 writers, each
// with its own Client and connection, make 100 Merges each of random sets
// (1 to 8) of real syscalls, seen up to a minute before, into one object
// at once. The object ends with exactly the union of what was sent and,
// for each syscall, the earliest time sent: no update lost.
func TestConcurrentMerges(t *testing.T) {
	const writers, merges = 20, 100
	c := startCluster(t, "load")
	table := profiles.Syscalls(profiles.NativeArch())
	k := Key{Namespace: "load", Kind: "deployment", Workload: "busy", Container: "app"}

	type sent struct {
		first map[string]time.Time
	}
	results := make([]sent, writers)
	stats := make([]MergeStats, writers)
	var writes, noops, maxAttempts atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, writers)
	t0 := time.Now()
	for w := range writers {
		cl := c.client(t)
		rng := rand.New(rand.NewPCG(uint64(w), 42))
		results[w].first = map[string]time.Time{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for m := range merges {
				d := &Delta{Key: k, Image: "busy:1", Pod: fmt.Sprintf("busy-%02d", w), Node: fmt.Sprintf("node-%d", w%5), Traced: map[string]Seen{}}
				for range 1 + rng.IntN(8) {
					name := table[rng.IntN(len(table))]
					// Seen up to a minute ago: an earlier time
					// can come after a later one.
					first := time.Now().Add(-time.Duration(rng.IntN(60)) * time.Second).Truncate(time.Second)
					if s, ok := d.Traced[name]; ok && s.First.Before(first) {
						first = s.First
					}
					d.Traced[name] = Seen{First: first, Arches: []string{string(profiles.NativeArch())}}
					if f, ok := results[w].first[name]; !ok || first.Before(f) {
						results[w].first[name] = first
					}
				}
				_, st, err := cl.Merge(context.Background(), d, nil)
				if err != nil {
					errs <- fmt.Errorf("writer %d merge %d: %w", w, m, err)
					return
				}
				stats[w].Requests += st.Requests
				stats[w].Conflicts += st.Conflicts
				if st.Result.Changed {
					writes.Add(1)
				} else {
					noops.Add(1)
				}
				if a := int64(st.Conflicts + 1); a > maxAttempts.Load() {
					maxAttempts.Store(a) // racy max; a log figure only
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	want := map[string]time.Time{}
	for _, r := range results {
		for n, f := range r.first {
			if w, ok := want[n]; !ok || f.Before(w) {
				want[n] = f
			}
		}
	}
	got, err := c.client(t).Get(context.Background(), k.Namespace, k.Name())
	if err != nil {
		t.Fatal(err)
	}
	var lost, extra, late []string
	for n, f := range want {
		s, ok := got.Status.Syscalls[n]
		switch {
		case !ok:
			lost = append(lost, n)
		case !s.FirstSeen.Time.Equal(f):
			late = append(late, fmt.Sprintf("%s %v (sent %v)", n, s.FirstSeen.Time, f))
		}
	}
	for n := range got.Status.Syscalls {
		if _, ok := want[n]; !ok {
			extra = append(extra, n)
		}
	}
	if len(lost)+len(extra)+len(late) > 0 {
		t.Errorf("lost %v, extra %v, first-seen not the earliest sent %v", lost, extra, late)
	}
	if got.Status.ReplicaCount != writers || got.Status.NodeCount != 5 {
		t.Errorf("replicas %d nodes %d", got.Status.ReplicaCount, got.Status.NodeCount)
	}
	var requests, conflicts int
	for _, s := range stats {
		requests += s.Requests
		conflicts += s.Conflicts
	}
	n := writers * merges
	summary := fmt.Sprintf("%d writers x %d merges into one object in %v: %d syscalls in the union, all stored with their earliest time; "+
		"%d merges wrote, %d had nothing new; %d conflicts (%.2f per merge), %d round trips (%.2f per merge), at most %d attempts for one merge",
		writers, merges, elapsed.Round(time.Millisecond), len(want), writes.Load(), noops.Load(), conflicts, float64(conflicts)/float64(n),
		requests, float64(requests)/float64(n), maxAttempts.Load())
	t.Log(summary)
	fmt.Println("TestConcurrentMerges:", summary)
}

// benchBase is before every fill of BenchmarkMerge.
var benchBase = time.Now().Add(-time.Minute)

// benchDelta is a delta every merge must write: 4 syscalls of writer w's
// share of the table (of writers), their first-seen times going back one
// second per call (tick), so each is earlier than what the object holds
// (no other writer sends them).
func benchDelta(k Key, rng *rand.Rand, tick int64, pod string, w, writers int) *Delta {
	table := profiles.Syscalls(profiles.NativeArch())
	first := benchBase.Add(-time.Duration(tick) * time.Second)
	d := &Delta{Key: k, Image: "busy:1", Pod: pod, Node: "node-1", Traced: map[string]Seen{}}
	share := (len(table) - w + writers - 1) / writers
	for range 4 {
		d.Traced[table[w+writers*rng.IntN(share)]] = Seen{First: first}
	}
	return d
}

// mergeRun is one benchmark run's figures.
type mergeRun struct {
	nsPerMerge, latency           float64 // wall time per merge; mean time one Merge call took
	requests, conflicts, objBytes float64 // per merge
}

// BenchmarkMerge: Merges into one object of a real apiserver, each of
// which must write (the object ends with ~360 syscalls, the size of a
// busy workload's), by one writer (the baseline) and by 20 writers with
// their own clients at once (with DefaultBackoff, and with a narrower
// one: 2 ms ×1.5 up to 100 ms). Reported per merge: API requests, conflicts,
// wall time (ns/op) and the mean latency of one Merge, the contended ones
// also as ratios to the baseline of the same run. The table is printed at
// the end.
func BenchmarkMerge(b *testing.B) {
	c := startCluster(b, "bench")
	runs := map[string]mergeRun{}
	var tick atomic.Int64
	narrow := Backoff{First: 2 * time.Millisecond, Max: 100 * time.Millisecond, Factor: 1.5, Attempts: 500}
	for _, run := range []struct {
		name    string
		writers int
		backoff Backoff
	}{{"uncontended", 1, DefaultBackoff}, {"contended-20", 20, DefaultBackoff}, {"contended-20-narrow-backoff", 20, narrow}} {
		name, writers := run.name, run.writers
		k := Key{Namespace: "bench", Kind: "deployment", Workload: name, Container: "app"}
		clients := make([]*Client, writers)
		for i := range clients {
			clients[i] = c.client(b)
			clients[i].Backoff = run.backoff
		}
		// Fill the object first: a busy workload's set.
		fill := &Delta{Key: k, Image: "busy:1", Pod: "fill", Node: "node-1", Traced: map[string]Seen{}}
		for _, n := range profiles.Syscalls(profiles.NativeArch()) {
			fill.Traced[n] = Seen{First: time.Now()}
		}
		if _, _, err := clients[0].Merge(context.Background(), fill, nil); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			var requests, conflicts, latency atomic.Int64
			var wg sync.WaitGroup
			next := atomic.Int64{}
			b.ResetTimer()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), uint64(b.N)))
					for next.Add(1) <= int64(b.N) {
						d := benchDelta(k, rng, tick.Add(1), fmt.Sprintf("pod-%02d", w), w, writers)
						t0 := time.Now()
						_, st, err := clients[w].Merge(context.Background(), d, nil)
						latency.Add(int64(time.Since(t0)))
						if err != nil {
							b.Error(err)
							return
						}
						if !st.Result.Changed {
							b.Errorf("merge wrote nothing: %+v", st)
						}
						requests.Add(int64(st.Requests))
						conflicts.Add(int64(st.Conflicts))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			n := float64(b.N)
			r := mergeRun{nsPerMerge: float64(b.Elapsed().Nanoseconds()) / n, latency: float64(latency.Load()) / n,
				requests: float64(requests.Load()) / n, conflicts: float64(conflicts.Load()) / n}
			if wp, err := clients[0].Get(context.Background(), "bench", k.Name()); err == nil {
				data, _ := json.Marshal(wp)
				r.objBytes = float64(len(data))
			}
			runs[name] = r
			b.ReportMetric(r.requests, "requests/merge")
			b.ReportMetric(r.conflicts, "conflicts/merge")
			b.ReportMetric(r.latency, "ns-latency/merge")
			if base, ok := runs["uncontended"]; ok && writers > 1 {
				b.ReportMetric(r.nsPerMerge/base.nsPerMerge, "x-baseline-ns/op")
				b.ReportMetric(r.latency/base.latency, "x-baseline-latency")
				b.ReportMetric(r.requests/base.requests, "x-baseline-requests")
			}
		})
	}
	base := runs["uncontended"]
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-26s %14s %8s %16s %8s %14s %10s %12s\n", "writers", "ns/merge", "ratio", "latency ns", "ratio", "requests/merge", "ratio", "conflicts/merge")
	for _, name := range []string{"uncontended", "contended-20", "contended-20-narrow-backoff"} {
		r := runs[name]
		fmt.Fprintf(&sb, "%-26s %14.0f %8.2f %16.0f %8.2f %14.2f %10.2f %12.2f\n", name, r.nsPerMerge, r.nsPerMerge/base.nsPerMerge,
			r.latency, r.latency/base.latency, r.requests, r.requests/base.requests, r.conflicts)
	}
	fmt.Fprintf(&sb, "object size: %.0f bytes (JSON)\n", base.objBytes)
	b.Log(sb.String())
	fmt.Print(sb.String())
}
