package detector

import (
	"errors"
	"testing"
)

// TestExtraFields: ExtraFields land in output_fields of syscall alerts when
// the event has them, never change the output text or a field the rule
// itself prints, and an unknown name is refused.
func TestExtraFields(t *testing.T) {
	rs, err := LoadRulesFiles(RulesFile{Name: "t.yaml", Data: []byte(`
- rule: r
  desc: d
  condition: evt.type = mkdir
  output: "made %evt.type in %container.name"
  priority: WARNING
`)})
	if err != nil {
		t.Fatal(err)
	}
	var got []*Alert
	eng, err := NewEngine(rs, &EngineOptions{Sink: AlertFunc(func(a *Alert) { got = append(got, a) }),
		ExtraFields: []string{"k8s.ns.name", "k8s.pod.name", "k8s.pod.labels", "container.name"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := &Event{Type: "mkdir", Container: ContainerInfo{ID: "0123456789ab", Name: "web"},
		K8s: K8sInfo{Namespace: "shop", Pod: "web-1", Labels: []string{"app:web", "tier:front"}}}
	ev.Normalize()
	eng.Process(ev)
	plain := &Event{Type: "mkdir"}
	plain.Normalize()
	eng.Process(plain)
	if len(got) != 2 {
		t.Fatalf("%d alerts", len(got))
	}
	f := got[0].OutputFields
	if got[0].Output != "made mkdir in web" || f["k8s.ns.name"] != "shop" || f["k8s.pod.name"] != "web-1" ||
		f["k8s.pod.labels"] != "app:web, tier:front" || f["container.name"] != "web" || len(f) != 5 {
		t.Errorf("pod alert: %q %v", got[0].Output, f)
	}
	if _, ok := got[1].OutputFields["k8s.ns.name"]; ok || len(got[1].OutputFields) != 2 {
		t.Errorf("host alert has absent fields: %v", got[1].OutputFields)
	}
	if _, err := NewEngine(rs, &EngineOptions{ExtraFields: []string{"k8s.nope"}}); !errors.Is(err, ErrBadOption) {
		t.Errorf("unknown extra field: %v", err)
	}
}
