package procinfo

import (
	"strings"
	"testing"
)

func TestParsePasswd(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[uint32]string
	}{
		{"debian", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", map[uint32]string{0: "root", 1: "daemon"}},
		{"group file", "root:x:0:\nadm:x:4:syslog,alice\n", map[uint32]string{0: "root", 4: "adm"}},
		{"first wins", "toor:x:0:0::/:/bin/sh\nroot:x:0:0::/:/bin/sh\n", map[uint32]string{0: "toor"}},
		{"comments and nis", "# users\n+::::::\n-bob\nbob:x:1000:1000::/home/bob:/bin/sh\n", map[uint32]string{1000: "bob"}},
		{"garbage", "nonsense\n::::\nx:x:notanumber:0::/:\ny:x:99999999999:0::/:\n", map[uint32]string{}},
		{"no trailing newline", "nobody:x:65534:65534::/:", map[uint32]string{65534: "nobody"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePasswd(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func FuzzParsePasswd(f *testing.F) {
	f.Add("root:x:0:0:root:/root:/bin/bash\n")
	f.Add("a:b:c:d\n:::\n#\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParsePasswd(strings.NewReader(in))
		if err != nil {
			return // only a line over 1 MiB
		}
		for _, name := range m {
			if name == "" || strings.Contains(name, ":") {
				t.Fatalf("bad name %q", name)
			}
		}
	})
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want stat
		err  bool
	}{
		{"plain", "42 (sleep) S 7 42 7 34816 42 4194304 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10", stat{comm: "sleep", state: 'S', ppid: 7, tty: 34816, start: 123456}, false},
		{"comm with spaces and parens", "9 (a) b (c) R 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0", stat{comm: "a) b (c", state: 'R', ppid: 1, start: 77}, false},
		{"truncated", "9 (x) R 1 2", stat{}, true},
		{"no comm", "9 x R", stat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add("42 (sleep) S 7 42 7 34816 42 4194304 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10")
	f.Add("1 ()) R")
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = parseStat([]byte(in))
	})
}
