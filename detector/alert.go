package detector

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Priority is a Falco rule priority. Lower values are more severe, as in Falco.
type Priority int

// Falco's priorities, most severe first.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return fmt.Sprintf("Priority(%d)", int(p))
	}
	return priorityNames[p]
}

// ParsePriority accepts Falco's spellings, case-insensitively ("WARNING",
// "warning", "INFO", "informational", ...).
func ParsePriority(s string) (Priority, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "emergency":
		return PriorityEmergency, nil
	case "alert":
		return PriorityAlert, nil
	case "critical":
		return PriorityCritical, nil
	case "error":
		return PriorityError, nil
	case "warning":
		return PriorityWarning, nil
	case "notice":
		return PriorityNotice, nil
	case "informational", "info":
		return PriorityInformational, nil
	case "debug":
		return PriorityDebug, nil
	}
	return 0, fmt.Errorf("unknown priority %q", s)
}

// MarshalJSON writes the priority as Falco does ("Warning").
func (p Priority) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// UnmarshalJSON reads any spelling ParsePriority accepts.
func (p *Priority) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParsePriority(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Alert is one rule match, in the shape of Falco's JSON alert so that
// falcosidekick and anything else that reads Falco alerts takes it unchanged.
// Its JSON encoding (MarshalJSON, AppendJSON in alert_json.go) is Falco's,
// byte for byte. Output is the rule's output with fields substituted and
// WITHOUT Falco's "HH:MM:SS.nnnnnnnnn: Priority" prefix: AppendText and the
// JSON "output" member add it. OutputFields need not hold evt.time; the JSON
// encoding adds it from Time as Falco does. Once handed to an output
// (detector/output), an Alert is shared read-only: do not modify it.
type Alert struct {
	Time         time.Time      `json:"time"`
	Rule         string         `json:"rule"`
	Priority     Priority       `json:"priority"`
	Source       string         `json:"source"`
	Hostname     string         `json:"hostname"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Tags         []string       `json:"tags"`

	// Not part of Falco's schema (kept out of JSON): the event's workload
	// and syscall, so outputs can collapse repeated identical alerts.
	Workload string `json:"-"`
	Syscall  string `json:"-"`
	// Count is how many occurrences the alert stands for (the event's
	// Count; 0 means 1), so outputs count repeats truly.
	Count uint64 `json:"-"`
}

// Occurrences is a.Count, at least 1.
func (a *Alert) Occurrences() uint64 { return max(a.Count, 1) }
