// Package audit is sysward's second event source: the Kubernetes API
// server's audit records (source k8s_audit), received the two ways the
// apiserver emits them and decoded with the apiserver's own types
// (k8s.io/apiserver/pkg/apis/audit/v1), never hand-written structs.
//
//   - Webhook receives the webhook backend (--audit-webhook-config-file):
//     HTTPS POSTs of audit.k8s.io/v1 EventList. The handler decodes, queues
//     and answers; the caller takes batches with Next, from one goroutine,
//     and runs the rules. Serve until ctx ends or Close; queued batches stay
//     available to Next after. Body size, events per batch and queued events
//     are bounded; every refusal is a 4xx and a counter (Stats): 400
//     malformed or wrong apiVersion/kind, 401/403 client certificate or
//     bearer token, 405, 413, and 429 when the queue is full (the apiserver
//     retries; the events count as dropped).
//   - Follow reads the log backend (--audit-log-path, JSON lines) through
//     rename + create and copytruncate rotation; FollowEvents decodes each
//     line. It polls (no inotify), holds one open file and one line buffer
//     of at most MaxLine bytes, and refuses non-regular files.
//
// DecodeEventList and DecodeEvent turn records into detector.Events whose
// fields (ka.*, jevt.*) are Falco's k8saudit and json plugin fields; an
// Event holds its record's bytes (jevt.obj), so callers hand over a buffer
// they will not reuse. Errors wrap ErrMalformed, ErrAPIVersion or ErrTooMany.
//
// Correlator joins the two sources in the node agent (internal/watch
// AuditInput): an exec, attach, port-forward or ephemeral container into a
// pod followed within a window by a call outside the pod's profile is one
// alert. It accepts the two in either order (the webhook's batching delivers
// the record late) and bounds its memory by pods and calls per pod.
//
// deploy/audit holds the audit policy those rules need and the webhook
// kubeconfig; testdata/falco holds Falco's k8s_audit_rules.yaml
// (Apache-2.0), which the tests load.
package audit
