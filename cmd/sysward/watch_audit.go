package main

import (
	"fmt"
	"net"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/audit"
	"github.com/sysward/sysward/internal/watch"
)

// auditInputFlagNames are the node agent's audit flags (they need
// --all-containers).
var auditInputFlagNames = []string{"audit-listen", "audit-cert", "audit-key", "audit-client-ca", "audit-token-file", "audit-log", "audit-log-from-start", "correlation-window"}

// auditInputFlags are the node agent's audit input flags: the webhook
// takes the same TLS and client checks as `sysward audit serve`.
func auditInputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "audit-listen", Usage: "with --all-containers: receive the kube-apiserver's audit webhook (HTTPS, audit.k8s.io/v1 EventList batches) on `ADDR` (needs --audit-cert, --audit-key)"},
		&cli.StringFlag{Name: "audit-cert", Usage: "with --audit-listen: TLS certificate `FILE` (PEM)"},
		&cli.StringFlag{Name: "audit-key", Usage: "with --audit-listen: TLS private key `FILE` (PEM)"},
		&cli.StringFlag{Name: "audit-client-ca", Usage: "with --audit-listen: require a client certificate signed by a CA in `FILE` (the webhook kubeconfig's client-certificate)"},
		&cli.StringFlag{Name: "audit-token-file", Usage: "with --audit-listen: require \"Authorization: Bearer TOKEN\", TOKEN read from `FILE`"},
		&cli.StringFlag{Name: "audit-log", Usage: "with --all-containers: follow the kube-apiserver's audit log `FILE` (--audit-log-path, JSON lines) through rotation, from its end"},
		&cli.BoolFlag{Name: "audit-log-from-start", Usage: "with --audit-log: read the file from its beginning"},
		&cli.DurationFlag{Name: "correlation-window", Value: watch.DefaultCorrelationWindow, Usage: "with --audit-listen/--audit-log: a call outside a pod's profile up to `D` after an exec, attach, port-forward or ephemeral container into it raises the correlated alert"},
	}
}

// auditInput checks the audit flags and opens the webhook's listener; nil
// without --audit-listen or --audit-log.
func auditInput(c *cli.Context) (*watch.AuditInput, error) {
	listen, logPath := c.String("audit-listen"), c.String("audit-log")
	if listen == "" && logPath == "" {
		for _, f := range auditInputFlagNames {
			if c.IsSet(f) {
				return nil, usagef("--%s needs --audit-listen or --audit-log", f)
			}
		}
		return nil, nil
	}
	if listen == "" {
		for _, f := range []string{"audit-cert", "audit-key", "audit-client-ca", "audit-token-file"} {
			if c.IsSet(f) {
				return nil, usagef("--%s needs --audit-listen", f)
			}
		}
	}
	if logPath == "" && c.IsSet("audit-log-from-start") {
		return nil, usagef("--audit-log-from-start needs --audit-log")
	}
	if c.Duration("correlation-window") <= 0 {
		return nil, usagef("--correlation-window %s: must be positive", c.Duration("correlation-window"))
	}
	in := &watch.AuditInput{LogPath: logPath, LogFromStart: c.Bool("audit-log-from-start"), Window: c.Duration("correlation-window")}
	if logPath != "" {
		st, err := os.Stat(logPath)
		if err != nil {
			return nil, usagef("--audit-log %s: %v", logPath, err)
		}
		if !st.Mode().IsRegular() {
			return nil, usagef("--audit-log %s: not a regular file", logPath)
		}
	}
	if listen != "" {
		for _, f := range []string{"audit-cert", "audit-key"} {
			if c.String(f) == "" {
				return nil, usagef("--audit-listen needs --%s FILE", f)
			}
		}
		if c.String("audit-client-ca") != "" && c.String("audit-token-file") != "" {
			return nil, usagef("--audit-client-ca and --audit-token-file: choose one way the apiserver authenticates")
		}
		wh, err := audit.NewWebhook(audit.WebhookOptions{CertFile: c.String("audit-cert"), KeyFile: c.String("audit-key"),
			ClientCAFile: c.String("audit-client-ca"), TokenFile: c.String("audit-token-file")})
		if err != nil {
			return nil, usageErr(fmt.Errorf("--audit-listen: %w", err))
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--audit-listen: %w", err))
		}
		in.Webhook, in.Listener = wh, ln
	}
	return in, nil
}
