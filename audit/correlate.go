package audit

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sysward/sysward/detector"
)

// CorrelationRule is the rule name of a correlated alert.
const CorrelationRule = "Syscall outside profile after interactive access to pod"

// Correlator joins the two sources: an interactive access into a pod seen
// in the audit stream (exec, attach, port-forward, an ephemeral container)
// followed, within Window, by a system call outside that pod's profile seen
// by watch, raises one alert naming the Kubernetes user, the pod, the
// command and the system call, in Falco's alert shape. One alert per
// (access, system call): repeats of the same call are not raised again.
//
// Audit and Syscall may be called from different goroutines. Memory is
// bounded by MaxPods accesses kept at once (the oldest is forgotten first).
type Correlator struct {
	Window   time.Duration // default 10 minutes
	MaxPods  int           // default 10000
	Hostname string
	Sink     detector.AlertSink

	mu     sync.Mutex
	access map[podRef]*podAccess
	raised uint64
}

// Raised is how many correlated alerts were sent.
func (c *Correlator) Raised() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raised
}

type podRef struct{ ns, pod string }

type podAccess struct {
	at        time.Time
	user      string
	action    string // exec, attach, portforward, ephemeralcontainers
	command   string // exec: every command= parameter, joined by spaces
	container string
	auditID   string
	alerted   map[string]bool // system calls already raised for this access
}

const maxAlertedPerAccess = 64

// Audit records a k8s_audit event if it is a successful interactive access
// into a pod: exec, attach or portforward at ResponseStarted (the stream was
// opened), an ephemeral container at ResponseComplete with a 2xx.
func (c *Correlator) Audit(ev *detector.Event) {
	r := ev.Audit.Event
	if r == nil || r.ObjectRef == nil || r.ObjectRef.Resource != "pods" || r.ResponseStatus == nil {
		return
	}
	code := r.ResponseStatus.Code
	switch sub := r.ObjectRef.Subresource; {
	case (sub == "exec" || sub == "attach" || sub == "portforward") && r.Stage == "ResponseStarted" && code == 101:
	case sub == "ephemeralcontainers" && r.Stage == "ResponseComplete" && code >= 200 && code < 300:
	default:
		return
	}
	a := &podAccess{at: ev.Time, user: r.User.Username, action: r.ObjectRef.Subresource, auditID: string(r.AuditID)}
	if i := strings.IndexByte(r.RequestURI, '?'); i >= 0 {
		if q, err := url.ParseQuery(r.RequestURI[i+1:]); err == nil {
			a.command = strings.Join(q["command"], " ")
			a.container = q.Get("container")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access == nil {
		c.access = map[podRef]*podAccess{}
	}
	c.evict(ev.Time)
	c.access[podRef{r.ObjectRef.Namespace, r.ObjectRef.Name}] = a
}

func (c *Correlator) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	return 10 * time.Minute
}

// evict forgets accesses older than the window and, over MaxPods, the
// oldest ones.
func (c *Correlator) evict(now time.Time) {
	max := c.MaxPods
	if max <= 0 {
		max = 10000
	}
	if len(c.access) < max {
		return
	}
	for k, a := range c.access {
		if now.Sub(a.at) > c.window() {
			delete(c.access, k)
		}
	}
	for len(c.access) >= max {
		var oldest podRef
		var t time.Time
		for k, a := range c.access {
			if t.IsZero() || a.at.Before(t) {
				oldest, t = k, a.at
			}
		}
		delete(c.access, oldest)
	}
}

// Syscall checks a syscall event: outside its pod's profile, within the
// window after an access to that pod, it raises the correlated alert.
func (c *Correlator) Syscall(ev *detector.Event) {
	if ev.Source != detector.SourceSyscall && ev.Source != "" || ev.InProfile || ev.Type == "procexit" || ev.K8s.Pod == "" {
		return
	}
	c.mu.Lock()
	a := c.access[podRef{ev.K8s.Namespace, ev.K8s.Pod}]
	if a == nil || ev.Time.Before(a.at) || ev.Time.Sub(a.at) > c.window() || a.alerted[ev.Type] || len(a.alerted) >= maxAlertedPerAccess {
		c.mu.Unlock()
		return
	}
	if a.alerted == nil {
		a.alerted = map[string]bool{}
	}
	a.alerted[ev.Type] = true
	c.raised++
	acc := *a
	c.mu.Unlock()

	command := acc.command
	if command == "" {
		command = "<NA>"
	}
	verdict := "allowed (not enforced)"
	if ev.Denied {
		verdict = "denied by seccomp"
	}
	out := "Syscall outside profile after " + acc.action + " into pod (user=" + acc.user +
		" pod=" + ev.K8s.Namespace + "/" + ev.K8s.Pod + " action=" + acc.action + " command=" + command +
		" syscall=" + ev.Type + " " + verdict + " process=" + ev.Proc.Name + " cmdline=" + ev.Proc.Cmdline +
		" container_id=" + ev.Container.ID + " seconds_after_access=" + strconv.FormatFloat(ev.Time.Sub(acc.at).Seconds(), 'f', 1, 64) + ")"
	c.Sink.Send(&detector.Alert{
		Time: ev.Time, Rule: CorrelationRule, Priority: detector.PriorityCritical, Source: detector.SourceSyscall,
		Hostname: c.Hostname, Output: out,
		OutputFields: map[string]any{
			"ka.user.name": acc.user, "ka.target.namespace": ev.K8s.Namespace, "ka.target.name": ev.K8s.Pod,
			"ka.target.subresource": acc.action, "ka.auditid": acc.auditID, "ka.uri.param[command]": command,
			"ka.uri.param[container]": acc.container,
			"evt.type":                ev.Type, "sysward.denied": ev.Denied, "proc.name": ev.Proc.Name, "proc.cmdline": ev.Proc.Cmdline,
			"container.id": ev.Container.ID, "k8s.ns.name": ev.K8s.Namespace, "k8s.pod.name": ev.K8s.Pod,
			"sysward.profile": ev.Profile,
		},
		Tags:     []string{"k8s", "k8s_audit", "seccomp", "correlation"},
		Workload: ev.Workload, Syscall: ev.Type,
	})
}
