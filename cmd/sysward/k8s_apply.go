package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/store"
)

// ---- workloads with a pod template ----

// podTemplated is a workload whose pod template sysward patches.
type podTemplated struct {
	ref        workloadRef
	template   *corev1.PodTemplateSpec
	generation int64
}

// templatePath is where the pod template sits in the workload's object.
func templatePath(kind string) []string {
	if kind == "cronjob" {
		return []string{"spec", "jobTemplate", "spec", "template"}
	}
	return []string{"spec", "template"}
}

// patchable refuses kinds whose pod template cannot be changed.
func patchable(w workloadRef) error {
	switch w.Kind {
	case "deployment", "statefulset", "daemonset", "cronjob":
		return nil
	case "job":
		return usagef("%s: a Job's pod template cannot change once created: apply to the CronJob that starts it, or set the profile in the next Job you create", w)
	case "replicaset":
		return usagef("%s: apply to the Deployment that owns the ReplicaSet (its template is replaced on the next rollout)", w)
	}
	return usagef("%s: a pod's securityContext cannot change once created: apply to its workload (deployment/NAME, statefulset/NAME, ...)", w)
}

// getWorkload reads w's pod template; a missing workload is an error
// naming it and the namespace (exit 1).
func (e *k8sEnv) getWorkload(ctx context.Context, ns string, w workloadRef) (*podTemplated, error) {
	out := &podTemplated{ref: w}
	var err error
	switch w.Kind {
	case "deployment":
		var o *appsv1.Deployment
		if o, err = e.cs.AppsV1().Deployments(ns).Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
			out.template, out.generation = &o.Spec.Template, o.Generation
		}
	case "statefulset":
		var o *appsv1.StatefulSet
		if o, err = e.cs.AppsV1().StatefulSets(ns).Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
			out.template, out.generation = &o.Spec.Template, o.Generation
		}
	case "daemonset":
		var o *appsv1.DaemonSet
		if o, err = e.cs.AppsV1().DaemonSets(ns).Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
			out.template, out.generation = &o.Spec.Template, o.Generation
		}
	case "cronjob":
		o, gerr := e.cs.BatchV1().CronJobs(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err = gerr; err == nil {
			out.template, out.generation = &o.Spec.JobTemplate.Spec.Template, o.Generation
		}
	default:
		return nil, patchable(w)
	}
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s not found in namespace %s", w, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s in namespace %s: %w", w, ns, err)
	}
	return out, nil
}

// patchTemplate applies a strategic-merge patch of the pod template (tmpl,
// the patch of a PodTemplateSpec) to w and returns the new generation.
func (e *k8sEnv) patchTemplate(ctx context.Context, ns string, w workloadRef, tmpl map[string]any) (int64, error) {
	var patch any = tmpl
	path := templatePath(w.Kind)
	for i := len(path) - 1; i >= 0; i-- {
		patch = map[string]any{path[i]: patch}
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return 0, err
	}
	po := metav1.PatchOptions{FieldManager: "sysward"}
	var gen int64
	switch w.Kind {
	case "deployment":
		var o *appsv1.Deployment
		if o, err = e.cs.AppsV1().Deployments(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, data, po); err == nil {
			gen = o.Generation
		}
	case "statefulset":
		var o *appsv1.StatefulSet
		if o, err = e.cs.AppsV1().StatefulSets(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, data, po); err == nil {
			gen = o.Generation
		}
	case "daemonset":
		var o *appsv1.DaemonSet
		if o, err = e.cs.AppsV1().DaemonSets(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, data, po); err == nil {
			gen = o.Generation
		}
	case "cronjob":
		o, perr := e.cs.BatchV1().CronJobs(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, data, po)
		if err = perr; err == nil {
			gen = o.Generation
		}
	default:
		return 0, patchable(w)
	}
	if err != nil {
		return 0, fmt.Errorf("patching the pod template of %s in namespace %s: %w", w, ns, err)
	}
	return gen, nil
}

// seccompPatch is the pod template patch setting each container's
// seccompProfile to its Localhost profile (strategic merge: containers
// are merged by name, every other field is left as it is).
func seccompPatch(tmpl *corev1.PodTemplateSpec, paths map[string]string) map[string]any {
	entry := func(name string) map[string]any {
		return map[string]any{"name": name, "securityContext": map[string]any{
			"seccompProfile": map[string]any{"type": string(corev1.SeccompProfileTypeLocalhost), "localhostProfile": paths[name]}}}
	}
	spec := map[string]any{}
	for _, list := range []struct {
		key string
		cs  []corev1.Container
	}{{"initContainers", tmpl.Spec.InitContainers}, {"containers", tmpl.Spec.Containers}} {
		var l []any
		for _, c := range list.cs {
			if _, ok := paths[c.Name]; ok {
				l = append(l, entry(c.Name))
			}
		}
		if l != nil {
			spec[list.key] = l
		}
	}
	return map[string]any{"spec": spec}
}

// imagesMatch refuses to apply a profile learned from another image than
// the one the template runs: after a new image is rolled out, the agents
// start a new version (Learning) on its first report; until then the
// object still holds the old image's profile.
func imagesMatch(w workloadRef, t *corev1.PodTemplateSpec, wps []v1.WorkloadProfile) error {
	images := map[string]string{}
	for _, l := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for _, c := range l {
			images[c.Name] = c.Image
		}
	}
	for _, wp := range wps {
		learned, runs := wp.Status.Image, images[wp.Spec.Container]
		if learned != "" && runs != "" && learned != runs {
			return &phaseRefusal{fmt.Sprintf("%s container %s runs image %s, its profile (version %d) was learned from %s: let the node agents learn the new image first (its first report starts version %d in Learning)",
				w, wp.Spec.Container, clipText(runs, 256), wp.Status.Version, clipText(learned, 256), wp.Status.Version+1)}
		}
	}
	return nil
}

func containerNames(t *corev1.PodTemplateSpec) []string {
	var out []string
	for _, c := range t.Spec.InitContainers {
		out = append(out, c.Name)
	}
	for _, c := range t.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}

// ---- apply ----

func k8sApplyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "run a workload's pods under its learned profile, in complain or enforce mode",
		ArgsUsage: "WORKLOAD",
		UsageText: `sysward k8s apply WORKLOAD --mode complain|enforce [--container NAME]... [--wait [--timeout DUR]]

For each container (default: every container of the pod template that has
a WorkloadProfile; the others are named and left alone): the profile is
built from what was learned, added to the object's applied profiles (the
node agents install it on every node as <kubelet seccomp
root>/sysward/<namespace>/<object>-v<version>-<mode>-<hash>.json), and the
pod template's securityContext.seccompProfile of that container is set to
that Localhost profile (a strategic-merge patch: nothing else changes); the
pods roll.

--mode complain: the SCMP_ACT_LOG variant; the object moves from Learning
to Complain; calls outside the profile run, are logged, counted as
deviations and absorbed into the profile. From Enforcing it backs off to
Complain. --mode enforce: refused until 'sysward k8s promote' moved the
object to Enforcing; calls outside the profile fail with EPERM. Refused
too: a container whose template image is not the one its profile was
learned from (a new image is learned as a new version first).

Applied profiles no pod and no pod template in the namespace names any
more (older versions included; rollout history counts, as 'kubectl rollout
undo' restores it) are then removed from the object.
--wait waits for the rollout (as kubectl rollout status), up to --timeout.

Exit status: 0 applied, 1 refused (phase) or the API failed, 2 bad usage,
unknown kind or container.`,
		Flags: append(k8sConnFlags(),
			&cli.StringFlag{Name: "mode", Usage: "`MODE`: complain or enforce (required)"},
			&cli.StringSliceFlag{Name: "container", Aliases: []string{"c"}, Usage: "apply to container `NAME` only (repeatable; default: every container with a WorkloadProfile)"},
			&cli.BoolFlag{Name: "wait", Usage: "wait until the rollout finished"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "with --wait: give up after `DURATION`"},
		),
		Action: func(c *cli.Context) error {
			w, err := oneWorkload(c)
			if err != nil {
				return err
			}
			mode := c.String("mode")
			switch {
			case !c.IsSet("mode"):
				return usagef("--mode is required: complain or enforce")
			case mode != v1.ModeComplain && mode != v1.ModeEnforce:
				return usagef("--mode %q: want complain or enforce", clipText(mode, 32))
			case c.Duration("timeout") <= 0:
				return usagef("--timeout %s: must be positive", c.Duration("timeout"))
			case c.IsSet("timeout") && !c.Bool("wait"):
				return usagef("--timeout needs --wait")
			}
			if err := patchable(w); err != nil {
				return err
			}
			env, err := k8sConnect(c)
			if err != nil {
				return err
			}
			return env.apply(c.Context, w, mode, c.StringSlice("container"), c.Bool("wait"), c.Duration("timeout"))
		},
	}
}

// chosen picks the WorkloadProfiles of the containers asked for (all that
// have one by default) among the template's containers.
func (e *k8sEnv) chosen(w workloadRef, names []string, wps []v1.WorkloadProfile, asked []string) ([]v1.WorkloadProfile, error) {
	byContainer := map[string]v1.WorkloadProfile{}
	for _, wp := range wps {
		byContainer[wp.Spec.Container] = wp
	}
	var out []v1.WorkloadProfile
	if len(asked) > 0 {
		for _, a := range asked {
			if !slices.Contains(names, a) {
				return nil, usagef("--container %q: %s has no such container (it has %s)", clipText(a, 64), w, strings.Join(names, ", "))
			}
			wp, ok := byContainer[a]
			if !ok {
				return nil, fmt.Errorf("container %s of %s has no WorkloadProfile in namespace %s: it has not been learned (sysward k8s learn %s)", a, w, e.ns, w)
			}
			if !slices.ContainsFunc(out, func(x v1.WorkloadProfile) bool { return x.Spec.Container == a }) {
				out = append(out, wp)
			}
		}
		return out, nil
	}
	var missing []string
	for _, n := range names {
		if wp, ok := byContainer[n]; ok {
			out = append(out, wp)
		} else {
			missing = append(missing, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no container of %s (%s) has a WorkloadProfile in namespace %s: mark it for learning first (sysward k8s learn %s)",
			w, strings.Join(missing, ", "), e.ns, w)
	}
	if len(missing) > 0 {
		fmt.Fprintf(e.errw, "%s: no WorkloadProfile for container %s: left as it is\n", w, strings.Join(missing, ", "))
	}
	return out, nil
}

// phaseRefusal is a transition the object's phase does not allow (exit 1).
type phaseRefusal struct{ msg string }

func (r *phaseRefusal) Error() string { return r.msg }

func (e *k8sEnv) apply(ctx context.Context, w workloadRef, mode string, containers []string, wait bool, timeout time.Duration) error {
	ns := e.ns
	wl, err := e.getWorkload(ctx, ns, w)
	if err != nil {
		return err
	}
	names := containerNames(wl.template)
	wps, err := e.profilesOf(ctx, ns, w)
	if err != nil {
		return err
	}
	todo, err := e.chosen(w, names, wps, containers)
	if err != nil {
		return err
	}
	if err := imagesMatch(w, wl.template, todo); err != nil {
		return err
	}
	now := time.Now()
	paths := map[string]string{}
	type done struct {
		container string
		before    v1.Phase
		wp        *v1.WorkloadProfile
		ap        v1.AppliedProfile
	}
	var results []done
	transition := func(o *v1.WorkloadProfile, d *done) error {
		*d = done{container: o.Spec.Container, before: phaseOf(o)}
		switch mode {
		case v1.ModeComplain:
			if err := store.SetPhase(o, v1.PhaseComplain, now); err != nil {
				return err
			}
		case v1.ModeEnforce:
			switch phaseOf(o) {
			case v1.PhaseLearning:
				return &phaseRefusal{fmt.Sprintf("%s container %s is in Learning: run `sysward k8s apply %s --mode complain` first, observe, then `sysward k8s promote %s --window DURATION`",
					w, o.Spec.Container, w, w)}
			case v1.PhaseComplain:
				return &phaseRefusal{fmt.Sprintf("%s container %s is in Complain: promote it first (`sysward k8s promote %s --window DURATION`: it checks that nothing new was seen for that long)",
					w, o.Spec.Container, w)}
			}
		}
		ap, err := store.AddApplied(o, mode, now)
		d.ap = ap
		return err
	}
	// Every container is checked before any is written: a refusal after
	// an earlier container moved to Complain would leave that one in
	// Complain with its pods not patched, where what they trace is not
	// learned any more.
	for i := range todo {
		var d done
		if err := transition(todo[i].DeepCopy(), &d); err != nil {
			return err
		}
	}
	for i := range todo {
		cur := &todo[i]
		var d done
		out, _, err := e.store.Modify(ctx, ns, cur.Name, cur, nil, func(o *v1.WorkloadProfile) error {
			return transition(o, &d)
		})
		if err != nil {
			var pr *phaseRefusal
			if errors.As(err, &pr) || errors.Is(err, store.ErrNoSyscalls) {
				return err
			}
			return apiErr(err, "updating WorkloadProfile "+ns+"/"+cur.Name)
		}
		d.wp = out
		paths[d.container] = d.ap.LocalhostProfile
		results = append(results, d)
	}
	gen, err := e.patchTemplate(ctx, ns, w, seccompPatch(wl.template, paths))
	if err != nil {
		return err
	}
	for _, d := range results {
		def := "SCMP_ACT_LOG: calls outside it are logged and absorbed"
		if mode == v1.ModeEnforce {
			def = "SCMP_ACT_ERRNO: calls outside it fail with EPERM"
		}
		phase := string(d.wp.Status.Phase)
		if d.before != d.wp.Status.Phase {
			phase = string(d.before) + " -> " + phase
		}
		fmt.Fprintf(e.out, "%s container %s: phase %s, version %d, %d syscalls, %s profile %s (%s)\n",
			w, d.container, phase, d.wp.Status.Version, d.wp.Status.SyscallCount, mode, d.ap.LocalhostProfile, def)
	}
	fmt.Fprintf(e.out, "%s: pod template patched (%d container(s))\n", w, len(results))
	if mode == v1.ModeComplain {
		fmt.Fprintf(e.out, "next: let it run, watch 'sysward k8s status %s%s', then 'sysward k8s promote %s --window DURATION%s'\n", w, nsFlag(ns), w, nsFlag(ns))
	}
	if wait {
		if err := e.waitRollout(ctx, ns, w, gen, timeout); err != nil {
			return err
		}
	}
	keep := map[string]bool{}
	for _, p := range paths {
		keep[p] = true
	}
	return e.prune(ctx, ns, w, keep)
}

func phaseOf(wp *v1.WorkloadProfile) v1.Phase {
	if wp.Status.Phase == "" {
		return v1.PhaseLearning
	}
	return wp.Status.Phase
}

// ---- rollout ----

// waitRollout polls w until its rollout of generation gen finished, as
// kubectl rollout status decides it.
func (e *k8sEnv) waitRollout(ctx context.Context, ns string, w workloadRef, gen int64, timeout time.Duration) error {
	if w.Kind == "cronjob" {
		fmt.Fprintf(e.out, "%s: no rollout, the next Job it starts runs under the profile\n", w)
		return nil
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	last := ""
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		msg, done, err := e.rolloutState(rctx, ns, w, gen)
		cancel()
		if err != nil {
			return err
		}
		if done {
			fmt.Fprintf(e.out, "%s: rolled out\n", w)
			return nil
		}
		if msg != last && msg != "" {
			fmt.Fprintf(e.out, "%s: waiting: %s\n", w, msg)
			last = msg
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s: rollout not finished after %s (%s)", w, timeout, last)
		case <-tick.C:
		}
	}
}

func (e *k8sEnv) rolloutState(ctx context.Context, ns string, w workloadRef, gen int64) (string, bool, error) {
	switch w.Kind {
	case "deployment":
		d, err := e.cs.AppsV1().Deployments(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		return deploymentRollout(d, gen)
	case "statefulset":
		s, err := e.cs.AppsV1().StatefulSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		msg, done := statefulSetRollout(s, gen)
		return msg, done, nil
	case "daemonset":
		d, err := e.cs.AppsV1().DaemonSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		msg, done := daemonSetRollout(d, gen)
		return msg, done, nil
	}
	return "", true, nil
}

const observing = "waiting for the controller to observe the new template"

// statefulSetRollout is kubectl's rollout status of a StatefulSet.
func statefulSetRollout(s *appsv1.StatefulSet, gen int64) (string, bool) {
	if s.Status.ObservedGeneration < max(gen, s.Generation) {
		return observing, false
	}
	if s.Spec.UpdateStrategy.Type != "" && s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", true // OnDelete: pods change when deleted
	}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	if s.Status.ReadyReplicas < want {
		return fmt.Sprintf("%d of %d pods ready", s.Status.ReadyReplicas, want), false
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		if s.Status.UpdatedReplicas < want-*ru.Partition {
			return fmt.Sprintf("%d of %d pods updated (partition %d)", s.Status.UpdatedReplicas, want-*ru.Partition, *ru.Partition), false
		}
		return "", true
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		return fmt.Sprintf("%d of %d pods at the new revision", s.Status.UpdatedReplicas, want), false
	}
	return "", true
}

// daemonSetRollout is kubectl's rollout status of a DaemonSet.
func daemonSetRollout(d *appsv1.DaemonSet, gen int64) (string, bool) {
	if d.Status.ObservedGeneration < max(gen, d.Generation) {
		return observing, false
	}
	if d.Spec.UpdateStrategy.Type != "" && d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return "", true // OnDelete
	}
	if d.Status.UpdatedNumberScheduled < d.Status.DesiredNumberScheduled {
		return fmt.Sprintf("%d of %d pods updated", d.Status.UpdatedNumberScheduled, d.Status.DesiredNumberScheduled), false
	}
	if d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
		return fmt.Sprintf("%d of %d updated pods available", d.Status.NumberAvailable, d.Status.DesiredNumberScheduled), false
	}
	return "", true
}

// deploymentRollout is kubectl's rollout status of a Deployment.
func deploymentRollout(d *appsv1.Deployment, gen int64) (string, bool, error) {
	if d.Status.ObservedGeneration < max(gen, d.Generation) {
		return observing, false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment/%s exceeded its progress deadline (are the profiles installed on the nodes? kubectl describe pods)", d.Name)
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	switch {
	case d.Status.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d new replicas updated", d.Status.UpdatedReplicas, want), false, nil
	case d.Status.Replicas > d.Status.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas pending termination", d.Status.Replicas-d.Status.UpdatedReplicas), false, nil
	case d.Status.AvailableReplicas < d.Status.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas available", d.Status.AvailableReplicas, d.Status.UpdatedReplicas), false, nil
	}
	return "", true, nil
}

// ---- pruning applied profiles ----

// inUse collects the Localhost profiles under sysward/<ns>/ that pods and
// pod templates in ns name, rollout history included (ReplicaSets,
// ControllerRevisions: what a rollback restores). Any list failing is an error: pruning on a
// partial view could remove a profile a pod needs.
func (e *k8sEnv) inUse(ctx context.Context, ns string) (map[string]bool, error) {
	used := map[string]bool{}
	prefix := "sysward/" + ns + "/"
	addSpec := func(s *corev1.PodSpec) {
		if sc := s.SecurityContext; sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.LocalhostProfile != nil {
			if p := *sc.SeccompProfile.LocalhostProfile; strings.HasPrefix(p, prefix) {
				used[p] = true
			}
		}
		for _, l := range [][]corev1.Container{s.InitContainers, s.Containers} {
			for _, c := range l {
				if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.LocalhostProfile != nil {
					if p := *sc.SeccompProfile.LocalhostProfile; strings.HasPrefix(p, prefix) {
						used[p] = true
					}
				}
			}
		}
	}
	opts := metav1.ListOptions{Limit: 500}
	for {
		pods, err := e.cs.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing pods: %w", err)
		}
		for i := range pods.Items {
			addSpec(&pods.Items[i].Spec)
		}
		if opts.Continue = pods.Continue; opts.Continue == "" {
			break
		}
	}
	apps, batch := e.cs.AppsV1(), e.cs.BatchV1()
	lo := metav1.ListOptions{}
	if l, err := apps.Deployments(ns).List(ctx, lo); err != nil {
		return nil, fmt.Errorf("listing deployments: %w", err)
	} else {
		for i := range l.Items {
			addSpec(&l.Items[i].Spec.Template.Spec)
		}
	}
	if l, err := apps.StatefulSets(ns).List(ctx, lo); err != nil {
		return nil, fmt.Errorf("listing statefulsets: %w", err)
	} else {
		for i := range l.Items {
			addSpec(&l.Items[i].Spec.Template.Spec)
		}
	}
	if l, err := apps.DaemonSets(ns).List(ctx, lo); err != nil {
		return nil, fmt.Errorf("listing daemonsets: %w", err)
	} else {
		for i := range l.Items {
			addSpec(&l.Items[i].Spec.Template.Spec)
		}
	}
	if l, err := apps.ReplicaSets(ns).List(ctx, lo); err != nil {
		return nil, fmt.Errorf("listing replicasets: %w", err)
	} else {
		// Scaled-down ReplicaSets too: they are a Deployment's rollout
		// history, which `kubectl rollout undo` puts back as it was,
		// profile path included; without the file its pods cannot start.
		for i := range l.Items {
			addSpec(&l.Items[i].Spec.Template.Spec)
		}
	}
	if l, err := apps.ControllerRevisions(ns).List(ctx, lo); err != nil {
		return nil, fmt.Errorf("listing controllerrevisions: %w", err)
	} else {
		// StatefulSets' and DaemonSets' rollout history: each revision
		// holds the pod template (a patch replacing spec.template).
		for i := range l.Items {
			var rev struct {
				Spec struct {
					Template corev1.PodTemplateSpec `json:"template"`
				} `json:"spec"`
			}
			if raw := l.Items[i].Data.Raw; len(raw) > 0 {
				if err := json.Unmarshal(raw, &rev); err != nil {
					return nil, fmt.Errorf("reading controllerrevision %s: %w", l.Items[i].Name, err)
				}
				addSpec(&rev.Spec.Template.Spec)
			}
		}
	}
	if l, err := batch.CronJobs(ns).List(ctx, lo); err != nil {
		return nil, fmt.Errorf("listing cronjobs: %w", err)
	} else {
		for i := range l.Items {
			addSpec(&l.Items[i].Spec.JobTemplate.Spec.Template.Spec)
		}
	}
	if l, err := batch.Jobs(ns).List(ctx, lo); err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	} else {
		for i := range l.Items {
			addSpec(&l.Items[i].Spec.Template.Spec)
		}
	}
	return used, nil
}

// prune removes from w's WorkloadProfiles the applied profiles nothing in
// the namespace uses (keep: the ones just applied). A failure to see
// what is used skips pruning, with a warning.
func (e *k8sEnv) prune(ctx context.Context, ns string, w workloadRef, keep map[string]bool) error {
	used, err := e.inUse(ctx, ns)
	if err != nil {
		fmt.Fprintf(e.errw, "%s: unused applied profiles not removed: %v\n", w, err)
		return nil
	}
	for p := range keep {
		used[p] = true
	}
	wps, err := e.profilesOf(ctx, ns, w)
	if err != nil {
		return err
	}
	for i := range wps {
		var removed []string
		_, _, err := e.store.Modify(ctx, ns, wps[i].Name, &wps[i], nil, func(o *v1.WorkloadProfile) error {
			removed = removed[:0]
			kept := o.Status.Applied[:0]
			for _, a := range o.Status.Applied {
				if used[a.LocalhostProfile] {
					kept = append(kept, a)
				} else {
					removed = append(removed, a.LocalhostProfile)
				}
			}
			o.Status.Applied = kept
			if len(removed) == 0 {
				return store.ErrNoChange
			}
			return nil
		})
		if err != nil {
			return apiErr(err, "removing unused applied profiles of "+ns+"/"+wps[i].Name)
		}
		sort.Strings(removed)
		for _, r := range removed {
			fmt.Fprintf(e.out, "%s container %s: removed applied profile %s (no pod or template uses it)\n", w, wps[i].Spec.Container, r)
		}
	}
	return nil
}

// ---- promote ----

func k8sPromoteCommand() *cli.Command {
	return &cli.Command{
		Name:      "promote",
		Usage:     "move a workload's profiles from Complain to Enforcing once nothing new was seen for a window",
		ArgsUsage: "WORKLOAD",
		UsageText: `sysward k8s promote WORKLOAD --window DURATION [--container NAME]...
sysward k8s promote WORKLOAD --auto DURATION|off [--container NAME]...

For each container's WorkloadProfile (default: all of WORKLOAD's): refused
while the object has been in Complain for less than DURATION, or its last
new syscall or last complain-mode deviation is less than DURATION old
(the refusal names the syscall, pod, node and time, and how long is left);
refused from Learning (apply --mode complain first); one container
refused, none is promoted (--container picks some). Promoted, the
profile is frozen: calls outside it only count as deviations. Then
'sysward k8s apply WORKLOAD --mode enforce' rolls the pods onto it.

--auto DURATION sets the annotation sysward.io/auto-promote=DURATION on
the WorkloadProfiles: the node agents then promote them by the same rules
once the window is met (automatic promotion is off by default); --auto off
removes it. Pods move to the enforcing profile only with
'sysward k8s apply WORKLOAD --mode enforce'.

Exit status: 0 promoted (or already Enforcing), 1 refused (the reason on
stderr) or the API failed, 2 bad usage.`,
		Flags: append(k8sConnFlags(),
			&cli.DurationFlag{Name: "window", DefaultText: "none, required unless --auto", Usage: "promote once nothing new was seen for `DURATION`, e.g. 24h"},
			&cli.StringFlag{Name: "auto", Usage: "let the node agents promote once nothing new was seen for `DURATION` (off: stop them)"},
			&cli.StringSliceFlag{Name: "container", Aliases: []string{"c"}, Usage: "promote container `NAME` only (repeatable)"},
		),
		Action: func(c *cli.Context) error {
			w, err := oneWorkload(c)
			if err != nil {
				return err
			}
			if c.IsSet("auto") {
				if c.IsSet("window") {
					return usagef("--auto and --window: give one (--window promotes now, --auto lets the node agents promote later)")
				}
				val := strings.TrimSpace(c.String("auto"))
				if val != "off" {
					d, err := time.ParseDuration(val)
					if err != nil || d <= 0 {
						return usagef("--auto %q: want a positive duration such as 24h, or off", clipText(val, 64))
					}
					val = d.String()
				}
				env, err := k8sConnect(c)
				if err != nil {
					return err
				}
				return env.autoPromote(c.Context, w, val, c.StringSlice("container"))
			}
			if !c.IsSet("window") {
				return usagef("--window is required: how long nothing new must have been seen, e.g. --window 24h")
			}
			window := c.Duration("window")
			if window <= 0 {
				return usagef("--window %s: must be positive", window)
			}
			env, err := k8sConnect(c)
			if err != nil {
				return err
			}
			return env.promote(c.Context, w, window, c.StringSlice("container"))
		},
	}
}

// selectProfiles is w's WorkloadProfiles, of the containers named only
// when some are.
func (e *k8sEnv) selectProfiles(ctx context.Context, w workloadRef, containers []string) ([]v1.WorkloadProfile, error) {
	ns := e.ns
	wps, err := e.profilesOf(ctx, ns, w)
	if err != nil {
		return nil, err
	}
	if len(wps) == 0 {
		return nil, fmt.Errorf("no WorkloadProfile for %s in namespace %s: has it been marked for learning? (sysward k8s learn %s)", w, ns, w)
	}
	if len(containers) > 0 {
		var sel []v1.WorkloadProfile
		for _, name := range containers {
			i := slices.IndexFunc(wps, func(x v1.WorkloadProfile) bool { return x.Spec.Container == name })
			if i < 0 {
				var have []string
				for _, x := range wps {
					have = append(have, x.Spec.Container)
				}
				return nil, fmt.Errorf("--container %q: %s has no WorkloadProfile for that container in namespace %s (it has: %s)", clipText(name, 64), w, ns, strings.Join(have, ", "))
			}
			sel = append(sel, wps[i])
		}
		wps = sel
	}
	return wps, nil
}

// autoPromote sets (val a duration) or removes (val "off") the
// auto-promote annotation on w's WorkloadProfiles.
func (e *k8sEnv) autoPromote(ctx context.Context, w workloadRef, val string, containers []string) error {
	wps, err := e.selectProfiles(ctx, w, containers)
	if err != nil {
		return err
	}
	for i := range wps {
		cur := &wps[i]
		_, _, err := e.store.Modify(ctx, e.ns, cur.Name, cur, nil, func(o *v1.WorkloadProfile) error {
			old, had := o.Annotations[v1.AutoPromoteAnnotation]
			if val == "off" {
				if !had {
					return store.ErrNoChange
				}
				delete(o.Annotations, v1.AutoPromoteAnnotation)
				return nil
			}
			if had && old == val {
				return store.ErrNoChange
			}
			if o.Annotations == nil {
				o.Annotations = map[string]string{}
			}
			o.Annotations[v1.AutoPromoteAnnotation] = val
			return nil
		})
		if err != nil {
			return apiErr(err, "annotating "+e.ns+"/"+cur.Name)
		}
		if val == "off" {
			fmt.Fprintf(e.out, "%s container %s: automatic promotion off\n", w, cur.Spec.Container)
		} else {
			fmt.Fprintf(e.out, "%s container %s: the node agents promote it to Enforcing once nothing new was seen for %s (%s=%s)\n",
				w, cur.Spec.Container, val, v1.AutoPromoteAnnotation, val)
		}
	}
	return nil
}

func (e *k8sEnv) promote(ctx context.Context, w workloadRef, window time.Duration, containers []string) error {
	ns := e.ns
	wps, err := e.selectProfiles(ctx, w, containers)
	if err != nil {
		return err
	}
	var refused []string
	// Every container is checked before any is promoted: one left in
	// Complain while the others froze would have `apply --mode enforce`
	// refused, and the frozen ones stop absorbing what their pods, still
	// under the complain profile, do.
	for i := range wps {
		err := store.Promote(wps[i].DeepCopy(), window, time.Now())
		var ref *store.PromoteRefusal
		if errors.As(err, &ref) || errors.Is(err, store.ErrPhase) || errors.Is(err, store.ErrNoSyscalls) {
			refused = append(refused, fmt.Sprintf("%s container %s: %v", w, wps[i].Spec.Container, err))
		}
	}
	if len(refused) > 0 {
		return errors.New(strings.Join(refused, "\n"))
	}
	promoted := 0
	for i := range wps {
		cur := &wps[i]
		now := time.Now()
		_, _, err := e.store.Modify(ctx, ns, cur.Name, cur, nil, func(o *v1.WorkloadProfile) error {
			return store.Promote(o, window, now)
		})
		var ref *store.PromoteRefusal
		switch {
		case err == nil:
			promoted++
			fmt.Fprintf(e.out, "%s container %s: promoted to Enforcing (nothing new for %s)\n", w, cur.Spec.Container, window)
		case errors.Is(err, store.ErrAlreadyEnforcing):
			promoted++
			fmt.Fprintf(e.out, "%s container %s: already Enforcing\n", w, cur.Spec.Container)
		case errors.As(err, &ref), errors.Is(err, store.ErrPhase), errors.Is(err, store.ErrNoSyscalls):
			refused = append(refused, fmt.Sprintf("%s container %s: %v", w, cur.Spec.Container, err))
		default:
			return apiErr(err, "promoting "+ns+"/"+cur.Name)
		}
	}
	if len(refused) > 0 {
		return errors.New(strings.Join(refused, "\n"))
	}
	fmt.Fprintf(e.out, "next: sysward k8s apply %s --mode enforce%s\n", w, nsFlag(ns))
	return nil
}

// nsFlag is " -n NS" for a command line to print, "" for default.
func nsFlag(ns string) string {
	if ns == "default" {
		return ""
	}
	return " -n " + ns
}

// ---- learn ----

func k8sLearnCommand() *cli.Command {
	return &cli.Command{
		Name:      "learn",
		Usage:     "mark a workload for learning (the sysward.io/learn=true label on its pod template)",
		ArgsUsage: "WORKLOAD",
		UsageText: `sysward k8s learn [--off] WORKLOAD

Sets the label sysward.io/learn=true on WORKLOAD's pod template (the pods
roll); the node agents then learn its containers into WorkloadProfiles.
--off removes the label. A whole namespace is marked with
'kubectl label ns NAMESPACE sysward.io/learn=true'.

Exit status: 0 done, 1 the API failed or WORKLOAD does not exist, 2 bad
usage.`,
		Flags: append(k8sConnFlags(),
			&cli.BoolFlag{Name: "off", Usage: "remove the label (stop learning)"},
		),
		Action: func(c *cli.Context) error {
			w, err := oneWorkload(c)
			if err != nil {
				return err
			}
			if err := patchable(w); err != nil {
				return err
			}
			env, err := k8sConnect(c)
			if err != nil {
				return err
			}
			wl, err := env.getWorkload(c.Context, env.ns, w)
			if err != nil {
				return err
			}
			var val any = "true"
			if c.Bool("off") {
				val = nil
				if _, ok := wl.template.Labels[v1.LearnLabel]; !ok {
					fmt.Fprintf(env.out, "%s: not marked for learning\n", w)
					return nil
				}
			} else if wl.template.Labels[v1.LearnLabel] == "true" {
				fmt.Fprintf(env.out, "%s: already marked for learning\n", w)
				return nil
			}
			if _, err := env.patchTemplate(c.Context, env.ns, w, map[string]any{"metadata": map[string]any{"labels": map[string]any{v1.LearnLabel: val}}}); err != nil {
				return err
			}
			if val == nil {
				fmt.Fprintf(env.out, "%s: %s label removed from the pod template (the pods roll)\n", w, v1.LearnLabel)
				return nil
			}
			fmt.Fprintf(env.out, "%s: pod template labelled %s=true (the pods roll); the node agents learn its containers: sysward k8s status %s\n", w, v1.LearnLabel, w)
			fmt.Fprintf(env.out, "every workload of a namespace: kubectl label ns %s %s=true\n", env.ns, v1.LearnLabel)
			return nil
		},
	}
}
