package procinfo

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// Users maps uids to user names and gids to group names, as read from an
// /etc/passwd and /etc/group.
type Users struct {
	Users  map[uint32]string
	Groups map[uint32]string
}

// ParsePasswd reads the uid → name pairs of an /etc/passwd (or the gid →
// name pairs of an /etc/group: the id is the third field in both). Lines
// that are not name:pw:id:… (comments, NIS "+" entries, garbage) are
// skipped; the first entry for an id wins, as getpwuid does.
func ParsePasswd(r io.Reader) (map[uint32]string, error) {
	m := make(map[uint32]string)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 4 || f[0] == "" {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := m[uint32(id)]; !dup {
			m[uint32(id)] = f[0]
		}
	}
	return m, sc.Err()
}
