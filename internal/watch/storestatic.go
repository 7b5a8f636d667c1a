package watch

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/elfhints"
	"github.com/sysward/sysward/profiles"
)

// maxStaticExes bounds how many distinct executables the learner reads
// per container (a container exec'ing generated binaries cannot make the
// agent read forever).
const maxStaticExes = 16

// maxStaticPIDs bounds how many processes of one container a scan looks
// at.
const maxStaticPIDs = 256

// scanStatic reads, for static hints, the executables of the processes in
// the container's cgroup not read yet, and notes the calls their imports
// can make (elfhints.Hints: glibc functions and Go wrappers, front-end
// libraries' imports), dangerous ones (profiles.DangerousSyscalls) left
// out. A server learned under a small load never shows what it does only
// under a broader one (redis-server's BGSAVE child: fsync, rename, its
// exit; the parent's wait4), and enforcing without them breaks it
// (TestClusterLearningRealServer); `sysward learn` adds these hints by
// default, the store's learning does too. Libraries are looked up in the
// process's root (/proc/PID/root). runc's own pre-exec process (a
// /memfd: copy of runc) is never read.
func (lc *learnCtr) scanStatic(cgroupDir string, now time.Time, log *slog.Logger) {
	if lc.exes == nil {
		lc.exes, lc.exeOf = map[[2]uint64]bool{}, map[int]string{}
	}
	if len(lc.exes) >= maxStaticExes || cgroupDir == "" {
		return
	}
	raw, err := os.ReadFile(filepath.Join(cgroupDir, "cgroup.procs"))
	if err != nil {
		return
	}
	present := map[int]bool{}
	for i, f := range strings.Fields(string(raw)) {
		if i >= maxStaticPIDs || len(lc.exes) >= maxStaticExes {
			break
		}
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		present[pid] = true
		lc.readStatic(pid, now, log)
	}
	for pid := range lc.exeOf {
		if !present[pid] {
			delete(lc.exeOf, pid)
		}
	}
}

func (lc *learnCtr) readStatic(pid int, now time.Time, log *slog.Logger) {
	proc := "/proc/" + strconv.Itoa(pid)
	name, err := os.Readlink(proc + "/exe")
	if err != nil || strings.HasPrefix(name, "/memfd:") || !strings.HasPrefix(name, "/") {
		return
	}
	// A process already looked at that has not exec'd since: nothing to
	// open (the common case, every interval).
	if lc.exeOf[pid] == name {
		return
	}
	lc.exeOf[pid] = name
	f, err := os.Open(proc + "/exe")
	if err != nil {
		return
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return
	}
	key := [2]uint64{st.Dev, st.Ino}
	if lc.exes[key] {
		return
	}
	lc.exes[key] = true
	b, err := elfhints.ReadFile(f, name, &elfhints.Options{Root: proc + "/root", FrontEnds: true})
	if err != nil {
		log.Debug("no static hints", "container", lc.id, "exe", name, "err", err)
		return
	}
	hints, _ := elfhints.Hints(b)
	added := 0
	for _, h := range hints {
		if _, bad := profiles.DangerousSyscalls[h.Syscall]; bad {
			continue
		}
		nr, ok := profiles.SyscallNumber(profiles.ArchX86_64, h.Syscall)
		if !ok || lc.reported[kindStatic].Has(profiles.ArchX86_64, nr) {
			continue
		}
		k := noticeKey{kindStatic, profiles.ArchX86_64, nr}
		if _, ok := lc.noticed[k]; !ok {
			lc.noticed[k] = now
			added++
		}
	}
	log.Debug("static hints", "container", lc.id, "exe", name, "kind", b.Kind, "hints", len(hints), "noted", added)
}
