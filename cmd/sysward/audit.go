package main

import (
	"fmt"
	"io"
	"net"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/audit"
	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/output"
)

func auditCommand() *cli.Command {
	common := []cli.Flag{
		&cli.StringSliceFlag{Name: "rules", Usage: "Falco rules `FILE` with k8s_audit rules, e.g. Falco's k8s_audit_rules.yaml (repeatable; required)"},
		&cli.StringFlag{Name: "format", Value: "text", Usage: "alert `FORMAT` on stdout: text (Falco's line) or json (Falco's JSON alert, one per line)"},
		&cli.StringFlag{Name: "min-priority", Usage: "only rules at least as severe as `PRIORITY` (e.g. warning)"},
	}
	return &cli.Command{
		Name:  "audit",
		Usage: "run k8s_audit rules on the Kubernetes API server's audit records (webhook or log)",
		Subcommands: []*cli.Command{
			{
				Name:  "serve",
				Usage: "receive the kube-apiserver's audit webhook (HTTPS) and alert",
				UsageText: `sysward audit serve --listen ADDR --cert FILE --key FILE [--client-ca FILE | --token-file FILE]
              --rules FILE... [--format text|json]

Serves the kube-apiserver's audit webhook backend: POSTs of audit.k8s.io/v1
EventList batches (--audit-webhook-config-file, a kubeconfig:
deploy/audit/audit-webhook.kubeconfig; policy: deploy/audit/audit-policy.yaml).
Each batch is decoded, queued and answered at once; the rules run apart, so
the apiserver never waits for them. A batch that does not fit the queue is
refused with 429 (the apiserver retries) and counted as dropped; a request
beyond --max-in-flight being read at once gets 429 too. Bad
requests get a 4xx saying why: 400 malformed JSON or not an audit.k8s.io/v1
EventList, 401/403 missing or wrong client certificate or token, 405 not a
POST, 413 body or batch too large. Counters go to stderr on exit
(SIGINT/SIGTERM).

Example:
   sysward audit serve --listen 127.0.0.1:8765 --cert tls.crt --key tls.key \
       --client-ca apiserver-ca.crt --rules k8s_audit_rules.yaml --format json`,
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8765", Usage: "listen on `ADDR` (host:port)"},
					&cli.StringFlag{Name: "cert", Usage: "TLS certificate `FILE` (PEM; required)"},
					&cli.StringFlag{Name: "key", Usage: "TLS private key `FILE` (PEM; required)"},
					&cli.StringFlag{Name: "client-ca", Usage: "require a client certificate signed by a CA in `FILE` (the apiserver's client-certificate in the webhook kubeconfig)"},
					&cli.StringFlag{Name: "token-file", Usage: "require \"Authorization: Bearer TOKEN\", TOKEN read from `FILE` (the webhook kubeconfig's token)"},
					&cli.IntFlag{Name: "max-body-mib", Value: 64, Usage: "refuse request bodies over `N` MiB (413)"},
					&cli.IntFlag{Name: "max-batch", Value: 20000, Usage: "refuse batches of more than `N` events (413); the apiserver sends at most --audit-webhook-batch-max-size (400)"},
					&cli.IntFlag{Name: "queue", Value: 100000, Usage: "queue at most `N` events waiting for the rules; a batch beyond gets 429 and is counted as dropped"},
					&cli.IntFlag{Name: "max-in-flight", Value: 4, Usage: "read at most `N` requests at once (memory: N x --max-body-mib); one more gets 429"},
				}, common...),
				Action: auditServeAction,
			},
			{
				Name:  "follow",
				Usage: "follow the kube-apiserver's audit log file (JSON lines) and alert",
				UsageText: `sysward audit follow --log FILE [--from-start] [--once] --rules FILE... [--format text|json]

Reads the JSON-lines file the kube-apiserver writes with --audit-log-path
(--audit-log-format=json, the default), from its end (records written from
now on) or with --from-start from its beginning, and keeps following it
through rotation: rename + create (logrotate, the apiserver's own
--audit-log-maxsize) and copytruncate. --once stops at the end of the file:
the replay of a saved audit log. A line that is not an audit.k8s.io/v1 Event
is reported on stderr with its number and counted.

Example:
   sysward audit follow --log /var/log/kubernetes/audit.log --rules k8s_audit_rules.yaml
   sysward audit follow --log audit.log --from-start --once --rules k8s_audit_rules.yaml --format json`,
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "log", Usage: "the audit log `FILE` (required)"},
					&cli.BoolFlag{Name: "from-start", Usage: "read the file from its beginning, not its end"},
					&cli.BoolFlag{Name: "once", Usage: "stop at the end of the file instead of following it"},
				}, common...),
				Action: auditFollowAction,
			},
		},
	}
}

// auditAlerts loads the rules and makes an engine printing alerts to w.
func auditAlerts(c *cli.Context, w io.Writer) (*detector.Engine, error) {
	f, err := output.ParseFormat(c.String("format"))
	if err != nil {
		return nil, usagef("--format: %v", err)
	}
	files := c.StringSlice("rules")
	if len(files) == 0 {
		return nil, usagef("--rules FILE is required (e.g. Falco's k8s_audit_rules.yaml)")
	}
	rs, err := detector.LoadRules(files...)
	if err != nil {
		return nil, usageErr(err)
	}
	opts := &detector.EngineOptions{Matching: detector.MatchAll}
	if mp := c.String("min-priority"); mp != "" {
		if _, err := detector.ParsePriority(mp); err != nil {
			return nil, usagef("--min-priority: %v", err)
		}
		opts.MinPriority = mp
	}
	n := 0
	for _, r := range rs.Rules {
		if r.Compiled() && r.Source == detector.SourceK8sAudit {
			n++
		}
	}
	if n == 0 {
		return nil, usagef("--rules %s: no k8s_audit rule compiled", strings.Join(files, ", "))
	}
	var mu sync.Mutex
	var buf []byte
	opts.Sink = detector.AlertFunc(func(a *detector.Alert) {
		mu.Lock()
		defer mu.Unlock()
		if f == output.FormatJSON {
			buf = a.AppendJSON(buf[:0])
		} else {
			buf = a.AppendText(buf[:0])
		}
		buf = append(buf, '\n')
		w.Write(buf)
	})
	return detector.NewEngine(rs, opts)
}

func auditServeAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("unexpected argument %q", c.Args().First())
	}
	for _, fl := range []string{"cert", "key"} {
		if c.String(fl) == "" {
			return usagef("--%s FILE is required", fl)
		}
	}
	if c.String("client-ca") != "" && c.String("token-file") != "" {
		return usagef("--client-ca and --token-file: choose one way the apiserver authenticates")
	}
	for _, fl := range []string{"max-body-mib", "max-batch", "queue", "max-in-flight"} {
		if c.Int(fl) < 1 {
			return usagef("--%s %d: must be at least 1", fl, c.Int(fl))
		}
	}
	eng, err := auditAlerts(c, c.App.Writer)
	if err != nil {
		return err
	}
	wh, err := audit.NewWebhook(audit.WebhookOptions{CertFile: c.String("cert"), KeyFile: c.String("key"),
		ClientCAFile: c.String("client-ca"), TokenFile: c.String("token-file"),
		MaxBodyBytes: int64(c.Int("max-body-mib")) << 20, MaxBatchEvents: c.Int("max-batch"), QueueEvents: c.Int("queue"), MaxInFlight: c.Int("max-in-flight")})
	if err != nil {
		return usageErr(err)
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return usageErr(fmt.Errorf("--listen: %w", err))
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(c.App.ErrWriter, "sysward audit: serving the audit webhook on https://%s (%d rules)\n", ln.Addr(), eng.RulesLoaded())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, ok := wh.Next(ctx)
			if !ok {
				return
			}
			for i := range b {
				eng.Process(&b[i])
			}
		}
	}()
	err = wh.Serve(ctx, ln)
	stop()
	<-done
	s := wh.Stats()
	fmt.Fprintf(c.App.ErrWriter, "sysward audit: %d batches, %d events, %d alerts, %d events dropped (queue full), %d still queued; refused: %s\n",
		s.Batches, s.Events, eng.Stats().Matches, s.Dropped, s.Queued, countsString(s.Rejected))
	if err != nil {
		return fmt.Errorf("serving the audit webhook: %w", err)
	}
	return nil
}

func countsString(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// maxBadLinesReported bounds the stderr lines about bad log lines; the
// rest are counted.
const maxBadLinesReported = 20

func auditFollowAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("unexpected argument %q", c.Args().First())
	}
	path := c.String("log")
	if path == "" {
		return usagef("--log FILE is required")
	}
	eng, err := auditAlerts(c, c.App.Writer)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var st audit.FollowStats
	var bad uint64
	err = audit.FollowEvents(ctx, path, &audit.FollowOptions{FromStart: c.Bool("from-start"), Once: c.Bool("once")}, &st,
		func(ev *detector.Event) { eng.Process(ev) },
		func(n uint64, err error) {
			bad++
			if bad <= maxBadLinesReported {
				fmt.Fprintf(c.App.ErrWriter, "sysward audit: %s: record %d: %v\n", path, n, err)
			}
		})
	if st.Opened.Load() == 0 {
		return usageErr(fmt.Errorf("--log: %w", err))
	}
	fmt.Fprintf(c.App.ErrWriter, "sysward audit: %d records, %d alerts, %d not audit records, %d overlong, %d rotations, %d truncations\n",
		st.Lines.Load()-bad, eng.Stats().Matches, bad, st.Overlong.Load(), st.Rotations.Load(), st.Truncated.Load())
	return err
}
