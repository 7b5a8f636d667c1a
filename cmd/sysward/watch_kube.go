package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/internal/kube"
)

// kubeFlags are the node agent's Kubernetes flags.
func kubeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "with --all-containers: kubeconfig `FILE` of the API to learn pods from (default: the pod's service-account token when in a pod; without either, alerts carry container fields only)"},
		&cli.StringFlag{Name: "node-name", EnvVars: []string{"SYSWARD_NODE_NAME"}, Usage: "with --all-containers: this node's `NAME` (the pods watched are those with spec.nodeName NAME; default $SYSWARD_HOSTNAME, else the hostname)"},
	}
}

// startPods starts the pod resolver of the node agent, or returns nil when
// there is no API (said once in the log). A bad --kubeconfig is a usage
// error. The informer's first sync is waited for in the background: the
// agent watches containers from the start, pods' fields appear once synced.
func startPods(ctx context.Context, c *cli.Context, log *slog.Logger) (*kube.Resolver, error) {
	client, err := kube.Client(c.String("kubeconfig"))
	if errors.Is(err, kube.ErrNoAPI) {
		log.Info("no Kubernetes API: alerts carry container fields only (no k8s.* fields, sysward.workload is the container id)", "reason", err)
		return nil, nil
	}
	if err != nil {
		if c.IsSet("kubeconfig") {
			return nil, usagef("--kubeconfig %s: %v", c.String("kubeconfig"), err)
		}
		return nil, err
	}
	node := c.String("node-name")
	if node == "" {
		node = os.Getenv("SYSWARD_HOSTNAME")
	}
	if node == "" {
		if node, err = os.Hostname(); err != nil {
			return nil, err
		}
	}
	r := kube.New(client, node, log)
	go func() {
		start := time.Now()
		if err := r.Run(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn("pod informer stopped: alerts carry container fields only", "err", err)
			}
			return
		}
		log.Info("pod informer synced", "node", node, "took", time.Since(start).Round(time.Millisecond))
	}()
	return r, nil
}
