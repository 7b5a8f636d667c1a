package detector

import (
	"reflect"
	"testing"
	"time"
)

func TestOutputFormat(t *testing.T) {
	ev := Event{Type: "openat", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Args: []Arg{{"flags", "O_RDONLY"}},
		Proc: ProcInfo{Name: "cat", TTY: 0, Ancestors: []Ancestor{{Name: "bash"}}}, Fd: FdInfo{Name: "/etc/passwd"}, InProfile: true,
		K8s: K8sInfo{Labels: []string{"a:b", "c:d"}}}
	ev.Normalize()
	for _, tc := range []struct {
		name, format, text string
		fields             map[string]any
	}{
		{"plain", "%proc.name read %fd.name.", "cat read /etc/passwd.", map[string]any{"proc.name": "cat", "fd.name": "/etc/passwd"}},
		{"arg forms", "f=%evt.arg.flags g=%proc.aname[1] h=%evt.arg[flags]", "f=O_RDONLY g=bash h=O_RDONLY",
			map[string]any{"evt.arg.flags": "O_RDONLY", "proc.aname[1]": "bash", "evt.arg[flags]": "O_RDONLY"}},
		{"types", "%proc.tty %sysward.in_profile %evt.time %k8s.pod.labels", "0 true 03:04:05.000000006 a:b, c:d",
			map[string]any{"proc.tty": int64(0), "sysward.in_profile": true, "evt.time": ev.Time.UnixNano(), "k8s.pod.labels": "a:b, c:d"}},
		{"absent and unknown", "%proc.aname[3] %fd.nosuch %container.start_ts", "<NA> <NA> <NA>",
			map[string]any{"proc.aname[3]": nil, "fd.nosuch": nil, "container.start_ts": nil}},
		{"not fields", "100% sure, %s and %", "100% sure, %s and %", map[string]any{}},
		{"parenthesized", "(%(proc.name))", "(cat)", map[string]any{"proc.name": "cat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := compileOutput(registries[srcSyscall], tc.format)
			text, fields := o.render(&ev)
			if text != tc.text || !reflect.DeepEqual(fields, tc.fields) {
				t.Errorf("got %q %v\nwant %q %v", text, fields, tc.text, tc.fields)
			}
		})
	}
}
