// Package kube tells the node agent which Kubernetes pod and workload a
// container belongs to: a pod informer restricted to this node
// (spec.nodeName field selector), container ids from pod status
// (containerStatuses, initContainerStatuses, ephemeralContainerStatuses),
// owner references resolved to the workload (ReplicaSet → Deployment,
// Job → CronJob, StatefulSet, DaemonSet, bare pod). With LearnNamespaces a
// second informer keeps the namespaces labelled sysward.io/learn=true
// (label-selected: only those are listed), for Marked; a pod carrying the
// label itself is marked through Container.Learn.
//
// Lifetimes: New builds a Resolver; Run starts its informer and returns once
// the cache has synced (or ctx ends); the informer stops with ctx. Lookup
// and Enrich are safe from any goroutine and never call the API: owner
// look-ups happen in the informer's handler, once per owner, cached.
package kube

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/version"
)

// Container is what alerts say about one container of a pod.
type Container struct {
	Namespace string
	Pod       string
	PodUID    string
	// Labels are the pod's labels as "key:value", sorted by key (Falco's
	// k8s.pod.labels items).
	Labels []string
	// Name is the container's name in the pod spec (container.name).
	Name string
	// Image is the image the pod spec names (container.image; the
	// repository and tag derive from it).
	Image string
	// Workload is namespace/kind/name, kind lowercase as kubectl names
	// resources: shop/deployment/web, shop/statefulset/db,
	// batch/cronjob/backup, shop/pod/debug for a bare pod.
	Workload string
	// PodCreated is the pod's creationTimestamp.
	PodCreated time.Time
	// Learn is true when the pod carries the label sysward.io/learn=true
	// (its workload's pod template set it). Its namespace may mark it
	// too: Resolver.Marked.
	Learn bool
}

// Fields are the fields Enrich fills, which the node agent adds to every
// alert's output_fields (the built-in rules' output text names only
// sysward.workload): Falco's names and formats.
var Fields = []string{"k8s.ns.name", "k8s.pod.name", "k8s.pod.uid", "k8s.pod.labels",
	"container.name", "container.image.repository", "container.image.tag"}

// Resolver keeps the node's pods indexed by container id.
type Resolver struct {
	client kubernetes.Interface
	node   string
	log    *slog.Logger

	mu    sync.RWMutex
	byID  map[string]*Container    // container id (runtime's, no scheme) → container
	byPod map[types.UID][]string   // pod uid → its container ids
	pods  map[types.UID]*Container // pod uid → pod-level fields (Name empty)

	ownerMu sync.Mutex
	owners  map[types.UID]string // ReplicaSet/Job uid → resolved kind/name
	warned  map[string]bool

	watchNS  bool // LearnNamespaces: run the namespace informer
	nsMu     sync.RWMutex
	markedNS map[string]bool // namespaces labelled sysward.io/learn=true
	nsSynced func() bool
}

// New makes a Resolver for the pods on node.
func New(client kubernetes.Interface, node string, log *slog.Logger) *Resolver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{client: client, node: node, log: log,
		byID: map[string]*Container{}, byPod: map[types.UID][]string{}, pods: map[types.UID]*Container{},
		owners: map[types.UID]string{}, warned: map[string]bool{}, markedNS: map[string]bool{}}
}

// LearnNamespaces makes Run also watch the namespaces labelled
// sysward.io/learn=true (a label-selected informer: only marked namespaces
// are listed and kept), for Marked. Call it before Run. It needs
// namespaces list/watch (deploy/base/rbac.yaml).
func (r *Resolver) LearnNamespaces() { r.watchNS = true }

// NamespaceMarked reports whether namespace ns carries the label
// sysward.io/learn=true (always false without LearnNamespaces).
func (r *Resolver) NamespaceMarked(ns string) bool {
	r.nsMu.RLock()
	defer r.nsMu.RUnlock()
	return r.markedNS[ns]
}

// Marked reports whether c is to be learned: its pod or its namespace
// carries the label sysward.io/learn=true.
func (r *Resolver) Marked(c Container) bool { return c.Learn || r.NamespaceMarked(c.Namespace) }

// NamespacesSynced reports whether the namespace informer has made its
// first list (true without LearnNamespaces).
func (r *Resolver) NamespacesSynced() bool {
	r.nsMu.RLock()
	defer r.nsMu.RUnlock()
	return r.nsSynced == nil || r.nsSynced()
}

func (r *Resolver) runNamespaces(ctx context.Context) (cache.InformerSynced, error) {
	f := informers.NewSharedInformerFactoryWithOptions(r.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = v1alpha1.LearnLabel + "=true"
	}))
	inf := f.Core().V1().Namespaces().Informer()
	set := func(o any, on bool) {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		ns, ok := o.(*corev1.Namespace)
		if !ok {
			return
		}
		r.nsMu.Lock()
		if on && ns.Labels[v1alpha1.LearnLabel] == "true" {
			r.markedNS[ns.Name] = true
		} else {
			delete(r.markedNS, ns.Name)
		}
		r.nsMu.Unlock()
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { set(o, true) },
		UpdateFunc: func(_, o any) { set(o, true) },
		// A namespace whose label is removed leaves the selector: the
		// watch says deleted.
		DeleteFunc: func(o any) { set(o, false) },
	}); err != nil {
		return nil, fmt.Errorf("adding the namespace handler: %w", err)
	}
	f.Start(ctx.Done())
	r.nsMu.Lock()
	r.nsSynced = inf.HasSynced
	r.nsMu.Unlock()
	return inf.HasSynced, nil
}

// Run starts the pod informer and waits for its first list; the informer
// keeps running until ctx is done.
func (r *Resolver) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(r.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", r.node).String()
	}))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.update(ctx, o) },
		UpdateFunc: func(_, o any) { r.update(ctx, o) },
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				r.remove(p.UID)
			}
		},
	}); err != nil {
		return fmt.Errorf("adding the pod handler: %w", err)
	}
	f.Start(ctx.Done())
	synced := []cache.InformerSynced{inf.HasSynced}
	if r.watchNS {
		nsSynced, err := r.runNamespaces(ctx)
		if err != nil {
			return err
		}
		synced = append(synced, nsSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("pod informer for node %s: not synced: %w", r.node, ctx.Err())
	}
	return nil
}

// Lookup returns the container with the runtime id id (the full id, as
// runc's state names it).
func (r *Resolver) Lookup(id string) (Container, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.byID[id]
	if !ok {
		return Container{}, false
	}
	return *c, true
}

// Enrich fills ev's Kubernetes fields (k8s.*, container.name,
// container.image, sysward.workload) for the container id. When the pod
// status does not list the container yet (it is reported a moment after
// the container starts) but the event carries the pod uid from its cgroup
// path, the pod-level fields are filled and container.name is left as is.
// It reports whether it knew the pod.
func (r *Resolver) Enrich(id string, ev *detector.Event) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.byID[id]
	if !ok {
		c, ok = r.pods[types.UID(ev.K8s.PodUID)]
		if !ok || ev.K8s.PodUID == "" {
			return false
		}
	}
	ev.K8s.Namespace, ev.K8s.Pod, ev.K8s.PodUID = c.Namespace, c.Pod, c.PodUID
	ev.K8s.Labels = c.Labels
	ev.Workload = c.Workload
	if c.Name != "" {
		ev.Container.Name = c.Name
		ev.Container.Image = c.Image
		ev.Container.ImageRepository, ev.Container.ImageTag = "", ""
	}
	return true
}

func (r *Resolver) update(ctx context.Context, o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	base := Container{Namespace: p.Namespace, Pod: p.Name, PodUID: string(p.UID), Labels: Labels(p.Labels),
		Workload: p.Namespace + "/" + r.workload(ctx, p), PodCreated: p.CreationTimestamp.Time,
		Learn: p.Labels[v1alpha1.LearnLabel] == "true"}
	images := map[string]string{}
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			images[c.Name] = c.Image
		}
	}
	for _, c := range p.Spec.EphemeralContainers {
		images[c.Name] = c.Image
	}
	var ids []string
	byID := map[string]*Container{}
	for _, sts := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for _, s := range sts {
			id := runtimeID(s.ContainerID)
			if id == "" {
				continue
			}
			c := base
			c.Name, c.Image = s.Name, images[s.Name]
			if c.Image == "" {
				c.Image = s.Image
			}
			byID[id] = &c
			ids = append(ids, id)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range r.byPod[p.UID] {
		delete(r.byID, id)
	}
	for id, c := range byID {
		r.byID[id] = c
	}
	r.byPod[p.UID] = ids
	pod := base
	r.pods[p.UID] = &pod
}

func (r *Resolver) remove(uid types.UID) {
	r.mu.Lock()
	for _, id := range r.byPod[uid] {
		delete(r.byID, id)
	}
	delete(r.byPod, uid)
	delete(r.pods, uid)
	r.mu.Unlock()
}

// runtimeID strips the runtime scheme: containerd://<id> → <id>.
func runtimeID(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		return s[i+3:]
	}
	return s
}

// Labels renders labels as Falco's k8s.pod.labels items, "key:value",
// sorted by key.
func Labels(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+":"+v)
	}
	sort.Strings(out)
	return out
}

// workload returns kind/name (kind lowercase) of the pod's top controller.
func (r *Resolver) workload(ctx context.Context, p *corev1.Pod) string {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return "pod/" + p.Name
	}
	switch ref.Kind {
	case "ReplicaSet", "Job":
		return r.parent(ctx, p.Namespace, *ref)
	}
	return strings.ToLower(ref.Kind) + "/" + ref.Name
}

// parent resolves a ReplicaSet to its Deployment and a Job to its CronJob
// (one GET per owner, cached by uid); an orphan stays itself. When the GET
// fails (RBAC, apiserver gone) the owner itself is the workload and the
// failure is logged once per kind.
func (r *Resolver) parent(ctx context.Context, ns string, ref metav1.OwnerReference) string {
	self := strings.ToLower(ref.Kind) + "/" + ref.Name
	r.ownerMu.Lock()
	w, ok := r.owners[ref.UID]
	r.ownerMu.Unlock()
	if ok {
		return w
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var meta metav1.Object
	var err error
	if ref.Kind == "ReplicaSet" {
		meta, err = r.client.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		meta, err = r.client.BatchV1().Jobs(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if err != nil {
		r.ownerMu.Lock()
		if !r.warned[ref.Kind] {
			r.warned[ref.Kind] = true
			r.log.Warn("resolving pod owner: workload is the "+ref.Kind+" itself", "owner", ns+"/"+self, "err", err)
		}
		r.ownerMu.Unlock()
		return self
	}
	w = self
	if up := metav1.GetControllerOf(meta); up != nil {
		w = strings.ToLower(up.Kind) + "/" + up.Name
	}
	r.ownerMu.Lock()
	r.owners[ref.UID] = w
	r.ownerMu.Unlock()
	return w
}

// ErrNoAPI says there is no Kubernetes API to ask: not in a pod with a
// service-account token and no kubeconfig given.
var ErrNoAPI = errors.New("no Kubernetes API (not in a pod with a service-account token, no --kubeconfig)")

// Client makes a clientset from kubeconfig, or from the pod's
// service-account token when kubeconfig is "" (ErrNoAPI outside a pod).
func Client(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := Config(kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Config is the rest.Config Client uses: from kubeconfig, or from the
// pod's service-account token when kubeconfig is "" (ErrNoAPI outside a
// pod); sysward's user agent, 5 requests per second (burst 10).
func Config(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) || errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoAPI
		}
		if err != nil {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	}
	cfg.UserAgent = "sysward/" + version.Version
	cfg.QPS, cfg.Burst = 5, 10
	return cfg, nil
}
