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
// The order in which the two sources deliver is not the order of what
// they record: the apiserver batches its webhook (up to
// --audit-webhook-batch-max-wait, 30 s by default) while the kernel's event
// arrives within milliseconds, so the call made by an exec'd command is
// usually seen before the exec. Each pod's recent calls outside its profile
// are kept (the last one of each system call, at most maxRecentPerPod), and
// an access arriving late is matched against those made after it started
// (its requestReceivedTimestamp). Both clocks must agree: on another node
// than the apiserver's, NTP's skew shifts the window.
//
// Audit and Syscall may be called from different goroutines. Memory is
// bounded by MaxPods pods kept at once (the least recently active is
// forgotten first), each with one access and at most maxRecentPerPod calls.
type Correlator struct {
	Window   time.Duration // default 10 minutes
	MaxPods  int           // default 10000
	Hostname string
	Sink     detector.AlertSink

	mu     sync.Mutex
	pods   map[podRef]*podState
	raised uint64
}

// Raised is how many correlated alerts were sent.
func (c *Correlator) Raised() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raised
}

type podRef struct{ ns, pod string }

// podState is what the correlator keeps of one pod.
type podState struct {
	access *podAccess  // the latest interactive access, nil if none
	recent []deviation // the latest call of each system call outside the profile
	last   time.Time   // the latest time recorded (eviction)
}

type podAccess struct {
	at        time.Time // requestReceivedTimestamp: before anything it runs
	user      string
	action    string // exec, attach, portforward, ephemeralcontainers
	command   string // exec: every command= parameter, joined by spaces
	container string
	auditID   string
	alerted   map[string]bool // system calls already raised for this access
}

// deviation is a call outside the pod's profile, as much of its event as
// the alert names.
type deviation struct {
	at                                            time.Time
	call                                          string
	denied                                        bool
	proc, cmdline, containerID, profile, workload string
}

const (
	maxAlertedPerAccess = 64
	maxRecentPerPod     = 64
)

// Audit records a k8s_audit event if it is a successful interactive access
// into a pod: exec, attach or portforward at ResponseStarted (the stream was
// opened), an ephemeral container at ResponseComplete with a 2xx. Calls
// outside the pod's profile already seen, made after the access started
// and within the window, raise their alerts now.
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
	if !r.RequestReceivedTimestamp.IsZero() {
		a.at = r.RequestReceivedTimestamp.Time
	}
	if i := strings.IndexByte(r.RequestURI, '?'); i >= 0 {
		if q, err := url.ParseQuery(r.RequestURI[i+1:]); err == nil {
			a.command = strings.Join(q["command"], " ")
			a.container = q.Get("container")
		}
	}
	c.mu.Lock()
	st := c.state(podRef{r.ObjectRef.Namespace, r.ObjectRef.Name}, ev.Time)
	if st.access != nil && st.access.auditID == a.auditID {
		// The same record again (both inputs given, or redelivered):
		// what it raised is not raised twice.
		c.mu.Unlock()
		return
	}
	st.access = a
	var raise []deviation
	for _, d := range st.recent {
		if c.matches(a, d) {
			raise = append(raise, d)
		}
	}
	c.mu.Unlock()
	for _, d := range raise {
		c.raise(a, r.ObjectRef.Namespace, r.ObjectRef.Name, d)
	}
}

// state is the pod's state, made if new (evicting over MaxPods). Called
// with mu held.
func (c *Correlator) state(k podRef, now time.Time) *podState {
	if c.pods == nil {
		c.pods = map[podRef]*podState{}
	}
	st := c.pods[k]
	if st == nil {
		c.evict(now)
		st = &podState{}
		c.pods[k] = st
	}
	if now.After(st.last) {
		st.last = now
	}
	return st
}

func (c *Correlator) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	return 10 * time.Minute
}

// evict makes room for one more pod: over MaxPods it forgets the pods
// idle longer than the window, then the least recently active ones.
func (c *Correlator) evict(now time.Time) {
	max := c.MaxPods
	if max <= 0 {
		max = 10000
	}
	if len(c.pods) < max {
		return
	}
	for k, st := range c.pods {
		if now.Sub(st.last) > c.window() {
			delete(c.pods, k)
		}
	}
	for len(c.pods) >= max {
		var oldest podRef
		var t time.Time
		for k, st := range c.pods {
			if t.IsZero() || st.last.Before(t) {
				oldest, t = k, st.last
			}
		}
		delete(c.pods, oldest)
	}
}

// matches reports whether d is raised for a (and marks it raised). Called
// with mu held.
func (c *Correlator) matches(a *podAccess, d deviation) bool {
	if d.at.Before(a.at) || d.at.Sub(a.at) > c.window() || a.alerted[d.call] || len(a.alerted) >= maxAlertedPerAccess {
		return false
	}
	if a.alerted == nil {
		a.alerted = map[string]bool{}
	}
	a.alerted[d.call] = true
	c.raised++
	return true
}

// Syscall checks a syscall event: outside its pod's profile, within the
// window after an access to that pod, it raises the correlated alert; it
// is kept in case the access arrives later.
func (c *Correlator) Syscall(ev *detector.Event) {
	if ev.Source != detector.SourceSyscall && ev.Source != "" || ev.InProfile || ev.Type == "procexit" || ev.K8s.Pod == "" {
		return
	}
	d := deviation{at: ev.Time, call: ev.Type, denied: ev.Denied, proc: ev.Proc.Name, cmdline: ev.Proc.Cmdline,
		containerID: ev.Container.ID, profile: ev.Profile, workload: ev.Workload}
	c.mu.Lock()
	st := c.state(podRef{ev.K8s.Namespace, ev.K8s.Pod}, ev.Time)
	kept := false
	for i := range st.recent {
		if st.recent[i].call == d.call {
			st.recent[i], kept = d, true
			break
		}
	}
	if !kept {
		if len(st.recent) >= maxRecentPerPod {
			copy(st.recent, st.recent[1:])
			st.recent = st.recent[:len(st.recent)-1]
		}
		st.recent = append(st.recent, d)
	}
	a := st.access
	raise := a != nil && c.matches(a, d)
	c.mu.Unlock()
	if raise {
		c.raise(a, ev.K8s.Namespace, ev.K8s.Pod, d)
	}
}

// raise sends the correlated alert of access a and call d in pod ns/pod.
// a's fields other than alerted are never changed once recorded.
func (c *Correlator) raise(acc *podAccess, ns, pod string, d deviation) {
	command := acc.command
	if command == "" {
		command = "<NA>"
	}
	verdict := "allowed (not enforced)"
	if d.denied {
		verdict = "denied by seccomp"
	}
	out := "Syscall outside profile after " + acc.action + " into pod (user=" + acc.user +
		" pod=" + ns + "/" + pod + " action=" + acc.action + " command=" + command +
		" syscall=" + d.call + " " + verdict + " process=" + d.proc + " cmdline=" + d.cmdline +
		" container_id=" + d.containerID + " seconds_after_access=" + strconv.FormatFloat(d.at.Sub(acc.at).Seconds(), 'f', 1, 64) + ")"
	c.Sink.Send(&detector.Alert{
		Time: d.at, Rule: CorrelationRule, Priority: detector.PriorityCritical, Source: detector.SourceSyscall,
		Hostname: c.Hostname, Output: out,
		OutputFields: map[string]any{
			"ka.user.name": acc.user, "ka.target.namespace": ns, "ka.target.name": pod,
			"ka.target.subresource": acc.action, "ka.auditid": acc.auditID, "ka.uri.param[command]": command,
			"ka.uri.param[container]": acc.container,
			"evt.type":                d.call, "sysward.denied": d.denied, "proc.name": d.proc, "proc.cmdline": d.cmdline,
			"container.id": d.containerID, "k8s.ns.name": ns, "k8s.pod.name": pod,
			"sysward.profile": d.profile,
		},
		Tags:     []string{"k8s", "k8s_audit", "seccomp", "correlation"},
		Workload: d.workload, Syscall: d.call,
	})
}
