package kubetest

// A control plane of etcd + kube-apiserver alone, with flags of the test's
// choosing (audit policy, webhook, log), on free loopback ports so it never
// collides with a full test cluster or another test. Written for the audit
// source's tests (audit/), which need apiserver flags the node cluster does
// not take.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/testutil"
)

// APIServer is a running etcd + kube-apiserver. NewAPIServer makes its
// directory and certificates; the test writes the files its flags name
// (audit policy, webhook kubeconfig), then Start runs it. Close, registered
// with t.Cleanup, stops both processes by pid.
type APIServer struct {
	Dir        string // state: etcd data, pki/, log/, admin.kubeconfig
	URL        string // https://127.0.0.1:PORT
	Kubeconfig string // cluster-admin

	*TestCA
	t     testing.TB
	bin   string // kube-apiserver and kubectl (BinDir)
	procs []*apiProc
}

// TestCA is a certificate authority for tests: it signs the apiserver's,
// the webhook's and the clients' certificates.
type TestCA struct {
	CA     string // the CA certificate's file
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

type apiProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// NewAPIServer checks the binaries, makes the directory and the PKI. It
// needs root (etcd and the apiserver run as the test's user, but the
// stable binary cache is root's).
func NewAPIServer(t testing.TB) *APIServer {
	t.Helper()
	testutil.Require(t, testutil.Root, testutil.Binary("etcd"))
	// The same binary cache as Start (built there when missing).
	bin, err := EnsureBinaries(t.Logf)
	if err != nil {
		t.Fatalf("kubernetes binaries: %v", err)
	}
	dir, err := os.MkdirTemp("", "sysward-apiserver-")
	if err != nil {
		t.Fatal(err)
	}
	a := &APIServer{Dir: dir, t: t, bin: bin}
	t.Cleanup(a.Close)
	if err := os.MkdirAll(filepath.Join(dir, "log"), 0o700); err != nil {
		t.Fatal(err)
	}
	if a.TestCA, err = NewTestCA(filepath.Join(dir, "pki")); err != nil {
		t.Fatalf("making the test CA: %v", err)
	}
	return a
}

// NewTestCA makes a CA (named ca.crt) in dir, which it creates.
func NewTestCA(dir string) (*TestCA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sysward-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	a := &TestCA{dir: dir, caKey: key, CA: filepath.Join(dir, "ca.crt")}
	a.caCert, _ = x509.ParseCertificate(der)
	return a, writePEM(a.CA, "CERTIFICATE", der)
}

// Issue makes a certificate signed by the CA, valid for 127.0.0.1 and
// localhost when server is true, for client authentication otherwise, and
// returns the paths of its certificate and key.
func (a *TestCA) Issue(name string, subject pkix.Name, server bool) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.caCert, &key.PublicKey, a.caKey)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile = filepath.Join(a.dir, name+".crt")
	keyFile = filepath.Join(a.dir, name+".key")
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	return certFile, keyFile, writePEM(keyFile, "EC PRIVATE KEY", kder)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs etcd and kube-apiserver with extra flags and waits until the
// apiserver is ready; it fails the test with the tail of the log of the
// piece that did not come up.
func (a *APIServer) Start(extraArgs ...string) {
	t := a.t
	t.Helper()
	if err := a.start(extraArgs); err != nil {
		t.Fatalf("starting etcd + kube-apiserver: %v", err)
	}
}

func (a *APIServer) start(extra []string) error {
	ports := make([]int, 3)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	etcd, err := a.run("etcd", "etcd", "--name", "default", "--data-dir", filepath.Join(a.Dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer)
	if err != nil {
		return err
	}
	if err := a.waitFor(etcd, 60*time.Second, httpGet(client+"/health", nil)); err != nil {
		return err
	}
	srvCert, srvKey, err := a.Issue("apiserver", pkix.Name{CommonName: "kube-apiserver"}, true)
	if err != nil {
		return err
	}
	admCert, admKey, err := a.Issue("admin", pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}}, false)
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	kder, _ := x509.MarshalECPrivateKey(saKey)
	pder, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	saPriv, saPub := filepath.Join(a.Dir, "pki", "sa.key"), filepath.Join(a.Dir, "pki", "sa.pub")
	if err := writePEM(saPriv, "EC PRIVATE KEY", kder); err != nil {
		return err
	}
	if err := writePEM(saPub, "PUBLIC KEY", pder); err != nil {
		return err
	}
	a.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	a.Kubeconfig = filepath.Join(a.Dir, "admin.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: admin, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
`, a.URL, a.CA, admCert, admKey)
	if err := os.WriteFile(a.Kubeconfig, []byte(kc), 0o600); err != nil {
		return err
	}
	args := append([]string{
		"--etcd-servers=" + client,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", ports[2]), "--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--client-ca-file=" + a.CA,
		"--tls-cert-file=" + srvCert, "--tls-private-key-file=" + srvKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saPriv,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--authorization-mode=RBAC",
		// no controller-manager makes the namespaces' default service
		// accounts, which the ServiceAccount admission plugin requires of
		// every pod: API objects are what these tests need, not tokens
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true", "--profiling=false",
	}, extra...)
	api, err := a.run("kube-apiserver", filepath.Join(a.bin, "kube-apiserver"), args...)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(admCert, admKey)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(a.caCert)
	return a.waitFor(api, 180*time.Second, httpGet(a.URL+"/readyz", &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}))
}

// run starts a daemon in its own process group, killed if the test binary
// dies (Pdeathsig) and stopped by pid in Close.
func (a *APIServer) run(name, path string, args ...string) (*apiProc, error) {
	logPath := filepath.Join(a.Dir, "log", name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &apiProc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	a.procs = append(a.procs, p)
	return p, nil
}

func (a *APIServer) waitFor(p *apiProc, timeout time.Duration, ok func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ok()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before it was ready:\n%s", p.name, p.cmd.ProcessState, a.LogTail(p.name))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v\n%s", p.name, timeout, err, a.LogTail(p.name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func httpGet(url string, tc *tls.Config) func() error {
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	return func() error {
		r, err := cl.Get(url)
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return errors.New(url + ": " + r.Status)
		}
		return nil
	}
}

// LogTail is the end of a daemon's log (etcd, kube-apiserver).
func (a *APIServer) LogTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(a.Dir, "log", name+".log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// Kubectl runs kubectl against the apiserver as cluster-admin; stdin may be "".
func (a *APIServer) Kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(a.bin, "kubectl"), append([]string{"--kubeconfig", a.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Close stops the apiserver, then etcd, by pid (SIGTERM, then SIGKILL after
// 10 s), and removes the directory unless the test failed.
func (a *APIServer) Close() {
	for i := len(a.procs) - 1; i >= 0; i-- {
		p := a.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	a.procs = nil
	if a.Dir != "" && !a.t.Failed() {
		os.RemoveAll(a.Dir)
	}
}
