package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/client-go/kubernetes"

	"github.com/sysward/sysward/internal/kube"
	"github.com/sysward/sysward/internal/watch"
)

// kubeFlags are the node agent's Kubernetes flags.
func kubeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "with --all-containers: kubeconfig `FILE` of the API to learn pods from (default: the pod's service-account token when in a pod; without either, alerts carry container fields only)"},
		&cli.StringFlag{Name: "node-name", EnvVars: []string{"SYSWARD_NODE_NAME"}, Usage: "with --all-containers: this node's `NAME` (the pods watched are those with spec.nodeName NAME; default $SYSWARD_HOSTNAME, else the hostname)"},
		&cli.BoolFlag{Name: "store", Usage: "with --all-containers and a Kubernetes API: learn the containers of pods labelled sysward.io/learn=true (on the pod or its namespace) into their WorkloadProfiles (one merge per workload and container per --store-interval), report calls outside profiles the store applied, and install those profiles under --profiles-dir/sysward/<namespace>/ (off without an API)"},
		&cli.DurationFlag{Name: "store-interval", Value: watch.DefaultStoreInterval, Usage: "with --store: report what is new to the store every `D` (at least 1s)"},
	}
}

// storeOptions checks --store and --store-interval; nil when off.
func storeOptions(c *cli.Context) (*watch.StoreOptions, error) {
	if !c.Bool("store") {
		if c.IsSet("store-interval") {
			return nil, usagef("--store-interval needs --store")
		}
		return nil, nil
	}
	d := c.Duration("store-interval")
	if d < time.Second {
		return nil, usagef("--store-interval %v: want at least 1s", d)
	}
	return &watch.StoreOptions{Interval: d}, nil
}

// startPods starts the pod resolver of the node agent, or returns nil when
// there is no API (said once in the log). A bad --kubeconfig is a usage
// error. The informer's first sync is waited for in the background: the
// agent watches containers from the start, pods' fields appear once synced.
//
// With so (--store) the resolver also watches marked namespaces, and so
// gets the API's config and this node's name; without an API so is
// turned off (said in the log) and returned as nil.
func startPods(ctx context.Context, c *cli.Context, log *slog.Logger, so *watch.StoreOptions) (*kube.Resolver, *watch.StoreOptions, error) {
	cfg, err := kube.Config(c.String("kubeconfig"))
	if errors.Is(err, kube.ErrNoAPI) {
		log.Info("no Kubernetes API: alerts carry container fields only (no k8s.* fields, sysward.workload is the container id)", "reason", err)
		if so != nil {
			log.Info("no Kubernetes API: --store is off")
		}
		return nil, nil, nil
	}
	var client kubernetes.Interface
	if err == nil {
		client, err = kubernetes.NewForConfig(cfg)
	}
	if err != nil {
		if c.IsSet("kubeconfig") {
			return nil, nil, usagef("--kubeconfig %s: %v", c.String("kubeconfig"), err)
		}
		return nil, nil, err
	}
	node := c.String("node-name")
	if node == "" {
		node = os.Getenv("SYSWARD_HOSTNAME")
	}
	if node == "" {
		if node, err = os.Hostname(); err != nil {
			return nil, nil, err
		}
	}
	r := kube.New(client, node, log)
	if so != nil {
		r.LearnNamespaces()
		so.Config, so.Pods, so.NodeName = cfg, r, node
	}
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
	return r, so, nil
}
