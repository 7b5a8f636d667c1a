package elfhints

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// straceRows returns, for every function the probe marked, the syscalls
// strace saw it make (an empty set for none). It attributes the syscalls of an `strace -f -o FILE` log of
// testdata/libcprobe.c to the function whose markers surround them: a
// thread's or child's calls go to the function its parent was in when it
// cloned it, until the child marks @@X or exec's something else.
func straceRows(r io.Reader) (map[string]map[string]bool, error) {
	type line struct {
		pid              int
		name, rest       string
		resumed, unfinal bool
	}
	var lines []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		pidStr, rest, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil {
			continue
		}
		rest = strings.TrimLeft(rest, " ")
		l := line{pid: pid, rest: rest}
		if m := resumedRE.FindStringSubmatch(rest); m != nil {
			l.name, l.resumed = m[1], true
		} else if m := callRE.FindStringSubmatch(rest); m != nil {
			l.name = m[1]
			l.unfinal = strings.HasSuffix(rest, "<unfinished ...>")
		} else {
			continue // signals, exits
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	marker := func(l line) (string, bool) {
		if l.name != "write" || l.resumed {
			return "", false
		}
		m := markerRE.FindStringSubmatch(l.rest)
		if m == nil {
			return "", false
		}
		return m[1], true
	}
	isClone := func(n string) bool { return n == "clone" || n == "clone3" || n == "fork" || n == "vfork" }
	ret := func(l line) int {
		m := retRE.FindStringSubmatch(l.rest)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	// Pass 1: which function each child was cloned in.
	childFn := map[int]string{}
	run := func(record func(pid int, fn, syscall string)) {
		cur := map[int]string{}
		known := map[int]bool{}
		pending := map[int]string{}
		for _, l := range lines {
			if !known[l.pid] {
				known[l.pid] = true
				cur[l.pid] = childFn[l.pid]
			}
			if m, ok := marker(l); ok {
				switch {
				case strings.HasPrefix(m, "B "):
					cur[l.pid] = m[2:]
					if record != nil {
						record(l.pid, m[2:], "")
					}
				default: // E, X
					cur[l.pid] = ""
				}
				continue
			}
			if !l.resumed && record != nil && cur[l.pid] != "" {
				record(l.pid, cur[l.pid], l.name)
			}
			if isClone(l.name) {
				if !l.resumed {
					pending[l.pid] = cur[l.pid]
				}
				if !l.unfinal {
					if c := ret(l); c > 0 {
						childFn[c] = pending[l.pid]
					}
				}
			}
			if l.name == "execve" && !l.unfinal && ret(l) == 0 {
				cur[l.pid] = "" // a new program from here on
			}
		}
	}
	run(nil)
	rows := map[string]map[string]bool{}
	run(func(_ int, fn, sc string) {
		if rows[fn] == nil {
			rows[fn] = map[string]bool{}
		}
		if sc != "" {
			rows[fn][sc] = true
		}
	})
	return rows, nil
}

var (
	callRE    = regexp.MustCompile(`^([a-z0-9_]+)\(`)
	resumedRE = regexp.MustCompile(`^<\.\.\. ([a-z0-9_]+) resumed>`)
	markerRE  = regexp.MustCompile(`^write\(-1, "@@([^"]*)"`)
	retRE     = regexp.MustCompile(`\) += (-?\d+)`)
)
