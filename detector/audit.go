package detector

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	jsoniter "github.com/json-iterator/go"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// AuditInfo is one Kubernetes audit record (source k8s_audit): the
// apiserver's own audit.k8s.io/v1 Event, and the JSON it arrived as, which
// jevt.value and jevt.obj read as Falco's json plugin does. Its JSON form
// (in an events file) is the audit event itself.
//
// The fields that look inside the request or response object (ka.req.*,
// ka.resp.name, jevt.value[/requestObject/...]) parse that object on first
// use and keep it: an AuditInfo belongs to one goroutine while rules run on
// it, and a producer builds a fresh one per record (SetAudit).
type AuditInfo struct {
	Event *auditv1.Event
	// Raw is the record's JSON as received; nil means jevt.obj and
	// jevt.value marshal Event instead.
	Raw []byte

	cache *auditCache
}

type auditCache struct {
	req, resp, whole          any
	reqDone, respDone, wholeD bool
	// strs keeps string fields rendered from the objects (a configmap's
	// data is read by six checks of one rule): key is the field's own.
	strs map[*fieldMemo]memoVal
}

// fieldMemo identifies one compiled string field for the per-record memo.
type fieldMemo struct{ _ byte }

type memoVal struct {
	s  string
	ok bool
}

// memo returns f's value for this record, computing it once.
func (a *AuditInfo) memo(key *fieldMemo, f func() (string, bool)) (string, bool) {
	c := a.c()
	if v, ok := c.strs[key]; ok {
		return v.s, v.ok
	}
	s, ok := f()
	if c.strs == nil {
		c.strs = make(map[*fieldMemo]memoVal, 4)
	}
	c.strs[key] = memoVal{s, ok}
	return s, ok
}

// SetAudit makes ev a k8s_audit event for the audit record rec (raw is its
// JSON, or nil): source, time (the record's stageTimestamp, else its
// requestReceivedTimestamp) and the record itself.
func (ev *Event) SetAudit(rec *auditv1.Event, raw []byte) {
	ev.Source = SourceK8sAudit
	ev.Audit = AuditInfo{Event: rec, Raw: raw}
	switch {
	case !rec.StageTimestamp.IsZero():
		ev.Time = rec.StageTimestamp.Time
	case !rec.RequestReceivedTimestamp.IsZero():
		ev.Time = rec.RequestReceivedTimestamp.Time
	}
}

// IsZero reports an AuditInfo without a record (every syscall event).
func (a AuditInfo) IsZero() bool { return a.Event == nil }

// MarshalJSON writes the audit record.
func (a AuditInfo) MarshalJSON() ([]byte, error) {
	if a.Raw != nil {
		return a.Raw, nil
	}
	if a.Event == nil {
		return []byte("null"), nil
	}
	return json.Marshal(a.Event)
}

// UnmarshalJSON reads an audit.k8s.io/v1 Event.
func (a *AuditInfo) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = AuditInfo{}
		return nil
	}
	var ev auditv1.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return err
	}
	*a = AuditInfo{Event: &ev, Raw: bytes.Clone(b)}
	return nil
}

var noAuditEvent auditv1.Event

// rec is the record, or an empty one: accessors never see nil.
func (a *AuditInfo) rec() *auditv1.Event {
	if a.Event == nil {
		return &noAuditEvent
	}
	return a.Event
}

func (a *AuditInfo) c() *auditCache {
	if a.cache == nil {
		a.cache = &auditCache{}
	}
	return a.cache
}

// request is the parsed requestObject (nil if the record has none, at
// Metadata level, or if it does not parse).
func (a *AuditInfo) request() any {
	c := a.c()
	if !c.reqDone {
		c.reqDone = true
		if o := a.rec().RequestObject; o != nil {
			c.req = parseJSON(o.Raw)
		}
	}
	return c.req
}

func (a *AuditInfo) response() any {
	c := a.c()
	if !c.respDone {
		c.respDone = true
		if o := a.rec().ResponseObject; o != nil {
			c.resp = parseJSON(o.Raw)
		}
	}
	return c.resp
}

// whole is the whole record as generic JSON.
func (a *AuditInfo) whole() any {
	c := a.c()
	if !c.wholeD {
		c.wholeD = true
		raw := a.Raw
		if raw == nil && a.Event != nil {
			raw, _ = json.Marshal(a.Event)
		}
		c.whole = parseJSON(raw)
	}
	return c.whole
}

// genericJSON decodes like encoding/json with UseNumber (numbers kept as
// written: 1000, not 1e+03), several times faster.
var genericJSON = jsoniter.Config{EscapeHTML: true, SortMapKeys: true, ValidateJsonRawMessage: true, UseNumber: true}.Froze()

// parseJSON decodes an object of the record.
func parseJSON(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if genericJSON.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
}

// absent stands for a key a list element lacks (Falco's nil entries, which
// most fields skip), as opposed to a JSON null.
type absent struct{}

// jsonValues walks keys from v as Falco's k8saudit plugin does
// (getValuesRecursive): an array on the way fans out to every element
// (idx < 0) or picks element idx; an empty key stays in place. ok is false
// when the path does not exist.
func jsonValues(v any, idx int, keys ...string) (vals []any, ok bool) {
	for i, k := range keys {
		if arr, isArr := v.([]any); isArr {
			if idx < 0 {
				res := make([]any, 0, len(arr))
				for _, el := range arr {
					sub, ok := jsonValues(el, idx, keys[i:]...)
					if !ok {
						res = append(res, absent{})
						continue
					}
					res = append(res, sub...)
				}
				return res, true
			}
			if idx >= len(arr) {
				return nil, false
			}
			v = arr[idx]
		}
		if k == "" {
			continue
		}
		m, isObj := v.(map[string]any)
		if !isObj {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return []any{v}, true
}

// jsonPointer resolves an RFC 6901 pointer ("/a/0/b") in v, as Falco's json
// plugin does: object keys, and array indexes.
func jsonPointer(v any, keys []string) (any, bool) {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= len(x) {
				return nil, false
			}
			v = x[n]
		default:
			return nil, false
		}
	}
	return v, true
}

// splitPointer turns "/a/b~1c" into ["a", "b/c"]; "" and "/" are the root.
func splitPointer(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	keys := strings.Split(p, "/")
	for i, k := range keys {
		keys[i] = strings.ReplaceAll(strings.ReplaceAll(k, "~1", "/"), "~0", "~")
	}
	return keys
}

// jsonString is a JSON value as Falco prints it: a string as is, anything
// else as compact JSON. ok is false for an absent entry.
func jsonString(v any) (string, bool) {
	switch x := v.(type) {
	case absent:
		return "", false
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "null", true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// jsonStrings renders values, skipping absent entries (arrayAsStringsSkipNil).
func jsonStrings(vals []any) []string {
	var out []string
	for _, v := range vals {
		if s, ok := jsonString(v); ok {
			out = append(out, s)
		}
	}
	return out
}

// jsonStringsStrict renders values; an absent entry makes the whole field
// absent (arrayAsStrings: names and images of every container or nothing).
func jsonStringsStrict(vals []any) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		s, ok := jsonString(v)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}
