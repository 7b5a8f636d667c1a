package e2e

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/testutil"
)

// BenchmarkNodeAgent measures the agent on a real node (`go test -run '^$'
// -bench NodeAgent ./test/e2e`, root; one iteration is the whole scenario,
// run it with -benchtime=1x):
//   - pod start → tracked: from each container's start (CRI startedAt,
//     nanoseconds) to the agent's "tracking container" log line, for
//     `pods` pods, p50 and p99; the ratio is to the discovery interval (1 s),
//     the bound the design promises. It can be negative: runc's state
//     exists from `runc create`, before the start;
//   - agent RSS and CPU with 0 (baseline) and `pods` idle pods on the node,
//     CPU over a 20 s window, from /proc of the agent process.
func BenchmarkNodeAgent(b *testing.B) {
	const pods = 50
	testutil.Require(b, nodeRequirements()...)
	c, _ := deployAgent(b, nil)
	pid := agentPID(b, c)
	for b.Loop() {
		rss0, cpu0 := usage(b, pid, 20*time.Second)
		var y strings.Builder
		y.WriteString("apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n")
		for i := range pods {
			fmt.Fprintf(&y, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: idle-%d, namespace: bench}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {name: c, image: %s, imagePullPolicy: Never, command: [sleep, \"3600\"]}\n", i, kubetest.BusyboxImage)
		}
		if _, err := c.KubectlIn(y.String(), "apply", "-f", "-"); err != nil {
			b.Fatal(err)
		}
		if out, err := c.Kubectl("-n", "bench", "wait", "--for=condition=Ready", "pod", "--all", "--timeout=600s"); err != nil {
			b.Fatalf("%s %v", out, err)
		}
		ids := strings.Fields(kubectl(b, c, "-n", "bench", "get", "pods", "-o", "jsonpath={range .items[*]}{.status.containerStatuses[0].containerID}{\" \"}{end}"))
		var lat []time.Duration
		poll(b, "the agent to track every pod", 60*time.Second, func() bool {
			_, log := agentLog(b, c)
			tracked := trackedAt(log)
			lat = lat[:0]
			for _, id := range ids {
				id = strings.TrimPrefix(id, "containerd://")
				at, ok := tracked[id]
				if !ok {
					return false
				}
				started := strings.TrimSpace(crictl(b, c, "inspect", "--output", "go-template", "--template", "{{.status.startedAt}}", id))
				st, err := time.Parse(time.RFC3339Nano, started)
				if err != nil {
					b.Fatalf("startedAt %q: %v", started, err)
				}
				lat = append(lat, at.Sub(st))
			}
			return true
		})
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50, p99 := lat[len(lat)/2], lat[(len(lat)*99+99)/100-1]
		time.Sleep(10 * time.Second) // idle
		rss1, cpu1 := usage(b, pid, 20*time.Second)
		b.ReportMetric(float64(p50.Milliseconds()), "p50-tracked-ms")
		b.ReportMetric(float64(p99.Milliseconds()), "p99-tracked-ms")
		b.ReportMetric(p99.Seconds()/1.0, "p99/interval")
		b.ReportMetric(float64(rss1)/1024, "rss-MB-50pods")
		b.ReportMetric(float64(rss1)/float64(rss0), "rss-ratio-to-0pods")
		b.ReportMetric(cpu1*100, "cpu%-50pods")
		b.ReportMetric(cpu0*100, "cpu%-0pods")
		b.Logf("pod start → tracked over %d pods: p50 %s p99 %s (min %s max %s); agent RSS %d kB → %d kB, CPU %.2f%% → %.2f%% of a core (0 → %d idle pods)",
			len(lat), p50, p99, lat[0], lat[len(lat)-1], rss0, rss1, cpu0*100, cpu1*100, pods)
	}
}

var trackLine = regexp.MustCompile(`^time=(\S+) level=INFO msg="tracking container" container=([0-9a-f]{64})`)

// trackedAt maps container ids to when the agent logged tracking them.
func trackedAt(log string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, l := range strings.Split(log, "\n") {
		if m := trackLine.FindStringSubmatch(l); m != nil {
			if t, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				out[m[2]] = t
			}
		}
	}
	return out
}

func agentPID(tb testing.TB, c *kubetest.Cluster) int {
	id := containerID(tb, c, "sysward", "app.kubernetes.io/name=sysward")
	pid, err := strconv.Atoi(strings.TrimSpace(crictl(tb, c, "inspect", "--output", "go-template", "--template", "{{.info.pid}}", id)))
	if err != nil {
		tb.Fatal(err)
	}
	return pid
}

// usage returns the process's RSS (kB) now and its CPU use (cores) over d.
func usage(tb testing.TB, pid int, d time.Duration) (rssKB int, cores float64) {
	ticks := func() float64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			tb.Fatal(err)
		}
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		return u + s
	}
	t0, c0 := time.Now(), ticks()
	time.Sleep(d)
	c1, t1 := ticks(), time.Now()
	cores = (c1 - c0) / 100 / t1.Sub(t0).Seconds() // USER_HZ is 100 on Linux
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			rssKB, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	return rssKB, cores
}
