package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/ociimage"
)

// Fixed places on the host. The kubelet's root and containerd's state are
// the standard ones because the DaemonSet under test mounts them by those
// paths (deploy/base/daemonset.yaml); containerd's root is the standard one
// so imported images survive between runs. A lock file serializes clusters
// on one machine (fixed ports and paths).
const (
	KubeletRoot     = "/var/lib/kubelet"
	SeccompRoot     = KubeletRoot + "/seccomp"
	ContainerdState = "/run/containerd"
	ContainerdRoot  = "/var/lib/containerd"
	ContainerdSock  = ContainerdState + "/containerd.sock"
	lockFile        = "/run/lock/sysward-kubetest.lock"

	// Everything listens on loopback. The pod bridge, its /24 and the
	// service /24 are this harness's own (not podman's 10.88.0.0/16) and
	// stay on the host: pods get no default route, forwarding stays off.
	bridge     = "swkube0"
	podCIDR    = "10.244.77.0/24"
	podGW      = "10.244.77.1"
	svcCIDR    = "10.96.0.0/24"
	svcIP      = "10.96.0.1"
	iptComment = "sysward-kubetest"

	// PauseImage and BusyboxImage are built locally and imported at start.
	PauseImage   = "localhost/pause:sysward-kubetest"
	BusyboxImage = "localhost/busybox:sysward-kubetest"
)

//go:embed sandbox/pause.c
var pauseC []byte

// Mode picks how much of a cluster Start brings up.
type Mode int

const (
	// ControlPlane is etcd + kube-apiserver: API tests (server-side
	// validation, RBAC, informers). A few seconds.
	ControlPlane Mode = iota
	// Node adds controller-manager, scheduler, containerd, the pod bridge
	// and a kubelet: pods really run. About 15 s warm.
	Node
)

// Cluster is a running test cluster. Close (registered as a test cleanup
// by Start) stops everything it started, by pid, and undoes its mounts,
// iptables rules, routes, bridge and cgroups.
type Cluster struct {
	Mode       Mode
	Dir        string // per-run state: etcd, pki, logs, kubeconfigs
	Bin        string // directory of kubectl, kubelet, crictl…
	Kubeconfig string // cluster-admin kubeconfig
	NodeName   string
	Timings    []Timing

	t       testing.TB
	procs   []*proc
	lock    *os.File
	pki     *pki
	netUp   bool
	started time.Time
	last    time.Time
	opts    Options
}

// Timing is how long one start step took.
type Timing struct {
	Step string
	D    time.Duration
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Start brings a cluster up in mode m and registers its teardown with
// t.Cleanup, so it is stopped also when the test fails. It fails t when a
// piece does not come up, with the tail of that piece's log.
func Start(t testing.TB, m Mode) *Cluster {
	t.Helper()
	return StartWith(t, m, Options{})
}

// Options are what a test adds to the cluster Start makes.
type Options struct {
	// APIServerArgs are appended to kube-apiserver's flags (e.g. its
	// audit policy, webhook and log backends).
	APIServerArgs []string
}

// StartWith is Start with opts.
func StartWith(t testing.TB, m Mode, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{Mode: m, t: t, started: time.Now(), opts: opts}
	c.last = c.started
	var err error
	// The lock also serializes the binary build: test packages run in
	// parallel and would otherwise build into the same cache at once.
	c.lock, err = os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("opening %s: %v", lockFile, err)
	}
	if err := syscall.Flock(int(c.lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("locking %s: %v", lockFile, err)
	}
	c.step("lock")
	t.Cleanup(c.Close)
	if c.Bin, err = EnsureBinaries(t.Logf); err != nil {
		t.Fatalf("kubernetes binaries: %v", err)
	}
	c.step("binaries")
	if err := c.start(); err != nil {
		t.Fatalf("starting the test cluster: %v", err)
	}
	c.step("total")
	var b strings.Builder
	for _, s := range c.Timings {
		fmt.Fprintf(&b, " %s=%.1fs", s.Step, s.D.Seconds())
	}
	t.Logf("cluster up:%s", b.String())
	return c
}

func (c *Cluster) step(name string) {
	now := time.Now()
	if name == "total" {
		c.Timings = append(c.Timings, Timing{name, now.Sub(c.started)})
		return
	}
	c.Timings = append(c.Timings, Timing{name, now.Sub(c.last)})
	c.last = now
}

func (c *Cluster) start() error {
	var err error
	c.Dir, err = os.MkdirTemp("", "sysward-kubetest-")
	if err != nil {
		return err
	}
	for _, d := range []string{"pki", "log", "etc/cni"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return err
		}
	}
	c.NodeName, err = os.Hostname()
	if err != nil {
		return err
	}
	if err := checkLoopbackName(c.NodeName); err != nil {
		return err
	}
	if err := c.makePKI(); err != nil {
		return fmt.Errorf("making PKI: %w", err)
	}
	c.step("pki")
	if err := c.startEtcd(); err != nil {
		return err
	}
	c.step("etcd")
	if err := c.startAPIServer(); err != nil {
		return err
	}
	c.step("apiserver")
	if c.Mode == ControlPlane {
		return nil
	}
	if err := c.startControllers(); err != nil {
		return err
	}
	c.step("controllers")
	cleanHost() // leftovers of a run that was killed before its cleanup
	if err := c.setupNetwork(); err != nil {
		return fmt.Errorf("setting up the pod network: %w", err)
	}
	c.step("network")
	if err := c.startContainerd(); err != nil {
		return err
	}
	c.step("containerd")
	if err := c.importBaseImages(); err != nil {
		return fmt.Errorf("importing base images: %w", err)
	}
	c.step("images")
	if err := c.startKubelet(); err != nil {
		return err
	}
	c.step("kubelet")
	return nil
}

// checkLoopbackName: the kubelet refuses a loopback node IP, so the
// apiserver reaches it (exec, logs) by its Hostname address, which must
// resolve to 127.0.0.1 where the kubelet listens.
func checkLoopbackName(name string) error {
	addrs, err := net.LookupHost(name)
	if err != nil {
		return fmt.Errorf("resolving hostname %q: %w", name, err)
	}
	for _, a := range addrs {
		if a == "127.0.0.1" {
			return nil
		}
	}
	return fmt.Errorf("hostname %q resolves to %v, not 127.0.0.1: the apiserver reaches the loopback-only kubelet by its hostname (add it to /etc/hosts)", name, addrs)
}

func (c *Cluster) makePKI() error {
	p, err := newPKI(filepath.Join(c.Dir, "pki"))
	if err != nil {
		return err
	}
	c.pki = p
	lo := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(svcIP)}
	if err := p.issue("apiserver", pkix.Name{CommonName: "kube-apiserver"}, true,
		[]string{"localhost", c.NodeName, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, lo); err != nil {
		return err
	}
	if err := p.issue("kubelet-serving", pkix.Name{CommonName: c.NodeName}, true, []string{"localhost", c.NodeName}, lo[:1]); err != nil {
		return err
	}
	users := map[string]pkix.Name{
		"admin":                    {CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
		"apiserver-kubelet-client": {CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		"kubelet":                  {CommonName: "system:node:" + c.NodeName, Organization: []string{"system:nodes"}},
		"controller-manager":       {CommonName: "system:kube-controller-manager"},
		"scheduler":                {CommonName: "system:kube-scheduler"},
	}
	for name, subj := range users {
		if err := p.issue(name, subj, false, nil, nil); err != nil {
			return err
		}
		if name == "apiserver-kubelet-client" {
			continue
		}
		kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:6443", certificate-authority: %q}}]
users: [{name: %s, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: local, context: {cluster: local, user: %s}}]
current-context: local
`, p.path("ca.crt"), name, p.path(name+".crt"), p.path(name+".key"), name)
		if err := os.WriteFile(filepath.Join(c.Dir, name+".kubeconfig"), []byte(kc), 0o600); err != nil {
			return err
		}
	}
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	return p.serviceAccountKey()
}

// run starts a daemon in its own process group; it is killed if the test
// binary dies (Pdeathsig) and stopped by pid in Close.
func (c *Cluster) run(name string, path string, args ...string) (*proc, error) {
	logPath := filepath.Join(c.Dir, "log", name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "PATH="+c.Bin+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p, nil
}

// waitFor polls ok until it returns nil, p exits or timeout passes.
func (c *Cluster) waitFor(p *proc, what string, timeout time.Duration, ok func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = ok(); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) while waiting for %s:\n%s", p.name, p.cmd.ProcessState, what, logTail(p.log))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not %s after %s: %v\n%s", p.name, what, timeout, last, logTail(p.log))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func logTail(path string) string {
	b, _ := os.ReadFile(path)
	return tail(b, 3000)
}

func httpOK(url string) func() error {
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return func() error {
		r, err := cl.Get(url)
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			return fmt.Errorf("%s: %s", url, r.Status)
		}
		return nil
	}
}

func (c *Cluster) startEtcd() error {
	p, err := c.run("etcd", "etcd", "--name", "default", "--data-dir", filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "default=http://127.0.0.1:2380", "--listen-metrics-urls", "http://127.0.0.1:2381")
	if err != nil {
		return err
	}
	return c.waitFor(p, "healthy", 60*time.Second, httpOK("http://127.0.0.1:2379/health"))
}

func (c *Cluster) startAPIServer() error {
	pk := c.pki.path
	p, err := c.run("kube-apiserver", filepath.Join(c.Bin, "kube-apiserver"), append([]string{
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=127.0.0.1", "--secure-port=6443", "--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--client-ca-file=" + pk("ca.crt"),
		"--tls-cert-file=" + pk("apiserver.crt"), "--tls-private-key-file=" + pk("apiserver.key"),
		"--kubelet-client-certificate=" + pk("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + pk("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + pk("ca.crt"),
		"--kubelet-preferred-address-types=Hostname,InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pk("sa.pub"), "--service-account-signing-key-file=" + pk("sa.key"),
		"--service-cluster-ip-range=" + svcCIDR,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true", "--profiling=false"}, c.opts.APIServerArgs...)...)
	if err != nil {
		return err
	}
	return c.waitFor(p, "ready", 180*time.Second, func() error {
		_, err := c.Kubectl("get", "--raw", "/readyz")
		return err
	})
}

func (c *Cluster) startControllers() error {
	kc := filepath.Join(c.Dir, "controller-manager.kubeconfig")
	cm, err := c.run("kube-controller-manager", filepath.Join(c.Bin, "kube-controller-manager"),
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--leader-elect=false", "--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.pki.path("sa.key"), "--root-ca-file="+c.pki.path("ca.crt"),
		"--cluster-signing-cert-file="+c.pki.path("ca.crt"), "--cluster-signing-key-file="+c.pki.path("ca.key"),
		"--service-cluster-ip-range="+svcCIDR)
	if err != nil {
		return err
	}
	sk := filepath.Join(c.Dir, "scheduler.kubeconfig")
	sc, err := c.run("kube-scheduler", filepath.Join(c.Bin, "kube-scheduler"),
		"--kubeconfig="+sk, "--authentication-kubeconfig="+sk, "--authorization-kubeconfig="+sk,
		"--bind-address=127.0.0.1", "--leader-elect=false")
	if err != nil {
		return err
	}
	if err := c.waitFor(cm, "healthy", 60*time.Second, httpOK("https://127.0.0.1:10257/healthz")); err != nil {
		return err
	}
	return c.waitFor(sc, "healthy", 60*time.Second, httpOK("https://127.0.0.1:10259/healthz"))
}

func sh(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

var iptRules = [][]string{
	{"OUTPUT", "-d", svcIP + "/32", "-p", "tcp", "--dport", "443", "-j", "DNAT", "--to-destination", "127.0.0.1:6443", "-m", "comment", "--comment", iptComment},
	{"PREROUTING", "-i", bridge, "-d", svcIP + "/32", "-p", "tcp", "--dport", "443", "-j", "DNAT", "--to-destination", "127.0.0.1:6443", "-m", "comment", "--comment", iptComment},
}

// setupNetwork: the bridge for pods, the service /24 made local to the
// host, and a DNAT of the `kubernetes` service (10.96.0.1:443) to the
// apiserver on 127.0.0.1:6443 — a stand-in for kube-proxy for that one
// service. Pods reach loopback through the bridge with route_localnet on
// the bridge only.
func (c *Cluster) setupNetwork() error {
	c.netUp = true
	steps := [][]string{
		{"ip", "link", "add", bridge, "type", "bridge"},
		{"ip", "addr", "add", podGW + "/24", "dev", bridge},
		{"ip", "link", "set", bridge, "up"},
		{"sysctl", "-qw", "net.ipv4.conf." + bridge + ".route_localnet=1"},
		{"ip", "route", "add", "local", svcCIDR, "dev", "lo", "table", "local"},
	}
	for _, s := range steps {
		if err := sh(s[0], s[1:]...); err != nil {
			return err
		}
	}
	for _, r := range iptRules {
		if err := sh("iptables", append([]string{"-t", "nat", "-A"}, r...)...); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "sysward-kubetest",
 "plugins": [{"type": "bridge", "bridge": %q, "isGateway": false, "ipMasq": false, "hairpinMode": true,
              "ipam": {"type": "host-local", "ranges": [[{"subnet": %q, "gateway": %q}]],
                       "routes": [{"dst": %q}], "dataDir": %q}},
             {"type": "portmap", "capabilities": {"portMappings": true}}]}
`, bridge, podCIDR, podGW, svcCIDR, filepath.Join(c.Dir, "cni-ipam"))
	return os.WriteFile(filepath.Join(c.Dir, "etc/cni/10-sysward-kubetest.conflist"), []byte(conf), 0o644)
}

// hasCap reports whether this process has capability bit n effective.
func hasCap(n uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			x, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && x&(1<<n) != 0
		}
	}
	return false
}

func (c *Cluster) startContainerd() error {
	// Without CAP_SYS_RESOURCE (24) nothing may lower oom_score_adj and runc
	// fails every sandbox ("failed to update /proc/self/oom_score_adj");
	// restrict_oom_score_adj clamps the kubelet's -998 to containerd's own.
	restrict := !hasCap(24)
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  stream_server_address = "127.0.0.1"
  disable_apparmor = true
  restrict_oom_score_adj = %t
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, ContainerdRoot, ContainerdState, ContainerdSock, PauseImage, restrict, filepath.Join(c.Dir, "etc/cni"))
	path := filepath.Join(c.Dir, "etc/containerd.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	p, err := c.run("containerd", "containerd", "--config", path)
	if err != nil {
		return err
	}
	return c.waitFor(p, "serving", 30*time.Second, func() error { _, err := c.Ctr("version"); return err })
}

// Ctr runs ctr against the node's containerd in the k8s.io namespace.
func (c *Cluster) Ctr(args ...string) (string, error) {
	out, err := exec.Command("ctr", append([]string{"--address", ContainerdSock, "-n", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// ImportImage imports an OCI image-layout tar into the node's containerd.
func (c *Cluster) ImportImage(tarPath string) error {
	_, err := c.Ctr("images", "import", tarPath)
	return err
}

// WriteImage writes img as a layout tar in the cluster dir and imports it.
func (c *Cluster) WriteImage(img ociimage.Image) error {
	path := filepath.Join(c.Dir, strings.NewReplacer("/", "_", ":", "_").Replace(img.Name)+".tar")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := ociimage.Write(f, img); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return c.ImportImage(path)
}

func (c *Cluster) importBaseImages() error {
	src := filepath.Join(c.Dir, "pause.c")
	if err := os.WriteFile(src, pauseC, 0o644); err != nil {
		return err
	}
	pauseBin := filepath.Join(c.Dir, "pause")
	if err := sh("gcc", "-Os", "-static", "-s", "-o", pauseBin, src); err != nil {
		return fmt.Errorf("building pause: %w", err)
	}
	pb, err := os.ReadFile(pauseBin)
	if err != nil {
		return err
	}
	if err := c.WriteImage(ociimage.Image{Name: PauseImage, Entrypoint: []string{"/pause"},
		Files: []ociimage.File{{Path: "/pause", Mode: 0o755, Body: pb}}}); err != nil {
		return err
	}
	files, err := BusyboxFiles()
	if err != nil {
		return err
	}
	return c.WriteImage(ociimage.Image{Name: BusyboxImage, Cmd: []string{"/bin/sh"}, Files: files})
}

// BusyboxFiles is a root file system of the host's static busybox with its
// applet links, /etc/passwd, /etc/group and a sticky /tmp.
func BusyboxFiles() ([]ociimage.File, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox-static: %w", err)
	}
	body, err := os.ReadFile(bb)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	files := []ociimage.File{
		{Path: "/bin/busybox", Mode: 0o755, Body: body},
		{Path: "/etc/passwd", Body: []byte("root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{Path: "/etc/group", Body: []byte("root:x:0:\nnobody:x:65534:\n")},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
		{Path: "/proc", Dir: true}, {Path: "/sys", Dir: true}, {Path: "/dev", Dir: true},
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			files = append(files, ociimage.File{Path: "/bin/" + a, Link: "busybox"})
		}
	}
	return files, nil
}

func (c *Cluster) startKubelet() error {
	pk := c.pki.path
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %q
tlsPrivateKeyFile: %q
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://%s
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
maxPods: 60
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
`, pk("kubelet-serving.crt"), pk("kubelet-serving.key"), pk("ca.crt"), ContainerdSock)
	path := filepath.Join(c.Dir, "etc/kubelet.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(SeccompRoot, 0o755); err != nil {
		return err
	}
	since := time.Now().Add(-time.Second)
	p, err := c.run("kubelet", filepath.Join(c.Bin, "kubelet"), "--config="+path,
		"--kubeconfig="+filepath.Join(c.Dir, "kubelet.kubeconfig"),
		"--root-dir="+KubeletRoot, "--hostname-override="+c.NodeName, "--v=2")
	if err != nil {
		return err
	}
	// Ready with a heartbeat from this kubelet (not a stale status).
	if err := c.waitFor(p, "Ready", 120*time.Second, func() error {
		out, err := c.Kubectl("get", "node", c.NodeName, "-o", `jsonpath={range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}`)
		if err != nil {
			return err
		}
		f := strings.Fields(out)
		if len(f) != 2 || f[0] != "True" {
			return fmt.Errorf("node Ready condition %q", out)
		}
		hb, err := time.Parse(time.RFC3339, f[1])
		if err != nil || hb.Before(since.Truncate(time.Second)) {
			return fmt.Errorf("stale heartbeat %q", f[1])
		}
		return nil
	}); err != nil {
		return err
	}
	return c.waitFor(p, "default serviceaccount", 60*time.Second, func() error {
		_, err := c.Kubectl("-n", "default", "get", "serviceaccount", "default")
		return err
	})
}

// Kubectl runs kubectl as cluster-admin and returns its stdout (stderr is
// in the error).
func (c *Cluster) Kubectl(args ...string) (string, error) {
	return c.KubectlIn("", args...)
}

// KubectlIn is Kubectl with stdin.
func (c *Cluster) KubectlIn(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.Bin, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// Log returns the named daemon's log (etcd, kube-apiserver, kubelet…).
func (c *Cluster) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "log", name+".log"))
	return string(b)
}

// Close stops everything Start started, in reverse order, by pid: the
// kubelet first (so it restarts nothing), then every pod sandbox through
// CRI (so CNI teardown runs), containerd, the control plane; then it
// undoes mounts, the network and the kubepods cgroups. On a failed test it
// keeps the logs directory and says where.
func (c *Cluster) Close() {
	if c.lock == nil {
		return
	}
	var errs []error
	stopped := map[string]bool{}
	stop := func(name string) {
		for _, p := range c.procs {
			if p.name == name && !stopped[name] {
				stopped[name] = true
				if err := stopProc(p, 30*time.Second); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	stop("kubelet")
	if c.containerdRunning() {
		env := append(os.Environ(), "CONTAINER_RUNTIME_ENDPOINT=unix://"+ContainerdSock)
		crictl := filepath.Join(c.Bin, "crictl")
		out, _ := exec.Command(crictl, "--runtime-endpoint", "unix://"+ContainerdSock, "pods", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			cmd := exec.Command(crictl, "--runtime-endpoint", "unix://"+ContainerdSock, "rmp", "-f", id)
			cmd.Env = env
			if b, err := cmd.CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("removing pod sandbox %s: %v: %s", id, err, b))
			}
		}
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		stop(c.procs[i].name)
	}
	if c.netUp {
		cleanHost()
	}
	if c.t.Failed() {
		c.t.Logf("test cluster logs kept in %s", c.Dir)
	} else if c.Dir != "" {
		os.RemoveAll(c.Dir)
	}
	syscall.Flock(int(c.lock.Fd()), syscall.LOCK_UN)
	c.lock.Close()
	c.lock = nil
	if len(errs) > 0 {
		c.t.Errorf("stopping the test cluster: %v", errors.Join(errs...))
	}
}

func (c *Cluster) containerdRunning() bool {
	for _, p := range c.procs {
		if p.name == "containerd" {
			select {
			case <-p.done:
				return false
			default:
				return true
			}
		}
	}
	return false
}

func stopProc(p *proc, grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s; killed", p.name, p.cmd.Process.Pid, grace)
}

// cleanHost undoes what a node leaves on the host once its processes are
// gone: mounts of sandboxes, containers and pod volumes, the kubelet's
// rshared self-bind-mount of its root, the network bits, empty kubepods
// cgroups and per-run kubelet state (the seccomp root stays: profiles are
// installed there). Safe to run when nothing is left.
func cleanHost() {
	mounts, _ := os.ReadFile("/proc/self/mounts")
	var targets []string
	for _, l := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		m := f[1]
		// Not /run/netns: podman's namespaces live there too; crictl rmp
		// (CNI DEL) removes the node's own.
		for _, pre := range []string{ContainerdState + "/io.containerd.", KubeletRoot + "/pods/", ContainerdRoot + "/io.containerd.grpc.v1.cri/"} {
			if strings.HasPrefix(m, pre) {
				targets = append(targets, m)
			}
		}
	}
	for i := len(targets) - 1; i >= 0; i-- {
		if syscall.Unmount(targets[i], 0) != nil {
			syscall.Unmount(targets[i], syscall.MNT_DETACH)
		}
	}
	for strings.Contains(string(mounts), " "+KubeletRoot+" ") {
		if syscall.Unmount(KubeletRoot, 0) != nil {
			syscall.Unmount(KubeletRoot, syscall.MNT_DETACH)
		}
		mounts, _ = os.ReadFile("/proc/self/mounts")
	}
	for _, r := range iptRules {
		for sh("iptables", append([]string{"-t", "nat", "-D"}, r...)...) == nil {
		}
	}
	sh("ip", "route", "del", "local", svcCIDR, "dev", "lo", "table", "local")
	sh("ip", "link", "del", bridge)
	hier, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	hier = append(hier, "/sys/fs/cgroup/kubepods")
	for _, h := range hier {
		rmdirTree(h)
	}
	// Everything the kubelet keeps under its root but the seccomp profiles
	// (pods, plugins, *_state checkpoints, image_manager…: the names change
	// between releases).
	entries, _ := os.ReadDir(KubeletRoot)
	for _, e := range entries {
		if e.Name() != "seccomp" {
			os.RemoveAll(filepath.Join(KubeletRoot, e.Name()))
		}
	}
}

// rmdirTree removes a cgroup directory tree bottom-up (rmdir only: a
// cgroup with processes stays, and so does anything that is not a cgroup).
func rmdirTree(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			rmdirTree(filepath.Join(dir, e.Name()))
		}
	}
	syscall.Rmdir(dir)
}
