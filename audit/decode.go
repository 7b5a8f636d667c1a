package audit

import (
	"encoding/json"
	"errors"
	"fmt"

	jsoniter "github.com/json-iterator/go"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/sysward/sysward/detector"
)

// APIVersion is the only audit API version sysward decodes: the one every
// supported kube-apiserver writes (audit.k8s.io/v1beta1 was removed in 1.24).
const APIVersion = "audit.k8s.io/v1"

// Errors of decoding, each answered by the webhook with its own 4xx.
var (
	ErrMalformed  = errors.New("malformed audit JSON")
	ErrAPIVersion = errors.New("unsupported audit apiVersion or kind")
	ErrTooMany    = errors.New("too many events in one batch")
)

// DecodeEventList decodes a webhook request body: an audit.k8s.io/v1
// EventList (what --audit-webhook-config-file posts) with at most maxEvents
// items (0: no limit). Each item becomes a k8s_audit detector.Event.
func DecodeEventList(body []byte, maxEvents int) ([]detector.Event, error) {
	var list struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := jsonAPI.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, stdError(body, &list, err))
	}
	if list.APIVersion != APIVersion || list.Kind != "EventList" {
		return nil, fmt.Errorf("%w: got apiVersion %q kind %q, want %s EventList", ErrAPIVersion, list.APIVersion, list.Kind, APIVersion)
	}
	if maxEvents > 0 && len(list.Items) > maxEvents {
		return nil, fmt.Errorf("%w: %d events, at most %d", ErrTooMany, len(list.Items), maxEvents)
	}
	out := make([]detector.Event, len(list.Items))
	for i, raw := range list.Items {
		if err := decodeItem(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	return out, nil
}

// DecodeEvent decodes one audit.k8s.io/v1 Event: a line of the log backend
// (--audit-log-path, format json). line is kept by the event (jevt.obj),
// so the caller must not reuse it.
func DecodeEvent(line []byte) (detector.Event, error) {
	var ev detector.Event
	rec, err := unmarshalEvent(line)
	if err != nil {
		return ev, err
	}
	if rec.APIVersion != APIVersion || rec.Kind != "Event" {
		return ev, fmt.Errorf("%w: got apiVersion %q kind %q, want %s Event", ErrAPIVersion, rec.APIVersion, rec.Kind, APIVersion)
	}
	return ev, checkAndSet(rec, line, &ev)
}

// jsonAPI decodes into the apiserver's types like encoding/json (their
// UnmarshalJSON methods included: MicroTime, runtime.Unknown) at a
// fraction of the cost: decoding is most of an audit record's cost.
var jsonAPI = jsoniter.ConfigCompatibleWithStandardLibrary

func unmarshalEvent(raw []byte) (*auditv1.Event, error) {
	rec := new(auditv1.Event)
	if err := jsonAPI.Unmarshal(raw, rec); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, stdError(raw, new(auditv1.Event), err))
	}
	return rec, nil
}

func decodeItem(raw []byte, ev *detector.Event) error {
	rec, err := unmarshalEvent(raw)
	if err != nil {
		return err
	}
	return checkAndSet(rec, raw, ev)
}

func checkAndSet(rec *auditv1.Event, raw []byte, ev *detector.Event) error {
	// The apiserver sets these on every record; without them no rule can
	// say what happened or when.
	switch {
	case rec.AuditID == "":
		return fmt.Errorf("%w: no auditID", ErrMalformed)
	case rec.Stage == "":
		return fmt.Errorf("%w: no stage", ErrMalformed)
	case rec.StageTimestamp.IsZero():
		return fmt.Errorf("%w: no stageTimestamp", ErrMalformed)
	}
	ev.SetAudit(rec, raw)
	ev.Normalize()
	return nil
}

// stdError is encoding/json's account of bad input (offset, type and
// field named), clearer than json-iterator's; decoding bad input twice
// costs only the sender of bad input.
func stdError(raw []byte, v any, fast error) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return err
	}
	return fast
}
