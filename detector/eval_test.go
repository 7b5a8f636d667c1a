package detector

import (
	"fmt"
	"testing"
	"time"
)

// sample is the event the operator table evaluates against.
func sample() Event {
	ev := Event{
		Type: "openat", Time: time.Unix(1700000000, 5), Num: 7, Res: -2,
		Args: []Arg{{"fd", "-2"}, {"name", "/etc/Shadow"}, {"flags", "O_RDWR|O_CREAT"}},
		Proc: ProcInfo{PID: 42, PPID: 41, Name: "python3", Exe: "python3", ExePath: "/usr/bin/python3", Args: "-c x",
			Cwd: "/tmp", TTY: 34816, Ancestors: []Ancestor{{Name: "bash", Cmdline: "bash -i"}, {Name: "sshd"}, {Name: "systemd"}}},
		User:      UserInfo{UID: 1000, Name: "alice", LoginUID: 1000},
		Fd:        FdInfo{Num: -1, Name: "/etc/Shadow", Type: "file"},
		Container: ContainerInfo{ID: "3ad7b26ded6d", Image: "quay.io/acme/app:1.2"},
		K8s:       K8sInfo{Namespace: "prod", Labels: []string{"tier:front", "app:web"}}, // k8s.pod.labels sorts them
		Workload:  "prod/web", InProfile: false, Denied: true, Errno: 1, Action: "errno",
	}
	ev.Fd.CIP, ev.Fd.SIP = "10.1.2.3", "192.168.0.9"
	ev.Fd.CPort, ev.Fd.SPort = 40000, 443
	ev.Proc.StartTime = ev.Time.Add(-2 * time.Second)
	ev.Normalize()
	return ev
}

func TestEvaluate(t *testing.T) {
	big := "("
	for i := 0; i < 100; i++ {
		big += fmt.Sprintf("n%d, ", i)
	}
	big += "python3)"
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{"evt.type = openat", true},
		{"evt.type != openat", false},
		{"evt.type in (open, openat)", true},
		{"evt.res = ENOENT", true},
		{"evt.rawres < 0", true},
		{"evt.num = 7", true},
		{"evt.time > 1700000000000000000", true},
		{"evt.arg.name = /etc/Shadow", true},
		{"evt.arg[1] = /etc/Shadow", true},
		{"evt.arg[flags] contains O_CREAT", true},
		{"evt.arg.nosuch exists", false},
		{"evt.arg.nosuch != x", false}, // absent: every comparison is false
		{"not evt.arg.nosuch = x", true},
		{"evt.is_open_write = true", true},
		{"evt.is_open_read = true", true},
		{"evt.args contains 'flags=O_RDWR'", true},
		{"proc.name in " + big, true},
		{"proc.name in (n1, n2)", false},
		{"proc.pname = bash", true},
		{"proc.aname[2] = sshd", true},
		{"proc.aname[3] = systemd", true},
		{"proc.aname[4] exists", false},
		{"proc.aname[0] = python3", true},
		{"proc.aname = sshd", true},
		{"proc.aname in (systemd, init)", true},
		{"proc.aname = cron", false},
		{"proc.pcmdline startswith 'bash -'", true},
		{"proc.cmdline = 'python3 -c x'", true},
		{"proc.tty != 0", true},
		{"proc.pid >= 42 and proc.ppid <= 41", true},
		{"proc.pid in (1, 42)", true},
		{"proc.pid = 0x2a", true},
		{"proc.exepath glob '/usr/*/py*'", true},
		{"proc.exepath glob '/usr/[a-c]in/python?'", true},
		{"proc.exepath glob '/usr/[!b]in/*'", false},
		{"fd.name iglob '/etc/sh*'", true},
		{"fd.name glob '/etc/sh*'", false},
		{"fd.name icontains shadow", true},
		{"fd.name contains shadow", false},
		{"fd.name pmatch (/etc, /usr/lib)", true},
		{"fd.name pmatch (/et)", false},
		{"fd.name endswith adow", true},
		{"fd.name regex '^/etc/[A-Z]'", true},
		{"fd.name bcontains 2f657463", true}, // "/etc"
		{"fd.name bstartswith 2f75", false},
		{"fd.directory = /etc and fd.filename = Shadow", true},
		{"fd.typechar = f and fd.num = -1", true},
		{"container.id != host and container.image.repository = quay.io/acme/app and container.image.tag = 1.2", true},
		// k8s.pod.labels is one string, as in Falco
		{"k8s.pod.labels = 'app:web, tier:front'", true},
		{"k8s.pod.labels contains 'tier:front'", true},
		{"k8s.pod.labels intersects (app:web, x)", false},
		{"k8s.pod.labels in (app:web)", false},
		{"k8s.pod.label[tier] = front and k8s.pod.label.app = web", true},
		{"k8s.ns.name = prod and k8s.pod.name exists", false},
		{"user.uid = 1000 and user.name = alice and user.loginuid != -1", true},
		{"sysward.denied = true and sysward.in_profile = false and sysward.errno = 1 and sysward.action = errno", true},
		{"sysward.workload = prod/web", true},
		{"tolower(fd.name) = /etc/shadow", true},
		{"toupper(proc.name) = PYTHON3", true},
		{"basename(proc.exepath) = python3", true},
		{"len(proc.name) = 7", true},
		{"len(k8s.pod.labels) = 19", true},
		{"b64(proc.env) exists", true},
		{"proc.name = val(proc.exe)", true},
		{"proc.name != val(proc.pname)", true},
		{"fd.name startswith val(proc.cwd)", false},
		{"proc.pid > val(proc.ppid)", true},
		{"not (proc.name = python3 or proc.name = bash)", false},
		{"proc.name = python3 and not proc.pname = sshd", true},
		{"fd.ip = 10.1.2.3", true},
		{"fd.ip = 192.168.0.9", true},
		{"fd.ip != 10.1.2.3", true}, // the other end differs
		{"fd.net = 10.0.0.0/8", true},
		{"fd.net != 127.0.0.0/8", true},
		{"fd.snet in (10.0.0.0/8, 172.16.0.0/12)", false},
		{"fd.snet = 192.168.0.0/16 and fd.cnet = 10.1.2.3", true},
		{"proc.duration > 1000000000 and proc.duration < 3000000000", true},
		{"fd.port = 443", true},
		{"fd.port in (53, 40000)", true},
		{"fd.port > 50000", false},
		{"fd.sockfamily = ip", false}, // a file
	} {
		t.Run(tc.cond, func(t *testing.T) {
			rs, err := LoadRulesFiles(RulesFile{Name: "t.yaml", Data: []byte(fmt.Sprintf(
				"- rule: r\n  desc: d\n  condition: %q\n  output: o\n  priority: INFO\n  warn_evttypes: false\n", tc.cond))})
			if err != nil {
				t.Fatal(err)
			}
			if r := rs.Rules[0]; !r.Compiled() {
				t.Fatalf("not compiled: %s", r.Skipped)
			}
			eng, _ := NewEngine(rs, nil)
			ev := sample()
			if got := eng.Process(&ev) == 1; got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEventTypeIndex(t *testing.T) {
	for _, tc := range []struct {
		cond string
		want []string // nil: every type
		all  bool
	}{
		{"evt.type = open", []string{"open"}, false},
		{"evt.type in (open, openat) and proc.name = x", []string{"open", "openat"}, false},
		{"evt.type = open or evt.type = execve", []string{"execve", "open"}, false},
		{"proc.name = x", nil, true},
		{"not proc.name = x", nil, true},
		{"not evt.type = open", nil, false},
		{"evt.type != open and evt.type in (open, read)", []string{"read"}, false},
		{"not (evt.type = open or evt.type = read) and evt.type in (open, write)", []string{"write"}, false},
		{"(evt.type = open and proc.name = a) or proc.name = b", nil, true},
		{"evt.num = 0", []string{}, false},
		{"evt.type = open and not evt.num = 0", []string{"open"}, false},
		{"not evt.num > 0", []string{}, false},
		{"evt.type = open and evt.type = close", []string{}, false},
	} {
		t.Run(tc.cond, func(t *testing.T) {
			rs, err := LoadRulesFiles(RulesFile{Name: "t.yaml", Data: []byte(fmt.Sprintf(
				"- rule: r\n  desc: d\n  condition: %q\n  output: o\n  priority: INFO\n", tc.cond))})
			if err != nil {
				t.Fatal(err)
			}
			r := rs.Rules[0]
			if fmt.Sprint(r.EventTypes) != fmt.Sprint(tc.want) || r.AllEventTypes != tc.all {
				t.Errorf("EventTypes %v all=%v, want %v all=%v", r.EventTypes, r.AllEventTypes, tc.want, tc.all)
			}
		})
	}
}

// TestNoAllocNonMatching: a non-matching event through the full stable
// ruleset allocates nothing (AllocsPerRun is a count, not a timing).
func TestNoAllocNonMatching(t *testing.T) {
	rs := loadStable(t)
	eng, err := NewEngine(rs, &EngineOptions{Matching: MatchAll, Sink: AlertFunc(func(*Alert) {})})
	if err != nil {
		t.Fatal(err)
	}
	evs := benignEvents()
	for i := range evs {
		ev := &evs[i]
		if n := eng.Process(ev); n != 0 {
			t.Fatalf("benign event %s %s matched %d rules", ev.Type, ev.Proc.Name, n)
		}
		if a := testing.AllocsPerRun(200, func() { eng.Process(ev) }); a != 0 {
			t.Errorf("%s by %s: %.1f allocations per event, want 0", ev.Type, ev.Proc.Name, a)
		}
	}
}

// benignEvents are a typical non-matching mix: file opens, reads, execs of
// ordinary programs, network calls, inside and outside containers.
func benignEvents() []Event {
	base := func(typ, name string) Event {
		return Event{Type: typ, Num: 1, Proc: ProcInfo{PID: 100, PPID: 1, Name: name, Exe: name, ExePath: "/usr/bin/" + name,
			Cwd: "/", Ancestors: []Ancestor{{Name: "containerd-shim"}, {Name: "systemd"}}},
			User: UserInfo{UID: 33, Name: "www-data", LoginUID: -1}, Workload: "prod/web", InProfile: true}
	}
	var out []Event
	e := base("openat", "nginx")
	e.Args = []Arg{{"fd", "5"}, {"name", "/var/www/index.html"}, {"flags", "O_RDONLY"}}
	e.Fd = FdInfo{Num: 5, Name: "/var/www/index.html", Type: "file"}
	e.Container = ContainerInfo{ID: "3ad7b26ded6d", Image: "nginx:1.25"}
	out = append(out, e)
	e = base("read", "nginx")
	e.Fd = FdInfo{Num: 5, Name: "/var/www/index.html", Type: "file"}
	out = append(out, e)
	e = base("execve", "ls")
	e.Proc.Args = "-l"
	e.Proc.Ancestors = []Ancestor{{Name: "bash"}, {Name: "sshd"}}
	e.User = UserInfo{UID: 1000, Name: "alice", LoginUID: 1000}
	out = append(out, e)
	e = base("connect", "curl")
	e.Fd = FdInfo{Num: 3, Name: "10.0.0.2:40000->10.0.0.3:443", Type: "ipv4", L4Proto: "tcp", RPort: 443, SIP: "10.0.0.3"}
	out = append(out, e)
	e = base("openat", "cat")
	e.Args = []Arg{{"fd", "3"}, {"name", "/etc/hostname"}, {"flags", "O_RDONLY|O_CLOEXEC"}}
	e.Fd = FdInfo{Num: 3, Name: "/etc/hostname", Type: "file"}
	out = append(out, e)
	e = base("write", "postgres")
	e.Container = ContainerInfo{ID: "9bc1f0e2aa01", Image: "postgres:16"}
	e.Fd = FdInfo{Num: 7, Name: "/var/lib/postgresql/data/base/1", Type: "file"}
	out = append(out, e)
	e = base("symlinkat", "ln")
	e.Args = []Arg{{"target", "/opt/app/current"}, {"linkpath", "/opt/app/v2"}}
	out = append(out, e)
	e = base("socket", "nginx")
	e.Args = []Arg{{"domain", "AF_INET"}, {"type", "SOCK_STREAM"}}
	out = append(out, e)
	for i := range out {
		out[i].Num = uint64(i + 1)
		out[i].Normalize()
	}
	return out
}

func TestOperatorModifiers(t *testing.T) {
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{"proc.name == oneof (python3, bash)", true},
		{"proc.name == oneof (python3, python3)", false},
		{"proc.name == anyof (bash, python3)", true},
		{"proc.name == allof (python3, python3)", true},
		{"proc.name == allof (python3, bash)", false},
		{"proc.name != oneof (python3, python3, bash)", true},
		{"proc.name startswith anyof (py, ba)", true},
		{"proc.pid = allof (42, 0x2a)", true},
		{"proc.pname == oneof and proc.name == anyof (python3)", false}, // "oneof" is a plain value here
	} {
		t.Run(tc.cond, func(t *testing.T) {
			rs, err := LoadRulesFiles(RulesFile{Name: "t.yaml", Data: []byte(fmt.Sprintf(
				"- rule: r\n  desc: d\n  condition: %q\n  output: o\n  priority: INFO\n  warn_evttypes: false\n", tc.cond))})
			if err != nil {
				t.Fatal(err)
			}
			eng, _ := NewEngine(rs, nil)
			ev := sample()
			if got := eng.Process(&ev) == 1; got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
