package detector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// The k8s_audit fields, with the names and semantics of Falco's k8saudit
// plugin (plugins/k8saudit/pkg/k8saudit/extract.go) and json plugin
// (jevt.*, json.*): a field is absent where the plugin sets no value; list
// fields take an optional [index] that picks one container, volume, rule...;
// values inside the request object are rendered as the plugin renders them
// (a string as is, anything else as compact JSON).

// kaStr registers a string field read from the record; "" is absent.
func kaStr(r *registry, name, desc string, f func(*auditv1.Event) string) {
	r.optStr(name, desc, func(e *Event) string { return f(e.Audit.rec()) })
}

// kaList registers a list field with an optional [index]; idx is -1
// without one. f returns nil when the field is absent.
func kaList(r *registry, name, desc string, f func(a *AuditInfo, idx int) []string) {
	r.add(name, TypeList, ArgIndex, desc, func(arg string, hasArg bool) (accessor, error) {
		idx := -1
		if hasArg {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 {
				return accessor{}, fmt.Errorf("index must be a non-negative integer, not %q", arg)
			}
			idx = n
		}
		return accessor{typ: TypeList, list: func(e *Event) []string { return f(&e.Audit, idx) }}, nil
	})
}

// kaReq registers a string field at keys inside the request object.
func kaReq(r *registry, name, desc string, keys ...string) {
	r.add(name, TypeString, ArgNone, desc, func(string, bool) (accessor, error) {
		key := new(fieldMemo)
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			return e.Audit.memo(key, func() (string, bool) {
				v, ok := jsonValues(e.Audit.request(), 0, keys...)
				if !ok {
					return "", false
				}
				return jsonString(v[0])
			})
		}}, nil
	})
}

// kaReqList registers a list field: the values at keys inside the request
// object, arrays on the way fanned out (or one element with [index]).
func kaReqList(r *registry, name, desc string, strict bool, keys ...string) {
	kaList(r, name, desc, func(a *AuditInfo, idx int) []string {
		v, ok := jsonValues(a.request(), idx, keys...)
		if !ok {
			return nil
		}
		if strict {
			return jsonStringsStrict(v)
		}
		return jsonStrings(v)
	})
}

// kaReqArray registers a list field whose value is one JSON array inside the
// request object (extractFromKeys on a list field): its elements rendered.
func kaReqArray(r *registry, name, desc string, keys ...string) {
	r.add(name, TypeList, ArgNone, desc, func(string, bool) (accessor, error) {
		return accessor{typ: TypeList, list: func(e *Event) []string {
			v, ok := jsonValues(e.Audit.request(), 0, keys...)
			if !ok {
				return nil
			}
			arr, _ := v[0].([]any)
			return jsonStrings(arr)
		}}, nil
	})
}

// kaRulesList is ka.req.role.rules.KEY: every rule's KEY array, flattened.
func kaRulesList(r *registry, name, desc, key string) {
	kaList(r, name, desc, func(a *AuditInfo, idx int) []string {
		v, ok := jsonValues(a.request(), idx, "rules", key)
		if !ok {
			return nil
		}
		var out []string
		for _, x := range v {
			if arr, ok := x.([]any); ok {
				out = append(out, jsonStrings(arr)...)
			}
		}
		return out
	})
}

// containerList registers ka.req.pod.LIST.* for one of the pod's container
// lists (containers, initContainers, ephemeralContainers).
func containerList(r *registry, list, label string, hostPort bool) {
	p := "ka.req.pod." + list + "."
	sc := func(name, desc string, keys ...string) {
		kaReqList(r, p+name, desc, false, append([]string{"spec", list}, keys...)...)
	}
	images := func(a *AuditInfo, idx int) []string {
		v, ok := jsonValues(a.request(), idx, "spec", list, "image")
		if !ok {
			return nil
		}
		return jsonStringsStrict(v)
	}
	kaList(r, p+"name", "when the request object is a pod: the "+label+"' names", func(a *AuditInfo, idx int) []string {
		v, ok := jsonValues(a.request(), idx, "spec", list, "name")
		if !ok {
			return nil
		}
		return jsonStringsStrict(v)
	})
	kaList(r, p+"image", "when the request object is a pod: the "+label+"' images", images)
	kaList(r, p+"image.repository", "the "+label+"' images without tag or digest (e.g. falcosecurity/falco)", func(a *AuditInfo, idx int) []string {
		imgs := images(a, idx)
		for i, im := range imgs {
			imgs[i] = imageRepository(im)
		}
		return imgs
	})
	joined := func(key string) func(a *AuditInfo, idx int) []string {
		return func(a *AuditInfo, idx int) []string {
			v, ok := jsonValues(a.request(), idx, "spec", list, key)
			if !ok {
				return nil
			}
			var out []string
			for _, x := range v {
				arr, ok := x.([]any)
				if !ok {
					continue
				}
				parts := make([]string, 0, len(arr))
				for _, s := range arr {
					str, _ := s.(string)
					parts = append(parts, str)
				}
				out = append(out, strings.Join(parts, " "))
			}
			return out
		}
	}
	kaList(r, p+"command", "when the request object is a pod: each of the "+label+"' command, joined by spaces", joined("command"))
	kaList(r, p+"args", "when the request object is a pod: each of the "+label+"' args, joined by spaces", joined("args"))
	sc("privileged", "when the request object is a pod: securityContext.privileged of the "+label, "securityContext", "privileged")
	sc("allow_privilege_escalation", "when the request object is a pod: securityContext.allowPrivilegeEscalation of the "+label, "securityContext", "allowPrivilegeEscalation")
	sc("read_only_fs", "when the request object is a pod: securityContext.readOnlyRootFilesystem of the "+label, "securityContext", "readOnlyRootFilesystem")
	sc("run_as_user", "when the request object is a pod: securityContext.runAsUser of the "+label, "securityContext", "runAsUser")
	sc("run_as_group", "when the request object is a pod: securityContext.runAsGroup of the "+label, "securityContext", "runAsGroup")
	sc("proc_mount", "when the request object is a pod: securityContext.procMount of the "+label, "securityContext", "procMount")
	sc("add_capabilities", "when the request object is a pod: the capabilities the "+label+" add", "securityContext", "capabilities", "add")
	eff := func(key string) func(a *AuditInfo, idx int) []string {
		return func(a *AuditInfo, idx int) []string {
			def := "0"
			if v, ok := jsonValues(a.request(), 0, "spec", "securityContext", key); ok {
				def, _ = jsonString(v[0])
			}
			v, ok := jsonValues(a.request(), idx, "spec", list, "securityContext", key)
			if !ok {
				return nil
			}
			out := make([]string, len(v))
			for i, x := range v {
				s, ok := jsonString(x)
				if !ok {
					s = def
				}
				out[i] = s
			}
			return out
		}
	}
	kaList(r, p+"eff_run_as_user", "when the request object is a pod: the uid each of the "+label+" starts with (its runAsUser, else the pod's, else 0)", eff("runAsUser"))
	kaList(r, p+"eff_run_as_group", "when the request object is a pod: the gid each of the "+label+" starts with (its runAsGroup, else the pod's, else 0)", eff("runAsGroup"))
	if hostPort {
		kaList(r, p+"host_port", "when the request object is a pod: the "+label+"' hostPort values (containerPort where no hostPort)", func(a *AuditInfo, idx int) []string {
			v, ok := jsonValues(a.request(), idx, "spec", list, "ports")
			if !ok {
				return nil
			}
			var out []string
			for _, ports := range v {
				arr, _ := ports.([]any)
				for _, port := range arr {
					m, _ := port.(map[string]any)
					hp, ok := m["hostPort"]
					if !ok {
						hp, ok = m["containerPort"]
					}
					if s, sok := jsonString(hp); ok && sok {
						out = append(out, s)
					}
				}
			}
			return out
		})
	}
}

// imageRepository strips the tag and digest as Falco does: up to the first
// ':' then up to the first '@' (so a registry port is cut too).
func imageRepository(image string) string {
	if i := strings.IndexByte(image, ':'); i >= 0 {
		image = image[:i]
	}
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	return image
}

func subjectNames(a *AuditInfo, kind string, withNS bool) []string {
	m, _ := a.request().(map[string]any)
	subs, _ := m["subjects"].([]any)
	out := []string{}
	for _, s := range subs {
		sm, _ := s.(map[string]any)
		k, _ := sm["kind"].(string)
		n, ok := sm["name"].(string)
		if !ok || k != kind {
			continue
		}
		if withNS {
			ns, ok := sm["namespace"].(string)
			if !ok {
				continue
			}
			n = ns + ":" + n
		}
		out = append(out, n)
	}
	return out
}

// auditTime is the record's time: stageTimestamp, as Falco's plugin stamps
// its events.
func auditTime(e *Event) (int64, bool) {
	if t := e.Audit.rec().StageTimestamp; !t.IsZero() {
		return t.UnixNano(), true
	}
	if e.Time.IsZero() {
		return 0, false
	}
	return e.Time.UnixNano(), true
}

// buildJSONValue compiles jevt.value[/pointer]. The record's own scalars
// are read from the decoded Event; the request and response objects from
// their lazily parsed JSON; any other path from the whole record.
func buildJSONValue(arg string, _ bool) (accessor, error) {
	keys := splitPointer(arg)
	str := func(f func(*auditv1.Event) string) accessor {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) { s := f(e.Audit.rec()); return s, s != "" }}
	}
	if len(keys) == 1 {
		switch keys[0] {
		case "stage":
			return str(func(r *auditv1.Event) string { return string(r.Stage) }), nil
		case "verb":
			return str(func(r *auditv1.Event) string { return r.Verb }), nil
		case "auditID":
			return str(func(r *auditv1.Event) string { return string(r.AuditID) }), nil
		case "requestURI":
			return str(func(r *auditv1.Event) string { return r.RequestURI }), nil
		case "level":
			return str(func(r *auditv1.Event) string { return string(r.Level) }), nil
		case "userAgent":
			return str(func(r *auditv1.Event) string { return r.UserAgent }), nil
		}
	}
	var root func(*AuditInfo) any
	switch {
	case len(keys) > 0 && keys[0] == "requestObject":
		root, keys = (*AuditInfo).request, keys[1:]
	case len(keys) > 0 && keys[0] == "responseObject":
		root, keys = (*AuditInfo).response, keys[1:]
	default:
		root = (*AuditInfo).whole
	}
	return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
		r := root(&e.Audit)
		if r == nil {
			return "", false
		}
		v, ok := jsonPointer(r, keys)
		if !ok {
			return "", false
		}
		return jsonString(v)
	}}, nil
}

// jsonObj is jevt.obj: the whole record, indented by two spaces.
func jsonObj(e *Event) string {
	raw := e.Audit.Raw
	if raw == nil {
		if e.Audit.Event == nil {
			return ""
		}
		raw, _ = json.Marshal(e.Audit.Event)
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return ""
	}
	return b.String()
}

func init() {
	// The plugins whose fields these are: a rules file requiring them loads
	// without a "not available" warning (the managed-cloud variants of
	// k8saudit produce the same fields).
	for _, p := range []string{"k8saudit", "k8saudit-aks", "k8saudit-eks", "k8saudit-gke", "k8saudit-ovh", "json"} {
		nativePlugins[p] = true
	}

	ka := &registry{source: SourceK8sAudit, byName: map[string]*fieldDef{}}
	registries[srcK8sAudit] = ka

	// evt.*: the fields every Falco source has.
	ka.add("evt.time", TypeTime, ArgNone, "the record's stageTimestamp; compares as nanoseconds since the epoch", func(string, bool) (accessor, error) {
		return accessor{typ: TypeTime, num: auditTime}, nil
	})
	ka.add("evt.rawtime", TypeInt, ArgNone, "the record's stageTimestamp, nanoseconds since the epoch", func(string, bool) (accessor, error) {
		return accessor{typ: TypeInt, num: auditTime}, nil
	})
	ka.num("evt.num", "event sequence number", func(e *Event) int64 { return int64(e.Num) })
	ka.str("evt.source", "the event source: k8s_audit", func(e *Event) string { return e.Source })

	// jevt.* and json.*: Falco's json plugin over the record.
	for _, p := range []string{"jevt", "json"} {
		ka.add(p+".value", TypeString, ArgKey, "a value of the record by JSON pointer (RFC 6901): "+p+".value[/requestObject/spec/hostNetwork]; a string as is, anything else as compact JSON", buildJSONValue)
		ka.optStr(p+".obj", "the whole record as indented JSON", jsonObj)
		ka.add(p+".rawtime", TypeInt, ArgNone, "the record's stageTimestamp, nanoseconds since the epoch", func(string, bool) (accessor, error) {
			return accessor{typ: TypeInt, num: auditTime}, nil
		})
	}
	ka.add("jevt.time", TypeTime, ArgNone, "the record's stageTimestamp; compares as nanoseconds since the epoch, prints with nanoseconds", func(string, bool) (accessor, error) {
		return accessor{typ: TypeTime, num: auditTime}, nil
	})

	// ka.*: the record.
	ann := func(key string) func(*auditv1.Event) string {
		return func(r *auditv1.Event) string { return r.Annotations[key] }
	}
	kaStr(ka, "ka.auditid", "the unique id of the audit record", func(r *auditv1.Event) string { return string(r.AuditID) })
	kaStr(ka, "ka.stage", "the stage of the request: RequestReceived, ResponseStarted, ResponseComplete, Panic", func(r *auditv1.Event) string { return string(r.Stage) })
	kaStr(ka, "ka.auth.decision", "the authorization decision (annotation authorization.k8s.io/decision): allow, forbid", ann("authorization.k8s.io/decision"))
	kaStr(ka, "ka.auth.reason", "the authorization reason (annotation authorization.k8s.io/reason)", ann("authorization.k8s.io/reason"))
	kaStr(ka, "ka.auth.openshift.decision", "the OpenShift authentication decision (annotation authentication.openshift.io/decision)", ann("authentication.openshift.io/decision"))
	kaStr(ka, "ka.auth.openshift.username", "the OpenShift user name (annotation authentication.openshift.io/username)", ann("authentication.openshift.io/username"))
	kaStr(ka, "ka.validations.admission.policy.failure", "the ValidatingAdmissionPolicy failure (annotation validation.policy.admission.k8s.io/validation_failure)", ann("validation.policy.admission.k8s.io/validation_failure"))
	kaStr(ka, "ka.security.pod.violations", "the pod security violations (annotation pod-security.kubernetes.io/audit-violations)", ann("pod-security.kubernetes.io/audit-violations"))
	kaStr(ka, "ka.cluster.name", "the cluster name (annotation cluster_name)", ann("cluster_name"))
	kaStr(ka, "ka.user.name", "the user who made the request", func(r *auditv1.Event) string { return r.User.Username })
	ka.add("ka.user.groups", TypeList, ArgNone, "the groups of the user who made the request", func(string, bool) (accessor, error) {
		return accessor{typ: TypeList, list: func(e *Event) []string { return e.Audit.rec().User.Groups }}, nil
	})
	kaStr(ka, "ka.impuser.name", "the impersonated user name", func(r *auditv1.Event) string {
		if r.ImpersonatedUser == nil {
			return ""
		}
		return r.ImpersonatedUser.Username
	})
	kaStr(ka, "ka.verb", "the request verb: get, list, watch, create, update, patch, delete ...", func(r *auditv1.Event) string { return r.Verb })
	kaStr(ka, "ka.uri", "the request URI as the client sent it", func(r *auditv1.Event) string { return r.RequestURI })
	ka.add("ka.uri.param", TypeString, ArgKey, "the first value of a query parameter of the URI: ka.uri.param[command]", func(key string, _ bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			uri := e.Audit.rec().RequestURI
			i := strings.IndexByte(uri, '?')
			if i < 0 {
				return "", false
			}
			q, err := url.ParseQuery(uri[i+1:])
			if err != nil {
				return "", false
			}
			v, ok := q[key]
			if !ok || len(v) == 0 {
				return "", false
			}
			return v[0], true
		}}, nil
	})
	ref := func(f func(*auditv1.ObjectReference) string) func(*auditv1.Event) string {
		return func(r *auditv1.Event) string {
			if r.ObjectRef == nil {
				return ""
			}
			return f(r.ObjectRef)
		}
	}
	kaStr(ka, "ka.target.name", "the target object's name", ref(func(o *auditv1.ObjectReference) string { return o.Name }))
	kaStr(ka, "ka.target.namespace", "the target object's namespace", ref(func(o *auditv1.ObjectReference) string { return o.Namespace }))
	kaStr(ka, "ka.target.resource", "the target resource: pods, secrets, clusterroles ...", ref(func(o *auditv1.ObjectReference) string { return o.Resource }))
	kaStr(ka, "ka.target.subresource", "the target subresource: exec, attach, portforward, ephemeralcontainers, status ...", ref(func(o *auditv1.ObjectReference) string { return o.Subresource }))
	ka.add("ka.target.pod.name", TypeString, ArgNone, "for a request on pods (no subresource), the pod's name from the response object", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			o := e.Audit.rec().ObjectRef
			if o == nil || o.Resource != "pods" || o.Subresource != "" {
				return "", false
			}
			v, ok := jsonValues(e.Audit.response(), 0, "metadata", "name")
			if !ok {
				return "", false
			}
			return jsonString(v[0])
		}}, nil
	})
	ka.add("ka.resp.name", TypeString, ArgNone, "the response object's name (needs level RequestResponse)", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			v, ok := jsonValues(e.Audit.response(), 0, "metadata", "name")
			if !ok {
				return "", false
			}
			return jsonString(v[0])
		}}, nil
	})
	ka.add("ka.response.code", TypeString, ArgNone, "the response's HTTP status code, as a string: 200, 403 ...", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			s := e.Audit.rec().ResponseStatus
			if s == nil {
				return "", false
			}
			return strconv.Itoa(int(s.Code)), true
		}}, nil
	})
	kaStr(ka, "ka.response.reason", "the response's reason (usually only on failures): Forbidden, NotFound ...", func(r *auditv1.Event) string {
		if r.ResponseStatus == nil {
			return ""
		}
		return string(r.ResponseStatus.Reason)
	})
	kaStr(ka, "ka.useragent", "the user agent of the client", func(r *auditv1.Event) string { return r.UserAgent })
	kaList(ka, "ka.sourceips", "the IP addresses the request came from (with [n], one of them)", func(a *AuditInfo, idx int) []string {
		ips := a.rec().SourceIPs
		if idx >= 0 {
			if idx >= len(ips) {
				return nil
			}
			return ips[idx : idx+1]
		}
		return ips
	})

	// ka.req.*: the request object (needs level Request or RequestResponse).
	kaReqArray(ka, "ka.req.binding.subjects", "when the request object is a (cluster) role binding: its subjects, each as JSON", "subjects")
	for _, s := range []struct{ name, kind, label string }{
		{"user_names", "User", "user"},
		{"serviceaccount_names", "ServiceAccount", "service account"},
		{"group_names", "Group", "group"},
	} {
		kind := s.kind
		ka.add("ka.req.binding.subjects."+s.name, TypeList, ArgNone, "when the request object is a (cluster) role binding: the "+s.label+" names it binds", func(string, bool) (accessor, error) {
			return accessor{typ: TypeList, list: func(e *Event) []string { return subjectNames(&e.Audit, kind, false) }}, nil
		})
	}
	ka.add("ka.req.binding.subjects.serviceaccount_ns_names", TypeList, ArgNone, "when the request object is a (cluster) role binding: the service accounts it binds, as namespace:name", func(string, bool) (accessor, error) {
		return accessor{typ: TypeList, list: func(e *Event) []string { return subjectNames(&e.Audit, "ServiceAccount", true) }}, nil
	})
	kaReq(ka, "ka.req.binding.role", "when the request object is a (cluster) role binding: the role it binds (roleRef.name)", "roleRef", "name")
	ka.add("ka.req.binding.subject.has_name", TypeString, ArgKey, "deprecated; always true, as in Falco's plugin", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(*Event) (string, bool) { return "true", true }}, nil
	})
	kaStr(ka, "ka.req.configmap.name", "when the request object is a configmap: its name (the target's name)", ref(func(o *auditv1.ObjectReference) string { return o.Name }))
	kaReq(ka, "ka.req.configmap.obj", "when the request object is a configmap: its data, as JSON", "data")
	containerList(ka, "containers", "containers", true)
	containerList(ka, "initContainers", "init containers", true)
	containerList(ka, "ephemeralContainers", "ephemeral containers", false)
	firstImage := func(e *Event) []string {
		v, ok := jsonValues(e.Audit.request(), 0, "spec", "containers", "image")
		if !ok {
			return nil
		}
		return jsonStringsStrict(v)
	}
	ka.add("ka.req.container.image", TypeString, ArgNone, "deprecated by ka.req.pod.containers.image: the first container's image", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			if im := firstImage(e); len(im) > 0 {
				return im[0], true
			}
			return "", false
		}}, nil
	})
	ka.add("ka.req.container.image.repository", TypeString, ArgNone, "deprecated by ka.req.pod.containers.image.repository: the first container's image repository", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			if im := firstImage(e); len(im) > 0 {
				return imageRepository(im[0]), true
			}
			return "", false
		}}, nil
	})
	ka.add("ka.req.container.privileged", TypeString, ArgNone, "deprecated by ka.req.pod.containers.privileged: true if any container is privileged", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			v, ok := jsonValues(e.Audit.request(), -1, "spec", "containers", "securityContext", "privileged")
			if !ok {
				return "", false
			}
			for _, x := range v {
				if b, _ := x.(bool); b {
					return "true", true
				}
			}
			return "false", true
		}}, nil
	})
	kaReq(ka, "ka.req.pod.host_ipc", "when the request object is a pod: its hostIPC flag", "spec", "hostIPC")
	kaReq(ka, "ka.req.pod.host_network", "when the request object is a pod: its hostNetwork flag", "spec", "hostNetwork")
	kaReq(ka, "ka.req.container.host_network", "deprecated alias of ka.req.pod.host_network", "spec", "hostNetwork")
	kaReq(ka, "ka.req.pod.host_pid", "when the request object is a pod: its hostPID flag", "spec", "hostPID")
	kaReq(ka, "ka.req.pod.run_as_user", "when the request object is a pod: the pod's securityContext.runAsUser", "spec", "securityContext", "runAsUser")
	kaReq(ka, "ka.req.pod.run_as_group", "when the request object is a pod: the pod's securityContext.runAsGroup", "spec", "securityContext", "runAsGroup")
	kaReq(ka, "ka.req.pod.fs_group", "when the request object is a pod: the pod's securityContext.fsGroup", "spec", "securityContext", "fsGroup")
	kaReqArray(ka, "ka.req.pod.supplemental_groups", "when the request object is a pod: the pod's securityContext.supplementalGroups", "spec", "securityContext", "supplementalGroups")
	kaReqArray(ka, "ka.req.role.rules", "when the request object is a role or cluster role: its rules, each as JSON", "rules")
	kaRulesList(ka, "ka.req.role.rules.apiGroups", "when the request object is a role or cluster role: the API groups of its rules", "apiGroups")
	kaRulesList(ka, "ka.req.role.rules.nonResourceURLs", "when the request object is a role or cluster role: the non-resource URLs of its rules", "nonResourceURLs")
	kaRulesList(ka, "ka.req.role.rules.verbs", "when the request object is a role or cluster role: the verbs of its rules", "verbs")
	kaRulesList(ka, "ka.req.role.rules.resources", "when the request object is a role or cluster role: the resources of its rules", "resources")
	kaReq(ka, "ka.req.service.type", "when the request object is a service: its type (ClusterIP, NodePort, LoadBalancer ...)", "spec", "type")
	kaReqList(ka, "ka.req.service.ports", "when the request object is a service: its ports, each as JSON", false, "spec", "ports")
	kaReqList(ka, "ka.req.pod.volumes.hostpath", "when the request object is a pod: the hostPath paths of its volumes", false, "spec", "volumes", "hostPath", "path")
	ka.add("ka.req.volume.hostpath", TypeString, ArgKey, "deprecated by ka.req.pod.volumes.hostpath: \"true\" if a hostPath volume has this path (a trailing * matches a prefix)", func(arg string, _ bool) (accessor, error) {
		prefix, isPrefix := strings.CutSuffix(arg, "*")
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			v, ok := jsonValues(e.Audit.request(), -1, "spec", "volumes", "hostPath", "path")
			if !ok {
				return "", false
			}
			for _, p := range jsonStrings(v) {
				if isPrefix && strings.HasPrefix(p, prefix) || p == arg {
					return "true", true
				}
			}
			return "false", true
		}}, nil
	})
	kaReqList(ka, "ka.req.pod.volumes.flexvolume_driver", "when the request object is a pod: the flexVolume drivers of its volumes", false, "spec", "volumes", "flexVolume", "driver")
	kaList(ka, "ka.req.pod.volumes.volume_type", "when the request object is a pod: the type of each volume (hostPath, configMap, emptyDir ...)", func(a *AuditInfo, idx int) []string {
		v, ok := jsonValues(a.request(), idx, "spec", "volumes", "")
		if !ok {
			return nil
		}
		var out []string
		for _, x := range v {
			m, _ := x.(map[string]any)
			for k := range m {
				if k != "name" {
					out = append(out, k)
				}
			}
		}
		sort.Strings(out) // a map has no order; Falco's follows the JSON
		return out
	})
}
