package watch

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sysward/sysward/detector/output"
)

// Summary is what a watch session saw, written when it ends.
type Summary struct {
	Workload string    `json:"workload"`
	Profile  string    `json:"profile"`
	Mode     string    `json:"mode"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	// Deviations is every syscall outside the profile that the workload
	// made, read from the kernel's per-cgroup deviation bitmap: complete
	// even when events were dropped.
	Deviations []Deviation `json:"deviations"`
	// Events counts kernel events received (deviations, denials, execs, exits).
	Events uint64 `json:"events"`
	// Calls and DeniedCalls are the kernel's own counts of calls outside the
	// profile (all of them, and those seccomp refused): complete, like the set.
	Calls       uint64 `json:"calls"`
	DeniedCalls uint64 `json:"denied_calls"`
	// Drops counts events the kernel could not queue (ring buffer full).
	Drops uint64 `json:"drops"`
	// Alerts counts, per rule, the occurrences alerts were raised for,
	// before deduplication: an alert for repeats the kernel counted
	// counts them all.
	Alerts map[string]uint64 `json:"alerts"`
	// Printed is how many alerts the outputs were given: first
	// occurrences, repeat summaries, and sysward's own alerts.
	Printed uint64 `json:"printed"`
	// OutputDrops counts alerts an output did not deliver: its queue was
	// full, its retries ran out (an unreachable HTTP endpoint), or the
	// flush deadline passed at the end. Counted per output.
	OutputDrops uint64 `json:"output_drops,omitempty"`
	// OutputErrors counts failed delivery attempts (each retry counts).
	OutputErrors uint64 `json:"output_errors,omitempty"`
	// DeliveryError is what closing the outputs reported, if anything.
	DeliveryError string `json:"delivery_error,omitempty"`
	// RecordDrops counts events left out of the --record file, which was
	// full (--record-max-mib).
	RecordDrops uint64 `json:"record_drops,omitempty"`
}

// Undelivered reports whether some alert did not reach every output.
func (s *Summary) Undelivered() bool { return s.OutputDrops > 0 || s.DeliveryError != "" }

// Deviation is one syscall outside the profile.
type Deviation struct {
	Syscall string `json:"syscall"`
	// Events is how many events for it reached user space (0 when every
	// one was dropped: the bitmap still knows).
	Events uint64 `json:"events"`
	// Denied counts the calls seccomp refused.
	Denied uint64 `json:"denied"`
	// Killed counts processes seccomp killed for this syscall (SIGSYS). A
	// killed call never reaches sys_exit, so it is known from the exit
	// event only, not from the bitmap.
	Killed uint64 `json:"killed,omitempty"`
}

// setAlertCounts takes Printed and Alerts from the dispatcher, once it is
// closed (its dedup summaries delivered): what was printed and what the
// alerts stand for. sysward's own alerts (kernel drops) are printed and
// counted too.
func (s *Summary) setAlertCounts(d *output.Dispatcher) {
	printed, counted := d.Counts()
	s.Printed = printed
	s.Alerts = counted
}

// TotalAlerts sums Alerts.
func (s *Summary) TotalAlerts() uint64 {
	var n uint64
	for _, v := range s.Alerts {
		n += v
	}
	return n
}

// Syscalls returns the deviating syscall names, sorted.
func (s *Summary) Syscalls() []string {
	out := make([]string, len(s.Deviations))
	for i, d := range s.Deviations {
		out[i] = d.Syscall
	}
	sort.Strings(out)
	return out
}

// WriteText writes the summary for people.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sysward watch summary: workload %s, profile %s, mode %s, %s\n",
		s.Workload, s.Profile, s.Mode, s.Ended.Sub(s.Started).Round(time.Millisecond))
	if len(s.Deviations) == 0 {
		fmt.Fprintf(&b, "  no syscall outside the profile\n")
	} else {
		fmt.Fprintf(&b, "  %d syscall(s) outside the profile (kernel bitmap, complete):\n", len(s.Deviations))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "    SYSCALL\tEVENTS\tDENIED\n")
		for _, d := range s.Deviations {
			ev := fmt.Sprint(d.Events)
			if d.Events == 0 && d.Killed == 0 {
				ev = "0 (all dropped)"
			}
			denied := fmt.Sprint(d.Denied)
			if d.Killed > 0 {
				denied += fmt.Sprintf(" (%d killed)", d.Killed)
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", d.Syscall, ev, denied)
		}
		tw.Flush()
	}
	rules := make([]string, 0, len(s.Alerts))
	for r := range s.Alerts {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	fmt.Fprintf(&b, "  calls outside the profile %d (denied %d), events %d, kernel drops %d, alerts to outputs %d, counted %d",
		s.Calls, s.DeniedCalls, s.Events, s.Drops, s.Printed, s.TotalAlerts())
	if s.OutputDrops > 0 {
		fmt.Fprintf(&b, ", output drops %d", s.OutputDrops)
	}
	if s.RecordDrops > 0 {
		fmt.Fprintf(&b, ", not recorded %d (--record file full)", s.RecordDrops)
	}
	b.WriteString("\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "    %6d  %s\n", s.Alerts[r], r)
	}
	if s.Undelivered() {
		fmt.Fprintf(&b, "  ALERTS NOT DELIVERED: %d dropped by the outputs, %d failed delivery attempts", s.OutputDrops, s.OutputErrors)
		if s.DeliveryError != "" {
			fmt.Fprintf(&b, "; %s", s.DeliveryError)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the summary as one JSON line.
func (s *Summary) WriteJSON(w io.Writer) error {
	type alias Summary
	v := struct {
		Summary *alias `json:"summary"`
	}{(*alias)(s)}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
