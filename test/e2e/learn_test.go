package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/testutil"
)

// pathsApp is a Deployment whose replicas each take the code path their
// pod's annotation names (read through a downward API volume, which the
// kubelet refreshes while the pod runs): a sync, a mkfifo (mknodat), a
// symlink, an ionice (ioprio_set), a chroot. Each path makes a syscall
// no other path makes and that no family or the baseline brings in.
const pathsApp = `apiVersion: v1
kind: Namespace
metadata: {name: e2e-learn}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: paths, namespace: e2e-learn}
spec:
  replicas: 3
  selector: {matchLabels: {app: paths}}
  template:
    metadata:
      labels: {app: paths, sysward.io/learn: "true"}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: %s
        imagePullPolicy: Never
        command:
        - sh
        - -c
        - |
          while :; do
            p=$(sed -n 's/^e2e.sysward.io\/path="\(.*\)"$/\1/p' /podinfo/annotations)
            case "$p" in
              sync) sync ;;
              fifo) rm -f /tmp/f; mkfifo /tmp/f ;;
              link) rm -f /tmp/l; ln -s /x /tmp/l ;;
              ionice) ionice -c 3 true ;;
              chroot) chroot / true 2>/dev/null || echo chroot refused ;;
            esac
            sleep 1
          done
        volumeMounts: [{name: podinfo, mountPath: /podinfo}]
      volumes:
      - name: podinfo
        downwardAPI:
          items: [{path: annotations, fieldRef: {fieldPath: metadata.annotations}}]
`

// sysward runs the agent's binary on the host as a user would, against the
// cluster's admin kubeconfig (KUBECONFIG, kubectl's convention).
func sysward(t testing.TB, c *kubetest.Cluster, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	out, err := cmd.CombinedOutput()
	t.Logf("$ sysward %s\n%s", strings.Join(args, " "), out)
	return string(out), err
}

func workloadProfile(t testing.TB, c *kubetest.Cluster, ns, name string) *v1.WorkloadProfile {
	t.Helper()
	out, err := c.Kubectl("-n", ns, "get", "workloadprofiles.sysward.io", name, "-o", "json")
	if err != nil {
		return nil
	}
	wp := &v1.WorkloadProfile{}
	if err := json.Unmarshal([]byte(out), wp); err != nil {
		t.Fatalf("workloadprofile %s/%s: %v", ns, name, err)
	}
	return wp
}

// runningPods are the names of the app's pods that run and are not being
// deleted, sorted.
func runningPods(t testing.TB, c *kubetest.Cluster) []string {
	out := kubectl(t, c, "-n", "e2e-learn", "get", "pods", "-l", "app=paths", "-o",
		`jsonpath={range .items[?(@.status.phase=="Running")]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}`)
	var pods []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 1 {
			pods = append(pods, f[0])
		}
	}
	slices.Sort(pods)
	return pods
}

func annotatePath(t testing.TB, c *kubetest.Cluster, pod, path string) {
	kubectl(t, c, "-n", "e2e-learn", "annotate", "--overwrite", "pod", pod, "e2e.sysward.io/path="+path)
}

// TestClusterLearning is the staging story on a real node with the agent
// DaemonSet: a 3-replica Deployment marked for learning, each replica on
// its own code path, gives one WorkloadProfile holding all three; apply
// --mode complain rolls the pods onto the SCMP_ACT_LOG variant; a new path
// raises a would-have-been-denied alert and is absorbed; promote refuses
// until the window passes without a new syscall, then succeeds; apply
// --mode enforce rolls the pods onto the enforced profile, and a call
// outside it is refused and alerts with the pod's k8s fields.
func TestClusterLearning(t *testing.T) {
	testutil.Require(t, nodeRequirements()...)
	c, bin := deployAgent(t, nil)
	t.Cleanup(func() {
		if t.Failed() {
			_, log := agentLog(t, c)
			if i := len(log) - 20000; i > 0 {
				log = log[i:]
			}
			t.Logf("agent log (tail):\n%s", log)
		}
	})
	if _, err := c.KubectlIn(fmt.Sprintf(pathsApp, kubetest.BusyboxImage), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Kubectl("-n", "e2e-learn", "rollout", "status", "deploy/paths", "--timeout=120s"); err != nil {
		t.Fatalf("%s %v", out, err)
	}
	pods := runningPods(t, c)
	if len(pods) != 3 {
		t.Fatalf("pods %v, want 3", pods)
	}
	for i, p := range []string{"sync", "fifo", "link"} {
		annotatePath(t, c, pods[i], p)
	}
	name := "deployment.paths.app"
	var wp *v1.WorkloadProfile
	start := time.Now()
	poll(t, "the store to hold the three paths from the three replicas", 90*time.Second, func() bool {
		wp = workloadProfile(t, c, "e2e-learn", name)
		if wp == nil {
			return false
		}
		for _, s := range []string{"sync", "mknodat", "symlink"} {
			if _, ok := wp.Status.Syscalls[s]; !ok {
				return false
			}
		}
		return wp.Status.ReplicaCount >= 3
	})
	t.Logf("three paths in the store %s after annotating", time.Since(start).Round(time.Second))
	if wp.Status.Phase != v1.PhaseLearning || wp.Status.Image != kubetest.BusyboxImage || wp.Status.NodeCount != 1 {
		t.Errorf("status: phase %s image %q nodes %d", wp.Status.Phase, wp.Status.Image, wp.Status.NodeCount)
	}
	for i, s := range []string{"sync", "mknodat", "symlink"} {
		if got := wp.Status.Syscalls[s]; got.FirstPod != pods[i] || !slices.Contains(got.Sources, "traced") {
			t.Errorf("%s: %+v, want first seen in %s, traced", s, got, pods[i])
		}
	}
	for _, s := range []string{"ioprio_set", "chroot"} {
		if _, ok := wp.Status.Syscalls[s]; ok {
			t.Errorf("%s learned, no replica took that path", s)
		}
	}
	if out, _ := sysward(t, c, bin, "k8s", "status", "-n", "e2e-learn"); !strings.Contains(out, "Learning") {
		t.Errorf("status: %s", out)
	}

	// Complain: the pods roll onto the LOG variant the agent installs.
	if out, err := sysward(t, c, bin, "k8s", "apply", "-n", "e2e-learn", "deploy/paths", "--mode", "complain", "--wait", "--timeout", "180s"); err != nil {
		t.Fatalf("apply complain: %v\n%s", err, out)
	}
	wp = workloadProfile(t, c, "e2e-learn", name)
	if wp.Status.Phase != v1.PhaseComplain || len(wp.Status.Applied) == 0 {
		t.Fatalf("after apply complain: phase %s, applied %d", wp.Status.Phase, len(wp.Status.Applied))
	}
	complainPath := wp.Status.Applied[len(wp.Status.Applied)-1].LocalhostProfile
	if tmpl := kubectl(t, c, "-n", "e2e-learn", "get", "deploy/paths", "-o", "jsonpath={.spec.template.spec.containers[0].securityContext.seccompProfile.localhostProfile}"); tmpl != complainPath {
		t.Errorf("template's profile %q, want %q", tmpl, complainPath)
	}
	if data, err := os.ReadFile(filepath.Join(kubetest.SeccompRoot, complainPath)); err != nil || !strings.Contains(string(data), "SCMP_ACT_LOG") {
		t.Errorf("complain profile on the node: %v", err)
	}
	poll(t, "three pods of the new template", 120*time.Second, func() bool { return len(runningPods(t, c)) == 3 })
	pods = runningPods(t, c)
	// Staging traffic goes on under complain mode: two learned paths and
	// a new one. What learning missed (a second round of a path: rm's
	// unlink once the fifo exists) is absorbed here too.
	annotatePath(t, c, pods[0], "ionice")
	annotatePath(t, c, pods[1], "fifo")
	annotatePath(t, c, pods[2], "link")
	poll(t, "ioprio_set absorbed by complain mode", 60*time.Second, func() bool {
		wp = workloadProfile(t, c, "e2e-learn", name)
		s, ok := wp.Status.Syscalls["ioprio_set"]
		return ok && slices.Contains(s.Sources, "complain")
	})
	if wp.Status.Deviations < 1 || wp.Status.LastDeviation == nil {
		t.Errorf("deviations %d, last %v", wp.Status.Deviations, wp.Status.LastDeviation)
	}
	var would []alert
	poll(t, "the would-have-been-denied alert", 30*time.Second, func() bool {
		alerts, _ := agentLog(t, c)
		would = would[:0]
		for _, a := range alerts {
			if a.Rule == "Syscall outside profile would be denied" && strings.HasPrefix(fmt.Sprint(a.OutputFields["evt.type"]), "ioprio_set") {
				would = append(would, a)
			}
		}
		return len(would) > 0
	})
	if f := would[0].OutputFields; f["k8s.pod.name"] != pods[0] || f["sysward.workload"] != "e2e-learn/deployment/paths" {
		t.Errorf("complain alert: %s", would[0].raw)
	}
	// A normal run raises nothing it does not absorb: every
	// would-be-denied alert names a call the store now holds from complain
	// mode (runc's window before the entrypoint is in the profile: the
	// runtime base; nothing of it alerts).
	poll(t, "every complain-mode alert's call absorbed", 30*time.Second, func() bool {
		alerts, _ := agentLog(t, c)
		wp = workloadProfile(t, c, "e2e-learn", name)
		for _, a := range alerts {
			call, _, _ := strings.Cut(fmt.Sprint(a.OutputFields["evt.type"]), " ")
			if s, ok := wp.Status.Syscalls[call]; a.Rule != "Syscall outside profile would be denied" || !ok || !slices.Contains(s.Sources, "complain") {
				t.Logf("not (yet) absorbed: %s", a.raw)
				return false
			}
		}
		return true
	})

	// Promote refuses while ioprio_set is newer than the window.
	const window = 20 * time.Second
	out, err := sysward(t, c, bin, "k8s", "promote", "-n", "e2e-learn", "deploy/paths", "--window", window.String())
	if err == nil || !strings.Contains(out, "not promoting") || !strings.Contains(out, "the window is 20s") {
		t.Fatalf("promote right after a new syscall: %v\n%s", err, out)
	}
	if out, err := sysward(t, c, bin, "k8s", "apply", "-n", "e2e-learn", "deploy/paths", "--mode", "enforce"); err == nil {
		t.Fatalf("apply enforce before promote succeeded:\n%s", out)
	}
	deadline := time.Now().Add(3 * window)
	for {
		out, err = sysward(t, c, bin, "k8s", "promote", "-n", "e2e-learn", "deploy/paths", "--window", window.String())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("promote still refused after %s: %v\n%s", 3*window, err, out)
		}
		time.Sleep(5 * time.Second)
	}
	if wp = workloadProfile(t, c, "e2e-learn", name); wp.Status.Phase != v1.PhaseEnforcing {
		t.Fatalf("after promote: phase %s", wp.Status.Phase)
	}

	// Enforce: the pods roll onto the frozen errno profile.
	if out, err := sysward(t, c, bin, "k8s", "apply", "-n", "e2e-learn", "deploy/paths", "--mode", "enforce", "--wait", "--timeout", "180s"); err != nil {
		t.Fatalf("apply enforce: %v\n%s", err, out)
	}
	wp = workloadProfile(t, c, "e2e-learn", name)
	enforcePath := wp.Status.Applied[len(wp.Status.Applied)-1].LocalhostProfile
	if !strings.Contains(enforcePath, "-enforce-") {
		t.Fatalf("newest applied %q", enforcePath)
	}
	poll(t, "three pods of the enforce template", 120*time.Second, func() bool { return len(runningPods(t, c)) == 3 })
	pods = runningPods(t, c)
	// Every learned path still runs under enforcement.
	for i, p := range []string{"ionice", "fifo", "link"} {
		annotatePath(t, c, pods[i], p)
	}
	time.Sleep(5 * time.Second) // a few rounds of each path
	annotatePath(t, c, pods[2], "chroot")
	var denied alert
	poll(t, "the refused chroot's alert", 60*time.Second, func() bool {
		alerts, _ := agentLog(t, c)
		for _, a := range alerts {
			if a.Rule == "Syscall outside profile denied" && strings.HasPrefix(fmt.Sprint(a.OutputFields["evt.type"]), "chroot") {
				denied = a
				return true
			}
		}
		return false
	})
	if f := denied.OutputFields; f["k8s.pod.name"] != pods[2] || f["k8s.ns.name"] != "e2e-learn" || f["container.name"] != "app" ||
		f["sysward.workload"] != "e2e-learn/deployment/paths" || f["sysward.profile"] != filepath.Join(kubetest.SeccompRoot, enforcePath) {
		t.Errorf("enforce alert: %s", denied.raw)
	}
	if logs := kubectl(t, c, "-n", "e2e-learn", "logs", pods[2], "--tail", "20"); !strings.Contains(logs, "chroot refused") {
		t.Errorf("chroot was not refused in %s: %s", pods[2], logs)
	}
	poll(t, "the refusal counted in the store", 30*time.Second, func() bool {
		wp = workloadProfile(t, c, "e2e-learn", name)
		_, absorbed := wp.Status.Syscalls["chroot"]
		return !absorbed && len(wp.Status.RecentDeviations) > 0 && wp.Status.RecentDeviations[0].Syscall == "chroot" &&
			wp.Status.RecentDeviations[0].Mode == v1.ModeEnforce
	})
	// No path the replicas learned or absorbed is refused.
	alerts, _ := agentLog(t, c)
	for _, a := range alerts {
		if a.Rule == "Syscall outside profile denied" && !strings.HasPrefix(fmt.Sprint(a.OutputFields["evt.type"]), "chroot") {
			t.Errorf("learned path refused: %s", a.raw)
		}
	}
	out, _ = sysward(t, c, bin, "k8s", "status", "-n", "e2e-learn")
	if !strings.Contains(out, "Enforcing") {
		t.Errorf("status: %s", out)
	}

	// Drift: a new image starts version 2 in Learning; version 1's
	// enforce profile, which the template still names, stays installed.
	const image2 = "localhost/busybox:sysward-e2e-v2"
	if out, err := c.Ctr("images", "tag", "--force", kubetest.BusyboxImage, image2); err != nil {
		t.Fatalf("%s %v", out, err)
	}
	kubectl(t, c, "-n", "e2e-learn", "set", "image", "deploy/paths", "app="+image2)
	if out, err := c.Kubectl("-n", "e2e-learn", "rollout", "status", "deploy/paths", "--timeout=120s"); err != nil {
		t.Fatalf("%s %v", out, err)
	}
	poll(t, "version 2 of the profile, learning the new image", 60*time.Second, func() bool {
		wp = workloadProfile(t, c, "e2e-learn", name)
		return wp.Status.Version == 2 && wp.Status.Image == image2 && wp.Status.Phase == v1.PhaseLearning && len(wp.Status.Syscalls) > 0
	})
	if len(wp.Status.Retired) != 1 || wp.Status.Retired[0].Image != kubetest.BusyboxImage || wp.Status.Retired[0].Phase != v1.PhaseEnforcing {
		t.Errorf("retired: %+v", wp.Status.Retired)
	}
	time.Sleep(3 * time.Second) // a few agent passes
	if _, err := os.Stat(filepath.Join(kubetest.SeccompRoot, enforcePath)); err != nil {
		t.Errorf("version 1's enforce profile, still used by the template's pods: %v", err)
	}
	out, _ = sysward(t, c, bin, "k8s", "status", "-n", "e2e-learn", "-o", "wide")
	if !strings.Contains(out, image2) {
		t.Errorf("status after the new image: %s", out)
	}
}
