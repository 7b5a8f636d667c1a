package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/store"
	"github.com/sysward/sysward/internal/store/storetest"
	"github.com/sysward/sysward/internal/testutil"
)

// TestWatchStoreCLI: `sysward watch --all-containers --store` against a
// real apiserver (--kubeconfig, --node-name): a runc container whose pod is
// in a namespace labelled sysward.io/learn=true is learned into its
// WorkloadProfile, and the exit summary has the store's counters.
func TestWatchStoreCLI(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2, testutil.Runc)
	a := storetest.New(t)
	kc, sc := a.Clientset, a.Store
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab",
		Labels: map[string]string{v1.LearnLabel: "true"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	root := dir + "/runc"
	bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; sync; sleep 120"}, nil)
	id := testutil.ContainerID(t)
	run := exec.Command("runc", "--root", root, "run", "--bundle", bundle, id)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("runc", "--root", root, "kill", id, "KILL").Run()
		_ = run.Wait()
		_ = exec.Command("runc", "--root", root, "delete", "--force", id).Run()
	})
	no := false
	p, err := kc.CoreV1().Pods("lab").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tool"},
		Spec: corev1.PodSpec{NodeName: "node-c", AutomountServiceAccountToken: &no, Containers: []corev1.Container{{Name: "app", Image: "tool:1"}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + id, Image: "tool:1"}}
	if _, err := kc.CoreV1().Pods("lab").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	app := newApp()
	var stdout, stderr syncBuffer
	app.Writer, app.ErrWriter = &stdout, &stderr
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan int, 1)
	go func() {
		err := app.RunContext(runCtx, []string{"sysward", "watch", "--all-containers", "--profiles-dir", dir, "--container-root", root,
			"--kubeconfig", a.Kubeconfig, "--node-name", "node-c", "--store", "--store-interval", "1s"})
		done <- exitCode(err, &stderr)
	}()
	name := store.Key{Namespace: "lab", Kind: "pod", Workload: "tool", Container: "app"}.Name()
	learned := func(syscall string) bool {
		wp, err := sc.Get(ctx, "lab", name)
		if err != nil {
			return false
		}
		_, ok := wp.Status.Syscalls[syscall]
		return ok && wp.Status.Nodes[0] == "node-c" && wp.Status.Replicas[0] == "tool" && wp.Status.Image == "tool:1"
	}
	wait := func(d time.Duration, cond func() bool) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if cond() {
				return true
			}
		}
		return false
	}
	if !wait(20*time.Second, func() bool { return learned("execve") }) {
		stop()
		<-done
		t.Fatalf("not learned; stderr:\n%s", stderr.String())
	}
	if err := exec.Command("touch", bundle+"/rootfs/tmp/go").Run(); err != nil {
		t.Fatal(err)
	}
	if !wait(10*time.Second, func() bool { return learned("sync") }) {
		t.Errorf("sync not learned; stderr:\n%s", stderr.String())
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "store: ") || strings.Contains(stderr.String(), "0 merges") {
		t.Errorf("summary without store merges:\n%s", stderr.String())
	}
}
