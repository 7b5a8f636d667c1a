package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWatchAuditFlagsUsage: the node agent's audit flags refuse bad use
// with status 2 and a message naming the flag, before anything runs.
func TestWatchAuditFlagsUsage(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "audit.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "audit.log")
	os.WriteFile(logFile, nil, 0o600)
	notPEM := filepath.Join(dir, "cert.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	node := []string{"watch", "--all-containers", "--profiles-dir", dir}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"audit-log without all-containers", []string{"watch", "--audit-log", logFile, "--profile", "x.json", "--", "true"}, "--audit-log needs --all-containers"},
		{"missing log", append(node, "--audit-log", filepath.Join(dir, "nope.log")), "--audit-log " + filepath.Join(dir, "nope.log") + ": stat"},
		{"fifo log", append(node, "--audit-log", fifo), "--audit-log " + fifo + ": not a regular file"},
		{"listen without cert", append(node, "--audit-listen", "127.0.0.1:0"), "--audit-listen needs --audit-cert FILE"},
		{"cert without listen", append(node, "--audit-log", logFile, "--audit-cert", notPEM), "--audit-cert needs --audit-listen"},
		{"bad cert", append(node, "--audit-listen", "127.0.0.1:0", "--audit-cert", notPEM, "--audit-key", notPEM), "--audit-listen: TLS certificate " + notPEM},
		{"ca and token", append(node, "--audit-listen", "127.0.0.1:0", "--audit-cert", notPEM, "--audit-key", notPEM, "--audit-client-ca", notPEM, "--audit-token-file", notPEM), "choose one"},
		{"window alone", append(node, "--correlation-window", "1m"), "--correlation-window needs --audit-listen or --audit-log"},
		{"zero window", append(node, "--audit-log", logFile, "--correlation-window", "0s"), "--correlation-window 0s: must be positive"},
		{"from-start without log", append(node, "--audit-listen", "127.0.0.1:0", "--audit-log-from-start"), "--audit-log-from-start needs --audit-log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
		})
	}
}
