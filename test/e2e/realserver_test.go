package e2e

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/ociimage"
	"github.com/sysward/sysward/internal/testutil"
)

// redisImage is the host's Debian redis-server packed as an image (no
// registry is reachable from CI: no image is pulled).
const redisImage = "localhost/redis-server:sysward-e2e"

// redisConf is the server's configuration: every interface, the data in
// the pod's emptyDir, DEBUG allowed (the broader load sleeps through it).
const redisConf = `bind 0.0.0.0
protected-mode no
port 6379
daemonize no
supervised no
logfile ""
dir /data
save 3600 1
appendonly no
appendfsync everysec
enable-debug-command yes
`

// redisApp is a 2-replica Deployment of redisImage, not yet marked for
// learning (sysward k8s learn marks it).
const redisApp = `apiVersion: v1
kind: Namespace
metadata: {name: e2e-redis}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis, namespace: e2e-redis}
spec:
  replicas: 2
  selector: {matchLabels: {app: redis}}
  template:
    metadata:
      labels: {app: redis}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: redis
        image: %s
        imagePullPolicy: Never
        ports: [{containerPort: 6379}]
        readinessProbe:
          tcpSocket: {port: 6379}
          periodSeconds: 2
        volumeMounts: [{name: data, mountPath: /data}]
      volumes:
      - name: data
        emptyDir: {}
`

// libDirs are where Debian's dynamic linker finds x86_64 libraries when
// there is no ld.so.cache (the image has none).
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"}

// elfClosure returns the host's dynamically linked program bin with its
// interpreter (PT_INTERP) and every shared library it loads (DT_NEEDED,
// transitively, found in libDirs), as image files: the program and the
// interpreter at their host paths, the libraries in
// /usr/lib/x86_64-linux-gnu under their sonames.
func elfClosure(bin string) ([]ociimage.File, error) {
	body, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	files := []ociimage.File{{Path: bin, Mode: 0o755, Body: body}}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		interp, err := bufio.NewReader(p.Open()).ReadString(0)
		if err != nil {
			return nil, fmt.Errorf("%s: PT_INTERP: %w", bin, err)
		}
		interp = strings.TrimSuffix(interp, "\x00")
		ib, err := os.ReadFile(interp)
		if err != nil {
			return nil, err
		}
		files = append(files, ociimage.File{Path: interp, Mode: 0o755, Body: ib})
	}
	seen := map[string]bool{}
	queue, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: DT_NEEDED: %w", bin, err)
	}
	for len(queue) > 0 {
		so := queue[0]
		queue = queue[1:]
		if seen[so] || strings.HasPrefix(so, "ld-linux") {
			continue
		}
		seen[so] = true
		var lib []byte
		for _, d := range libDirs {
			if lib, err = os.ReadFile(filepath.Join(d, so)); err == nil {
				break
			}
		}
		if lib == nil {
			return nil, fmt.Errorf("%s: library %s not found in %s", bin, so, strings.Join(libDirs, ", "))
		}
		lf, err := elf.NewFile(bytes.NewReader(lib))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", so, err)
		}
		needed, err := lf.ImportedLibraries()
		if err != nil {
			return nil, fmt.Errorf("%s: DT_NEEDED: %w", so, err)
		}
		queue = append(queue, needed...)
		files = append(files, ociimage.File{Path: "/usr/lib/x86_64-linux-gnu/" + so, Mode: 0o755, Body: lib})
	}
	return files, nil
}

// serverFiles is a server image's root: exe and the libraries it links,
// the static busybox (the hostile step execs its unshare in the pod),
// root and the server's user (named as on the host, where its Debian
// package made it) in /etc/passwd and /etc/group, and extra.
func serverFiles(t testing.TB, exe, pkg, userName, home string, extra ...ociimage.File) []ociimage.File {
	t.Helper()
	files, err := elfClosure(exe)
	if err != nil {
		t.Fatalf("%s's files (scripts/deps.sh installs %s): %v", exe, pkg, err)
	}
	u, err := user.Lookup(userName)
	if err != nil {
		t.Fatalf("the %s package's user %s: %v", pkg, userName, err)
	}
	bb, err := kubetest.BusyboxFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range bb {
		if f.Path != "/etc/passwd" && f.Path != "/etc/group" {
			files = append(files, f)
		}
	}
	files = append(files,
		ociimage.File{Path: "/etc/passwd", Body: []byte(fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s::%s:/usr/sbin/nologin\n", userName, u.Uid, u.Gid, home))},
		ociimage.File{Path: "/etc/group", Body: []byte(fmt.Sprintf("root:x:0:\n%s:x:%s:\n", userName, u.Gid))},
	)
	return append(files, extra...)
}

// redisFiles is the image's root: redis-server, its user and its
// configuration.
func redisFiles(t testing.TB) []ociimage.File {
	t.Helper()
	return serverFiles(t, "/usr/bin/redis-server", "redis-server", "redis", "/data",
		ociimage.File{Path: "/etc/redis/redis.conf", Body: []byte(redisConf)})
}

// appPods are the names and IPs of the running, not deleting, pods
// labelled app=<app> in ns, by name.
func appPods(t testing.TB, c *kubetest.Cluster, ns, app string) (names, ips []string) {
	out := kubectl(t, c, "-n", ns, "get", "pods", "-l", "app="+app, "-o",
		`jsonpath={range .items[?(@.status.phase=="Running")]}{.metadata.name}{" "}{.status.podIP}{" "}{.metadata.deletionTimestamp}{"\n"}{end}`)
	lines := strings.Split(out, "\n")
	slices.Sort(lines)
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 2 {
			names, ips = append(names, f[0]), append(ips, f[1])
		}
	}
	return names, ips
}

// rcli runs the host's redis-cli against ip with args (and stdin when not
// empty) and returns its output, failing the test when it fails or
// answers an error.
func rcli(t testing.TB, ip, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("redis-cli", append([]string{"-h", ip, "-p", "6379"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil || strings.HasPrefix(s, "ERR") || strings.Contains(s, "\nERR") || strings.HasPrefix(s, "(error)") {
		t.Errorf("redis-cli -h %s %s: %v\n%s", ip, strings.Join(args, " "), err, s)
	}
	return s
}

// redisInfo is one field of INFO.
func redisInfo(t testing.TB, ip, field string) string {
	t.Helper()
	for _, l := range strings.Split(rcli(t, ip, "", "INFO"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			return v
		}
	}
	return ""
}

// redisLearningLoad is the small load learning sees: PING, SET and GET of
// small keys, INCR, DEL.
func redisLearningLoad(t testing.TB, ips []string) {
	for _, ip := range ips {
		for i := range 20 {
			k := fmt.Sprintf("k%d", i)
			if got := rcli(t, ip, "", "PING"); got != "PONG" {
				t.Errorf("PING %s: %q", ip, got)
			}
			rcli(t, ip, "", "SET", k, "v")
			if got := rcli(t, ip, "", "GET", k); got != "v" {
				t.Errorf("GET %s %s: %q", ip, k, got)
			}
			rcli(t, ip, "", "INCR", "n")
			rcli(t, ip, "", "DEL", k)
		}
	}
}

// deniedIn are the "denied" alerts raised in ns's pods.
func deniedIn(t testing.TB, c *kubetest.Cluster, ns string) []alert {
	alerts, _ := agentLog(t, c)
	var out []alert
	for _, a := range alerts {
		if a.Rule == "Syscall outside profile denied" && a.OutputFields["k8s.ns.name"] == ns {
			out = append(out, a)
		}
	}
	return out
}

// realApp is a 2-replica Deployment of a real server: Deployment and
// container app, pods labelled app=<app>, in namespace ns.
type realApp struct {
	ns, app  string
	image    ociimage.Image
	manifest string // %s: the image
	// load is the small learning load, run against the pod IPs.
	load func(t testing.TB, ips []string)
	// needs are calls the broader load needs that load never makes.
	needs []string
}

// stageRealServer is the staging story up to enforcement for a: it
// deploys the agent and a, marks a for learning (sysward k8s learn), runs
// the small load, checks what the store learned, applies complain mode
// (the same load goes on), promotes once a 15 s window passed and
// applies enforce. It returns the cluster, the enforce profile's
// localhostProfile and the names and IPs of the enforced pods.
func stageRealServer(t *testing.T, a realApp) (c *kubetest.Cluster, enforcePath string, names, ips []string) {
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
	if err := c.WriteImage(a.image); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KubectlIn(fmt.Sprintf(a.manifest, a.image.Name), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	deploy := "deploy/" + a.app
	if out, err := sysward(t, c, bin, "k8s", "learn", "-n", a.ns, deploy); err != nil {
		t.Fatalf("learn: %v\n%s", err, out)
	}
	rollout := func(what string) []string {
		t.Helper()
		if out, err := c.Kubectl("-n", a.ns, "rollout", "status", deploy, "--timeout=120s"); err != nil {
			desc, _ := c.Kubectl("-n", a.ns, "describe", "pods")
			t.Fatalf("%s: %s %v\n%s", what, out, err, desc)
		}
		var ips []string
		poll(t, what+": two running pods", 60*time.Second, func() bool {
			_, ips = appPods(t, c, a.ns, a.app)
			return len(ips) == 2
		})
		return ips
	}
	a.load(t, rollout("learning"))

	name := "deployment." + a.app + "." + a.app
	var wp *v1.WorkloadProfile
	poll(t, "the store to hold both replicas' syscalls", 60*time.Second, func() bool {
		wp = workloadProfile(t, c, a.ns, name)
		return wp != nil && wp.Status.ReplicaCount >= 2 && len(wp.Status.Syscalls) > 0
	})
	time.Sleep(5 * time.Second) // a batch interval more of the load's tail
	wp = workloadProfile(t, c, a.ns, name)
	learned := slices.Sorted(maps.Keys(wp.Status.Syscalls))
	var traced, static []string
	for _, s := range learned {
		if src := wp.Status.Syscalls[s].Sources; slices.Contains(src, "traced") {
			traced = append(traced, s)
		} else if slices.Contains(src, "static") {
			static = append(static, s)
		}
	}
	t.Logf("learned %d syscalls from %d replicas: %d traced (%s), %d more from static hints of the container's executables (%s)",
		len(learned), wp.Status.ReplicaCount, len(traced), strings.Join(traced, " "), len(static), strings.Join(static, " "))
	for _, s := range a.needs {
		if _, ok := wp.Status.Syscalls[s]; !ok {
			t.Errorf("%s not learned (static hints of the container's executables)", s)
		}
	}

	// Complain, the same small load (staging traffic goes on), promote.
	if out, err := sysward(t, c, bin, "k8s", "apply", "-n", a.ns, deploy, "--mode", "complain", "--wait", "--timeout", "180s"); err != nil {
		t.Fatalf("apply complain: %v\n%s", err, out)
	}
	a.load(t, rollout("complain"))
	const window = 15 * time.Second
	deadline := time.Now().Add(4 * window)
	for {
		out, err := sysward(t, c, bin, "k8s", "promote", "-n", a.ns, deploy, "--window", window.String())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("promote still refused after %s: %v\n%s", 4*window, err, out)
		}
		time.Sleep(5 * time.Second)
	}
	wp = workloadProfile(t, c, a.ns, name)
	var absorbed []string
	for s, st := range wp.Status.Syscalls {
		if slices.Contains(st.Sources, "complain") {
			absorbed = append(absorbed, s)
		}
	}
	slices.Sort(absorbed)
	t.Logf("complain mode absorbed %d: %s; deviations %d", len(absorbed), strings.Join(absorbed, " "), wp.Status.Deviations)

	// Enforce.
	if out, err := sysward(t, c, bin, "k8s", "apply", "-n", a.ns, deploy, "--mode", "enforce", "--wait", "--timeout", "180s"); err != nil {
		t.Fatalf("apply enforce: %v\n%s", err, out)
	}
	wp = workloadProfile(t, c, a.ns, name)
	enforcePath = wp.Status.Applied[len(wp.Status.Applied)-1].LocalhostProfile
	if !strings.Contains(enforcePath, "-enforce-") {
		t.Fatalf("newest applied %q", enforcePath)
	}
	t.Logf("enforced profile %s: %d syscalls allowed (%d learned or absorbed, the rest families, baseline and runtime base)",
		enforcePath, wp.Status.SyscallCount, len(wp.Status.Syscalls))
	ips = rollout("enforce")
	names, _ = appPods(t, c, a.ns, a.app)
	return c, enforcePath, names, ips
}

// refusedAndHostile checks, after a's broader load, that none of it was
// refused (no denied alert in a's namespace one flush period after the
// last operation), then that a process exec'd into a pod that creates a
// user namespace (the first step of many kernel exploits:
// CAP_SYS_ADMIN-gated code opens to the container), outside the profile,
// is refused and alerted with the pod's k8s fields.
func refusedAndHostile(t *testing.T, c *kubetest.Cluster, a realApp, enforcePath string) {
	time.Sleep(6 * time.Second)
	for _, al := range deniedIn(t, c, a.ns) {
		t.Errorf("legitimate load refused: %s", al.raw)
	}
	if data, err := os.ReadFile(filepath.Join(kubetest.SeccompRoot, enforcePath)); err != nil || strings.Contains(string(data), `"unshare"`) {
		t.Fatalf("enforced profile holds unshare (or is unreadable: %v)", err)
	}
	names, _ := appPods(t, c, a.ns, a.app)
	out, err := c.Kubectl("-n", a.ns, "exec", names[0], "-c", a.app, "--", "unshare", "-U", "true")
	if err == nil || !strings.Contains(out+err.Error(), "Operation not permitted") {
		t.Errorf("unshare -U in an enforced %s pod: %v %s, want it refused", a.app, err, out)
	}
	var denied alert
	poll(t, "the refused unshare's alert", 60*time.Second, func() bool {
		for _, al := range deniedIn(t, c, a.ns) {
			if strings.HasPrefix(fmt.Sprint(al.OutputFields["evt.type"]), "unshare") {
				denied = al
				return true
			}
		}
		return false
	})
	if f := denied.OutputFields; f["k8s.pod.name"] != names[0] || f["container.name"] != a.app ||
		f["sysward.workload"] != a.ns+"/deployment/"+a.app || f["sysward.profile"] != filepath.Join(kubetest.SeccompRoot, enforcePath) {
		t.Errorf("enforce alert: %s", denied.raw)
	}
	all := deniedIn(t, c, a.ns)
	for _, al := range all {
		t.Logf("denied alert: %s", al.raw)
	}
	t.Logf("denied alerts in %s: %d", a.ns, len(all))
}

// step runs one operation of a broader load, failing the test (not
// stopping it) when it fails, and logs its time.
func step(t *testing.T, what string, f func() error) {
	t.Helper()
	s := time.Now()
	if err := f(); err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	t.Logf("ok %-50s %s", what, time.Since(s).Round(time.Millisecond))
}

// restartPod deletes the pod old of a and returns the IPs of the pods
// once a replacement runs and every pod is ready.
func restartPod(t *testing.T, c *kubetest.Cluster, a realApp, old string) ([]string, error) {
	kubectl(t, c, "-n", a.ns, "delete", "pod", old, "--wait=false")
	d := time.Now().Add(90 * time.Second)
	for {
		n, ips := appPods(t, c, a.ns, a.app)
		if len(n) == 2 && !slices.Contains(n, old) {
			// By name: the deleted pod, matched by the label until it is
			// gone, fails a wait when it goes.
			args := []string{"-n", a.ns, "wait", "--for=condition=Ready", "--timeout=60s"}
			for _, p := range n {
				args = append(args, "pod/"+p)
			}
			if out, err := c.Kubectl(args...); err != nil {
				return nil, fmt.Errorf("%s %v", out, err)
			}
			return ips, nil
		}
		if time.Now().After(d) {
			return nil, fmt.Errorf("no new pod after deleting %s: %v", old, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestClusterLearningRealServer is the staging story with a real program:
// the host's Debian redis-server, packed as an image, runs as a 2-replica
// Deployment marked for learning and sees a small load (PING, SET, GET);
// then complain, promote and enforce; under enforcement a broader
// legitimate load it never saw (BGSAVE and SAVE, AOF rewrite, 2 MB
// values, pipelined concurrent clients, MULTI/EXEC, pub/sub, CONFIG,
// expiry, CLIENT LIST, INFO, DEBUG SLEEP, a pod restart) must all work
// and raise no denied alert; a call outside the profile from a process
// exec'd into the pod is refused and alerts with the pod's k8s fields.
func TestClusterLearningRealServer(t *testing.T) {
	testutil.Require(t, append(nodeRequirements(), testutil.Binary("redis-server"), testutil.Binary("redis-cli"),
		testutil.Binary("redis-benchmark"))...)
	start := time.Now()
	a := realApp{ns: "e2e-redis", app: "redis", manifest: redisApp, load: redisLearningLoad,
		image: ociimage.Image{Name: redisImage, User: "redis",
			Entrypoint: []string{"/usr/bin/redis-server", "/etc/redis/redis.conf"}, Files: redisFiles(t)},
		// What redis does only when it persists (the BGSAVE child's
		// fsync, rename and exit, the parent's wait4): the small load
		// never shows it, the binary's imports do. Without them BGSAVE's
		// child spun in _exit for ever under enforcement.
		needs: []string{"fsync", "rename", "exit_group", "wait4"}}
	c, enforcePath, names, ips := stageRealServer(t, a)
	s := time.Now()
	broader(t, c, a, ips, names)
	t.Logf("broader load took %s", time.Since(s).Round(time.Second))
	refusedAndHostile(t, c, a, enforcePath)
	t.Logf("test ran %s", time.Since(start).Round(time.Second))
}

// broader runs, against enforced pods, a legitimate load learning never
// saw; each operation must succeed.
func broader(t *testing.T, c *kubetest.Cluster, a realApp, ips, names []string) {
	ip := ips[0]
	waitInfo := func(ip, field, want string) error {
		d := time.Now().Add(30 * time.Second)
		for time.Now().Before(d) {
			if redisInfo(t, ip, field) == want {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return fmt.Errorf("INFO %s is %q, want %q", field, redisInfo(t, ip, field), want)
	}
	step(t, "INFO, CLIENT LIST, CONFIG GET", func() error {
		if !strings.Contains(rcli(t, ip, "", "INFO", "all"), "redis_version:") {
			return fmt.Errorf("INFO without redis_version")
		}
		if !strings.Contains(rcli(t, ip, "", "CLIENT", "LIST"), "cmd=client") {
			return fmt.Errorf("CLIENT LIST")
		}
		if !strings.Contains(rcli(t, ip, "", "CONFIG", "GET", "maxmemory"), "maxmemory") {
			return fmt.Errorf("CONFIG GET")
		}
		return nil
	})
	step(t, "CONFIG SET maxmemory, hz, loglevel", func() error {
		for _, kv := range [][2]string{{"maxmemory", "256mb"}, {"hz", "50"}, {"loglevel", "verbose"}} {
			if got := rcli(t, ip, "", "CONFIG", "SET", kv[0], kv[1]); got != "OK" {
				return fmt.Errorf("CONFIG SET %s: %q", kv[0], got)
			}
		}
		return nil
	})
	step(t, "2 MB and 8 MB values", func() error {
		for _, n := range []int{2 << 20, 8 << 20} {
			v := strings.Repeat("x", n)
			rcli(t, ip, v, "-x", "SET", "big")
			if got := rcli(t, ip, "", "STRLEN", "big"); got != fmt.Sprint(n) {
				return fmt.Errorf("STRLEN %q, want %d", got, n)
			}
			if got := rcli(t, ip, "", "GET", "big"); len(got) != n {
				return fmt.Errorf("GET returned %d bytes, want %d", len(got), n)
			}
		}
		return nil
	})
	step(t, "MULTI/EXEC", func() error {
		out := rcli(t, ip, "MULTI\nINCR tx\nINCR tx\nLPUSH l a b c\nEXEC\n")
		if !strings.Contains(out, "1\n2\n3") {
			return fmt.Errorf("EXEC: %q", out)
		}
		return nil
	})
	step(t, "pub/sub", func() error {
		sub := exec.Command("redis-cli", "-h", ip, "SUBSCRIBE", "news")
		var buf bytes.Buffer
		sub.Stdout = &buf
		if err := sub.Start(); err != nil {
			return err
		}
		defer func() { sub.Process.Kill(); sub.Wait() }()
		d := time.Now().Add(10 * time.Second)
		for rcli(t, ip, "", "PUBLISH", "news", "hello") != "1" {
			if time.Now().After(d) {
				return fmt.Errorf("PUBLISH reached no subscriber")
			}
			time.Sleep(100 * time.Millisecond)
		}
		for !strings.Contains(buf.String(), "hello") {
			if time.Now().After(d) {
				return fmt.Errorf("subscriber got %q", buf.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	step(t, "EXPIRE, key gone after its time", func() error {
		rcli(t, ip, "", "SET", "ttl", "v", "PX", "1200")
		rcli(t, ip, "", "SET", "ttl2", "v")
		rcli(t, ip, "", "EXPIRE", "ttl2", "1")
		time.Sleep(2500 * time.Millisecond)
		if got := rcli(t, ip, "", "EXISTS", "ttl", "ttl2"); got != "0" {
			return fmt.Errorf("EXISTS after expiry: %q", got)
		}
		return nil
	})
	step(t, "DEBUG SLEEP 0, DEBUG SLEEP 0.2", func() error {
		for _, s := range []string{"0", "0.2"} {
			if got := rcli(t, ip, "", "DEBUG", "SLEEP", s); got != "OK" {
				return fmt.Errorf("DEBUG SLEEP %s: %q", s, got)
			}
		}
		return nil
	})
	step(t, "pipelined concurrent clients (redis-benchmark)", func() error {
		out, err := exec.Command("redis-benchmark", "-h", ip, "-c", "50", "-n", "20000", "-P", "16", "-d", "256", "-q",
			"-t", "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset").CombinedOutput()
		if err != nil || strings.Contains(string(out), "ERR") || strings.Count(string(out), "requests per second") < 13 {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	step(t, "BGSAVE (fork, the child writes the RDB)", func() error {
		rcli(t, ip, "", "BGSAVE")
		if err := waitInfo(ip, "rdb_bgsave_in_progress", "0"); err != nil {
			return err
		}
		return waitInfo(ip, "rdb_last_bgsave_status", "ok")
	})
	step(t, "SAVE", func() error {
		if got := rcli(t, ip, "", "SAVE"); got != "OK" {
			return fmt.Errorf("SAVE: %q", got)
		}
		return nil
	})
	step(t, "CONFIG SET appendonly yes (AOF rewrite), BGREWRITEAOF", func() error {
		if got := rcli(t, ip, "", "CONFIG", "SET", "appendonly", "yes"); got != "OK" {
			return fmt.Errorf("CONFIG SET appendonly: %q", got)
		}
		if err := waitInfo(ip, "aof_rewrite_in_progress", "0"); err != nil {
			return err
		}
		rcli(t, ip, "", "SET", "afteraof", "v")
		time.Sleep(1500 * time.Millisecond) // appendfsync everysec
		rcli(t, ip, "", "BGREWRITEAOF")
		time.Sleep(200 * time.Millisecond)
		if err := waitInfo(ip, "aof_rewrite_in_progress", "0"); err != nil {
			return err
		}
		for _, f := range []string{"aof_last_bgrewrite_status", "aof_last_write_status"} {
			if got := redisInfo(t, ip, f); got != "ok" {
				return fmt.Errorf("INFO %s: %q", f, got)
			}
		}
		return nil
	})
	step(t, "DEBUG RELOAD (save and load the RDB)", func() error {
		if got := rcli(t, ip, "", "DEBUG", "RELOAD"); got != "OK" {
			return fmt.Errorf("DEBUG RELOAD: %q", got)
		}
		if got := rcli(t, ip, "", "GET", "afteraof"); got != "v" {
			return fmt.Errorf("GET after reload: %q", got)
		}
		return nil
	})
	step(t, "the other replica serves", func() error {
		if got := rcli(t, ips[1], "", "SET", "other", "v"); got != "OK" {
			return fmt.Errorf("SET: %q", got)
		}
		return nil
	})
	step(t, "pod restart under the enforced profile", func() error {
		fresh, err := restartPod(t, c, a, names[1])
		if err != nil {
			return err
		}
		for _, ip := range fresh {
			if got := rcli(t, ip, "", "PING"); got != "PONG" {
				return fmt.Errorf("PING %s: %q", ip, got)
			}
			rcli(t, ip, "", "SET", "fresh", "v")
			rcli(t, ip, "", "BGSAVE")
			if err := waitInfo(ip, "rdb_bgsave_in_progress", "0"); err != nil {
				return err
			}
			if got := redisInfo(t, ip, "rdb_last_bgsave_status"); got != "ok" {
				return fmt.Errorf("BGSAVE on %s: %q", ip, got)
			}
		}
		return nil
	})
}
