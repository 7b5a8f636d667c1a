package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	v1 "github.com/sysward/sysward/api/v1alpha1"
)

// Scheme knows the sysward.io types.
var Scheme = runtime.NewScheme()

func init() {
	if err := v1.AddToScheme(Scheme); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(Scheme, metav1.SchemeGroupVersion)
}

// Client reads and writes WorkloadProfiles. Safe from any goroutine.
type Client struct {
	// Backoff is Modify's wait between attempts (DefaultBackoff).
	Backoff Backoff

	rc rest.Interface
	// Requests counts API requests made (for the benchmarks and the
	// agent's metrics); Conflicts counts updates refused for a stale
	// resourceVersion.
	requests, conflicts atomic.Uint64
}

// NewClient makes a Client from a rest.Config (its own copy).
func NewClient(cfg *rest.Config) (*Client, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &v1.SchemeGroupVersion
	c.APIPath = "/apis"
	c.NegotiatedSerializer = serializer.NewCodecFactory(Scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("sysward.io client: %w", err)
	}
	return &Client{rc: rc, Backoff: DefaultBackoff}, nil
}

// Requests and Conflicts since NewClient.
func (c *Client) Requests() uint64  { return c.requests.Load() }
func (c *Client) Conflicts() uint64 { return c.conflicts.Load() }

// Get reads one object.
func (c *Client) Get(ctx context.Context, ns, name string) (*v1.WorkloadProfile, error) {
	c.requests.Add(1)
	out := &v1.WorkloadProfile{}
	if err := c.rc.Get().Namespace(ns).Resource(v1.Resource).Name(name).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

// List reads the objects in ns ("" for every namespace).
func (c *Client) List(ctx context.Context, ns string) (*v1.WorkloadProfileList, error) {
	c.requests.Add(1)
	out := &v1.WorkloadProfileList{}
	if err := c.rc.Get().Namespace(ns).Resource(v1.Resource).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Create writes a new object.
func (c *Client) Create(ctx context.Context, wp *v1.WorkloadProfile) (*v1.WorkloadProfile, error) {
	c.requests.Add(1)
	out := &v1.WorkloadProfile{}
	if err := c.rc.Post().Namespace(wp.Namespace).Resource(v1.Resource).Body(wp).Do(ctx).Into(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Update writes wp if its resourceVersion is still the object's (a
// conflict error otherwise).
func (c *Client) Update(ctx context.Context, wp *v1.WorkloadProfile) (*v1.WorkloadProfile, error) {
	c.requests.Add(1)
	out := &v1.WorkloadProfile{}
	if err := c.rc.Put().Namespace(wp.Namespace).Resource(v1.Resource).Name(wp.Name).Body(wp).Do(ctx).Into(out); err != nil {
		if apierrors.IsConflict(err) {
			c.conflicts.Add(1)
		}
		return nil, err
	}
	return out, nil
}

// Interface is the REST client for sysward.io/v1alpha1 (watches,
// requests the methods above do not make). Requests made through it are
// not counted.
func (c *Client) Interface() rest.Interface { return c.rc }

// MergeStats say what one Merge or Modify cost.
type MergeStats struct {
	Requests  int
	Conflicts int
	Result    Result
}

// Modify runs the optimistic loop on the object ns/name: fn changes a
// copy of the current object (cur, when given, is used as the first read:
// an informer's cache); the result is written with the resourceVersion it
// was read at; on a conflict the object is read again and fn runs again
// on that read, so fn must be a function of the object it is given (Apply
// is). fn returning ErrNoChange skips the write: Modify then returns a
// nil object and no error (callers tell "written" by a non-nil object). create makes the object when it does not exist (nil: a
// missing object is an error); two writers creating it at once see
// AlreadyExists, which is retried as a conflict.
//
// Retries wait a little, growing and jittered (Client.Backoff): a
// conflict means another writer's update went through, so the writers as
// a whole always progress; the wait spreads them out. After Backoff.Attempts
// attempts, or once ctx is done, the last error is returned: give ctx a
// deadline.
func (c *Client) Modify(ctx context.Context, ns, name string, cur *v1.WorkloadProfile, create func() *v1.WorkloadProfile,
	fn func(*v1.WorkloadProfile) error) (*v1.WorkloadProfile, MergeStats, error) {
	var st MergeStats
	var out *v1.WorkloadProfile
	attempt := func() error {
		obj := cur
		cur = nil
		if obj == nil {
			st.Requests++
			got, err := c.Get(ctx, ns, name)
			switch {
			case apierrors.IsNotFound(err) && create != nil:
				obj = create()
			case err != nil:
				return err
			default:
				obj = got
			}
		}
		obj = obj.DeepCopy()
		if err := fn(obj); err != nil {
			return err
		}
		var err error
		st.Requests++
		if obj.ResourceVersion == "" {
			out, err = c.Create(ctx, obj)
		} else {
			out, err = c.Update(ctx, obj)
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			st.Conflicts++
		}
		return err
	}
	var err error
	for n := 1; ; n++ {
		err = attempt()
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) || n >= max(c.Backoff.Attempts, 1) {
			break
		}
		t := time.NewTimer(c.Backoff.wait(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, st, fmt.Errorf("%w (after %d attempts, the last: %w)", ctx.Err(), n, err)
		case <-t.C:
		}
	}
	if errors.Is(err, ErrNoChange) {
		return nil, st, nil
	}
	if err != nil {
		return nil, st, err
	}
	return out, st, nil
}

// Backoff is how long Modify waits after the n-th failed attempt: First
// growing ×Factor up to Max, each wait between half and one and a half of
// that at random; at most Attempts attempts.
type Backoff struct {
	First, Max time.Duration
	Factor     float64
	Attempts   int
}

func (b Backoff) wait(n int) time.Duration {
	d := float64(b.First) * math.Pow(max(b.Factor, 1), float64(n-1))
	if b.Max > 0 && d > float64(b.Max) {
		d = float64(b.Max)
	}
	return time.Duration(d * (0.5 + rand.Float64()))
}

// DefaultBackoff is a new Client's Backoff: 10 ms doubling up to 2 s, at
// most 200 attempts (about 6 minutes; give ctx a deadline). Measured with
// 20 writers whose every merge writes into one object (BenchmarkMerge,
// two runs): against waits capped at 100 ms it about halves the requests
// per merge (10.6 and 12.2 against 20.4 and 21.0) and the time a merge
// takes (3.8 s and 7.2 s against 7.9 s and 11.3 s), and gives 1.5 to 2
// times the merges per second: every PUT that conflicts costs the
// apiserver nearly a whole write, so fewer tries go further. (client-go's
// retry.OnError is not used: it stops as soon as its wait reaches the
// Cap, which left writers failing after a dozen conflicts.)
var DefaultBackoff = Backoff{First: 10 * time.Millisecond, Max: 2 * time.Second, Factor: 2, Attempts: 200}

// ErrNoChange from Modify's fn: nothing to write.
var ErrNoChange = errors.New("no change")

// Merge applies d to its object with Modify (created in Learning when
// missing). cur, when not nil, is the caller's cached copy, used as the
// first read: a delta it already holds all of is then not sent at all
// (no request), which is right because the syscall set only grows within
// a version, and a new version is a change Apply sees.
func (c *Client) Merge(ctx context.Context, d *Delta, cur *v1.WorkloadProfile) (*v1.WorkloadProfile, MergeStats, error) {
	if d.Key.Namespace == "" || d.Key.Kind == "" || d.Key.Workload == "" || d.Key.Container == "" {
		return nil, MergeStats{}, fmt.Errorf("merging: incomplete key %q", d.Key)
	}
	var res Result
	out, st, err := c.Modify(ctx, d.Key.Namespace, d.Key.Name(), cur, func() *v1.WorkloadProfile { return New(d.Key, time.Now()) },
		func(wp *v1.WorkloadProfile) error {
			r, err := Apply(wp, d, time.Now())
			res = r
			if err != nil {
				return err
			}
			if !r.Changed {
				return ErrNoChange
			}
			return nil
		})
	st.Result = res
	if err != nil {
		return nil, st, fmt.Errorf("merging into %s/%s: %w", d.Key.Namespace, d.Key.Name(), err)
	}
	return out, st, nil
}
