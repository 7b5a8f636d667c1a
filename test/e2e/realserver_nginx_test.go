package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/ociimage"
	"github.com/sysward/sysward/internal/testutil"
)

// nginxImage is the host's Debian nginx packed as an image.
const nginxImage = "localhost/nginx:sysward-e2e"

// nginxConf: a master as root and two workers as www-data, static files
// with sendfile and gzip, WebDAV uploads into the pod's emptyDir (bodies
// over 8 KiB go through a temp file in /var/lib/nginx/body, which the
// master makes at start), stub_status.
const nginxConf = `user www-data;
worker_processes 2;
pid /tmp/nginx.pid;
error_log stderr info;
events { worker_connections 512; }
http {
  types { text/html html; text/plain txt; }
  default_type application/octet-stream;
  access_log /dev/stdout;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30;
  gzip on;
  gzip_types text/plain;
  gzip_min_length 256;
  server {
    listen 80;
    root /srv/www;
    location /up/ {
      root /srv;
      dav_methods PUT DELETE MKCOL;
      create_full_put_path on;
      dav_access user:rw all:r;
      client_max_body_size 16m;
      client_body_buffer_size 8k;
    }
    location = /status { stub_status; }
  }
}
`

// nginxApp is a 2-replica Deployment of nginxImage, not yet marked for
// learning.
const nginxApp = `apiVersion: v1
kind: Namespace
metadata: {name: e2e-nginx}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, namespace: e2e-nginx}
spec:
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: nginx
        image: %s
        imagePullPolicy: Never
        ports: [{containerPort: 80}]
        readinessProbe:
          tcpSocket: {port: 80}
          periodSeconds: 2
        volumeMounts: [{name: up, mountPath: /srv/up}]
      volumes:
      - name: up
        emptyDir: {}
`

// nginxBig is the large static file (8 MiB, not all one byte: gzip and
// sendfile see real pages).
var nginxBig = func() []byte {
	b := make([]byte, 8<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}()

// nginxFiles is the image's root: nginx, the worker's user, the
// configuration and the site.
func nginxFiles(t testing.TB) []ociimage.File {
	t.Helper()
	return serverFiles(t, "/usr/sbin/nginx", "nginx-light", "www-data", "/var/www",
		ociimage.File{Path: "/etc/nginx/nginx.conf", Body: []byte(nginxConf)},
		ociimage.File{Path: "/var/log/nginx", Dir: true},
		ociimage.File{Path: "/var/lib/nginx", Dir: true},
		ociimage.File{Path: "/srv/www/index.html", Body: []byte("<p>sysward e2e</p>\n")},
		ociimage.File{Path: "/srv/www/text.txt", Body: []byte(strings.Repeat("a line of plain text that gzip shrinks\n", 5000))},
		ociimage.File{Path: "/srv/www/big.bin", Body: nginxBig},
	)
}

// httpDo sends one request to ip:80 and returns the status and body.
func httpDo(cl *http.Client, method, ip, path string, body []byte, hdr ...string) (int, http.Header, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+ip+path, r)
	if err != nil {
		return 0, nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// nginxLearningLoad is the small load learning sees: GET of the small
// index page, each on a new connection.
func nginxLearningLoad(t testing.TB, ips []string) {
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, ip := range ips {
		for range 20 {
			if code, _, b, err := httpDo(cl, "GET", ip, "/", nil); err != nil || code != 200 || !bytes.Contains(b, []byte("sysward e2e")) {
				t.Errorf("GET / on %s: %d %v %q", ip, code, err, b)
			}
		}
	}
}

// TestClusterLearningRealServerNginx is TestClusterLearningRealServer's
// story with the host's Debian nginx: learned on GETs of a small page;
// under enforcement an 8 MiB file (sendfile), a range, HEAD, a 404, gzip,
// 100 concurrent keep-alive clients, WebDAV PUT (a body through a temp
// file, directories created), GET, MKCOL and DELETE, stub_status, `nginx
// -s reload` (new workers, the old ones exit), `nginx -s reopen` and a pod
// restart must all work with no denied alert; a user namespace is refused.
func TestClusterLearningRealServerNginx(t *testing.T) {
	testutil.Require(t, append(nodeRequirements(), testutil.Binary("nginx"))...)
	start := time.Now()
	a := realApp{ns: "e2e-nginx", app: "nginx", manifest: nginxApp, load: nginxLearningLoad,
		image: ociimage.Image{Name: nginxImage,
			Entrypoint: []string{"/usr/sbin/nginx", "-e", "stderr", "-g", "daemon off;"}, Files: nginxFiles(t)},
		// A worker's exit (reload), an upload's rename and mkdir: never
		// in the learning load.
		needs: []string{"exit_group", "rename", "mkdir", "wait4"}}
	c, enforcePath, names, ips := stageRealServer(t, a)
	s := time.Now()
	broaderNginx(t, c, a, ips, names)
	t.Logf("broader load took %s", time.Since(s).Round(time.Second))
	refusedAndHostile(t, c, a, enforcePath)
	t.Logf("test ran %s", time.Since(start).Round(time.Second))
}

func broaderNginx(t *testing.T, c *kubetest.Cluster, a realApp, ips, names []string) {
	ip := ips[0]
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 100}}
	want := sha256.Sum256(nginxBig)
	getBig := func(ip string) error {
		code, _, b, err := httpDo(cl, "GET", ip, "/big.bin", nil)
		if err != nil || code != 200 || sha256.Sum256(b) != want {
			return fmt.Errorf("GET /big.bin: %d %v, %d bytes", code, err, len(b))
		}
		return nil
	}
	step(t, "GET 8 MiB (sendfile)", func() error { return getBig(ip) })
	step(t, "GET a range, HEAD, a 404", func() error {
		code, _, b, err := httpDo(cl, "GET", ip, "/big.bin", nil, "Range", "bytes=1000000-1000999")
		if err != nil || code != 206 || !bytes.Equal(b, nginxBig[1000000:1001000]) {
			return fmt.Errorf("range: %d %v, %d bytes", code, err, len(b))
		}
		code, h, _, err := httpDo(cl, "HEAD", ip, "/big.bin", nil)
		if err != nil || code != 200 || h.Get("Content-Length") != fmt.Sprint(len(nginxBig)) {
			return fmt.Errorf("HEAD: %d %v %v", code, err, h)
		}
		if code, _, _, err := httpDo(cl, "GET", ip, "/missing", nil); err != nil || code != 404 {
			return fmt.Errorf("missing: %d %v", code, err)
		}
		return nil
	})
	step(t, "gzip", func() error {
		code, h, b, err := httpDo(cl, "GET", ip, "/text.txt", nil, "Accept-Encoding", "gzip")
		if err != nil || code != 200 || h.Get("Content-Encoding") != "gzip" {
			return fmt.Errorf("%d %v %v", code, err, h)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return err
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.HasPrefix(plain, []byte("a line of plain text")) || len(plain) <= len(b) {
			return fmt.Errorf("gunzip: %v, %d bytes from %d", err, len(plain), len(b))
		}
		return nil
	})
	step(t, "100 concurrent keep-alive clients x 20 requests", func() error {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 20 {
					path := "/"
					if (i+j)%5 == 0 {
						path = "/text.txt"
					}
					if code, _, _, err := httpDo(cl, "GET", ips[i%2], path, nil); err != nil || code != 200 {
						errs <- fmt.Errorf("client %d: %s: %d %v", i, path, code, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	})
	step(t, "WebDAV PUT 2 MiB (temp file, mkdir), GET, MKCOL, DELETE", func() error {
		body := nginxBig[:2<<20]
		if code, _, _, err := httpDo(cl, "PUT", ip, "/up/a/b/file.bin", body); err != nil || code != 201 {
			return fmt.Errorf("PUT: %d %v", code, err)
		}
		if code, _, b, err := httpDo(cl, "GET", ip, "/up/a/b/file.bin", nil); err != nil || code != 200 || !bytes.Equal(b, body) {
			return fmt.Errorf("GET back: %d %v, %d bytes", code, err, len(b))
		}
		if code, _, _, err := httpDo(cl, "MKCOL", ip, "/up/dir/", nil); err != nil || code != 201 {
			return fmt.Errorf("MKCOL: %d %v", code, err)
		}
		if code, _, _, err := httpDo(cl, "DELETE", ip, "/up/a/b/file.bin", nil); err != nil || code != 204 {
			return fmt.Errorf("DELETE: %d %v", code, err)
		}
		return nil
	})
	step(t, "stub_status", func() error {
		if code, _, b, err := httpDo(cl, "GET", ip, "/status", nil); err != nil || code != 200 || !bytes.Contains(b, []byte("Active connections")) {
			return fmt.Errorf("%d %v %q", code, err, b)
		}
		return nil
	})
	cl.CloseIdleConnections()
	step(t, "nginx -s reload (new workers), -s reopen", func() error {
		for _, sig := range []string{"reload", "reopen"} {
			if out, err := c.Kubectl("-n", a.ns, "exec", names[0], "-c", a.app, "--", "/usr/sbin/nginx", "-e", "stderr", "-s", sig); err != nil {
				return fmt.Errorf("nginx -s %s: %v %s", sig, err, out)
			}
		}
		// The old workers exit once idle; the new ones serve.
		time.Sleep(2 * time.Second)
		for range 10 {
			if err := getBig(ip); err != nil {
				return err
			}
		}
		return nil
	})
	step(t, "pod restart under the enforced profile", func() error {
		fresh, err := restartPod(t, c, a, names[1])
		if err != nil {
			return err
		}
		for _, ip := range fresh {
			if err := getBig(ip); err != nil {
				return err
			}
			if code, _, _, err := httpDo(cl, "PUT", ip, "/up/x/new.bin", nginxBig[:64<<10]); err != nil || code != 201 {
				return fmt.Errorf("PUT on %s: %d %v", ip, code, err)
			}
		}
		return nil
	})
}
