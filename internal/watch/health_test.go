package watch

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/internal/testutil"
)

// gate is a switch a loop can be stopped at: while closed, wait blocks.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
	g.mu.Unlock()
}

func (g *gate) wait() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
}

// gatedWriter is an alert destination that blocks while its gate is shut:
// a stdout nobody reads.
type gatedWriter struct {
	g *gate
	n atomic.Int64
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.g.wait()
	w.n.Add(1)
	return len(p), nil
}

func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNodeHealthz: the node agent's /healthz is 200 while its loops run,
// and 503 naming the loop once the discovery loop, the kernel event reader
// or an output holding queued alerts stalls past --health-stall; healthy
// again once it moves.
func TestNodeHealthz(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	root := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	outGate, passGate, readGate := newGate(), newGate(), newGate()
	defer outGate.release()
	defer passGate.release()
	defer readGate.release()
	stdout := &gatedWriter{g: outGate}
	cfg := Config{Rules: testRules(t), Format: output.FormatJSON, Stdout: stdout, Stderr: &strings.Builder{},
		DedupWindow: -1, MetricsListener: ln, StallAfter: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	go func() {
		_, err := NodeSession(ctx, cfg, NodeOptions{Roots: []string{root}, Interval: 200 * time.Millisecond}, func(n *Node) {
			n.beforePass = passGate.wait
			f := readGate.wait
			n.w.beforeRead.Store(&f)
			nodes <- n
		})
		done <- err
	}()
	select {
	case <-nodes:
	case err := <-done:
		t.Fatalf("node session: %v", err)
	}

	healthy := func(what string) {
		t.Helper()
		var code int
		var body string
		if !waitFor(5*time.Second, func() bool { code, body = healthz(t, addr); return code == http.StatusOK }) {
			t.Fatalf("%s: /healthz %d %q, want 200", what, code, body)
		}
	}
	unhealthy := func(what, reason string) {
		t.Helper()
		var code int
		var body string
		if !waitFor(10*time.Second, func() bool {
			code, body = healthz(t, addr)
			return code == http.StatusServiceUnavailable && strings.Contains(body, reason)
		}) {
			t.Fatalf("%s: /healthz %d %q, want 503 naming %q", what, code, body, reason)
		}
		t.Logf("%s: %d %s", what, code, strings.TrimSpace(body))
	}

	healthy("running")
	// Idle for longer than the bound is not a stall.
	time.Sleep(1500 * time.Millisecond)
	healthy("idle")

	passGate.shut()
	unhealthy("discovery blocked", "container discovery")
	passGate.release()
	healthy("discovery moving again")

	readGate.shut()
	unhealthy("reader blocked", "kernel event reader")
	readGate.release()
	healthy("reader moving again")

	// A shell alert: its write blocks.
	outGate.shut()
	bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", `echo x | /bin/xargs /bin/sh -c "echo a"; true`}, nil)
	id := testutil.ContainerID(t)
	if b, err := exec.Command("runc", "--root", root, "run", "--bundle", bundle, id).CombinedOutput(); err != nil {
		t.Fatalf("runc run: %v: %s", err, b)
	}
	_ = exec.Command("runc", "--root", root, "delete", "--force", id).Run()
	unhealthy("output blocked", "output stdout")
	outGate.release()
	healthy("output delivering again")
	if !waitFor(5*time.Second, func() bool { return stdout.n.Load() >= 1 }) {
		t.Errorf("no alert written after the output was unblocked")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("node session: %v", err)
	}
}
