// Package storetest runs a real kube-apiserver with sysward's
// WorkloadProfile CRD for tests (internal/kubetest's NewAPIServer, free
// ports, no lock).
package storetest

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sysward/sysward/internal/kube"
	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/store"
)

// API is a started kubetest.APIServer with sysward's WorkloadProfile CRD
// installed and Established (store.InstallCRD), and clients for it: the
// cluster store's tests outside internal/store (the agent's --store, `sysward
// k8s`, the agent under its own profile).
type API struct {
	*kubetest.APIServer
	Config    *rest.Config // cluster-admin, from Kubeconfig
	Clientset kubernetes.Interface
	Store     *store.Client
}

// New starts etcd + kube-apiserver on free ports (kubetest.NewAPIServer),
// installs the CRD and creates namespaces. Stopped at test cleanup.
func New(t testing.TB, namespaces ...string) *API {
	t.Helper()
	s := &API{APIServer: kubetest.NewAPIServer(t)}
	s.Start()
	cfg, err := kube.Config(s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.InstallCRD(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	s.Config = cfg
	if s.Clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if s.Store, err = store.NewClient(cfg); err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		if out, err := s.Kubectl("", "create", "namespace", ns); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	return s
}
