package profiles

import specs "github.com/opencontainers/runtime-spec/specs-go"

// On x86, socket and SysV IPC calls also reach the kernel multiplexed
// through socketcall(2) and ipc(2), argument 0 selecting the call.
// libseccomp 2.5.4 (arch-x86.c, x86_rule_add) therefore adds a rule for one
// of them twice: on its direct number (when x86 has one) with the entry's
// conditions, and on socketcall/ipc with argument 0 == the call number,
// which replaces any condition the entry had on argument 0, plus the
// entry's other conditions (compared against socketcall's or ipc's own
// arguments). These tables are the call numbers libseccomp uses
// (its __PNR_* pseudo numbers modulo 100 and 200).
var (
	x86SocketCalls = map[string]uint64{"socket": 1, "bind": 2, "connect": 3, "listen": 4, "accept": 5,
		"getsockname": 6, "getpeername": 7, "socketpair": 8, "send": 9, "recv": 10, "sendto": 11,
		"recvfrom": 12, "shutdown": 13, "setsockopt": 14, "getsockopt": 15, "sendmsg": 16, "recvmsg": 17,
		"accept4": 18, "recvmmsg": 19, "sendmmsg": 20}
	x86IPCCalls = map[string]uint64{"semop": 1, "semget": 2, "semctl": 3, "semtimedop": 4, "msgsnd": 11,
		"msgrcv": 12, "msgget": 13, "msgctl": 14, "shmat": 21, "shmdt": 22, "shmget": 23, "shmctl": 24}
)

// Demuxed is a rule a multiplexer (socketcall or ipc on x86) gets from an
// entry naming one of the calls it multiplexes.
type Demuxed struct {
	Entry int    // index in Syscalls
	Name  string // the multiplexed call the entry names ("socket")
	Call  uint64 // its call number: the rule requires argument 0 == Call
}

// muxCalls returns the call table of a multiplexer on arch, or nil.
func muxCalls(arch Arch, name string) map[string]uint64 {
	if arch != ArchX86 {
		return nil
	}
	switch name {
	case "socketcall":
		return x86SocketCalls
	case "ipc":
		return x86IPCCalls
	}
	return nil
}

// addDemuxed fills d.Demuxed for a multiplexer: the rules libseccomp adds
// to it from entries naming its calls. They are all argument-conditioned
// (argument 0 == call), so an unconditional entry for the multiplexer
// itself beats them.
func (p *Profile) addDemuxed(d *Decision, calls map[string]uint64) {
	if calls == nil {
		return
	}
	for i, s := range p.Syscalls {
		if SameVerdict(s.Action, s.ErrnoRet, p.DefaultAction, p.DefaultErrnoRet) {
			continue // runc skips it
		}
		seen := map[string]bool{}
		for _, n := range s.Names {
			if x, ok := calls[n]; ok && !seen[n] {
				seen[n] = true
				if d.Entry >= 0 && len(p.Syscalls[d.Entry].Args) == 0 && !SameVerdict(d.Action, d.ErrnoRet, p.DefaultAction, p.DefaultErrnoRet) {
					continue // shadowed by the multiplexer's unconditional entry
				}
				d.Demuxed = append(d.Demuxed, Demuxed{Entry: i, Name: n, Call: x})
			}
		}
	}
}

// demuxMatches reports whether the rule libseccomp derives from an entry
// with conds for call matches the multiplexer's args: argument 0 equals
// call, and the entry's conditions on other arguments hold (AND, or OR of
// one rule per condition when the entry repeats an argument index, a
// condition on argument 0 then being just "argument 0 == call").
func demuxMatches(conds []specs.LinuxSeccompArg, call uint64, args [6]uint64, narrow bool) bool {
	a0 := args[0]
	if narrow {
		a0, call = uint64(uint32(a0)), uint64(uint32(call))
	}
	if a0 != call {
		return false
	}
	if len(conds) == 0 {
		return true
	}
	if splitConds(conds) {
		for _, c := range conds {
			if c.Index == 0 || condHolds(c, args, narrow) {
				return true
			}
		}
		return false
	}
	for _, c := range conds {
		if c.Index != 0 && !condHolds(c, args, narrow) {
			return false
		}
	}
	return true
}

// splitConds reports whether conds test one argument index twice (runc
// then adds one rule per condition).
func splitConds(conds []specs.LinuxSeccompArg) bool {
	seen := [6]bool{}
	for _, c := range conds {
		if c.Index < 6 {
			if seen[c.Index] {
				return true
			}
			seen[c.Index] = true
		}
	}
	return false
}
