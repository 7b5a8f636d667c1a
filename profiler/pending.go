package profiler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// ModePending is the mode of a cgroup held pending (Options.HoldNewCgroups):
// bpf/profiler.bpf.c MODE_PENDING.
const ModePending Mode = 3

// ErrNotHolding: the Profiler was loaded without Options.HoldNewCgroups.
var ErrNotHolding = errors.New("profiler does not hold new cgroups (Options.HoldNewCgroups)")

// NewCgroup is a cgroup the kernel started holding pending at its creation.
type NewCgroup struct {
	// ID is the cgroup id (the inode of its cgroup2 directory).
	ID uint64
	// Path is its path relative to the cgroup2 mount, starting with "/"
	// (what /proc/PID/cgroup shows), truncated to 255 bytes.
	Path string
	// PID is the process that created it (for a container: its runtime,
	// e.g. `runc create --bundle DIR ID`, alive while the container starts).
	PID int
}

// PendingStats are the counters of the pending holds since Load.
type PendingStats struct {
	// Overflows counts new cgroups that were not held because MaxPending
	// cgroups were pending already: what they ran before discovery found
	// them was not recorded.
	Overflows uint64
	// LostNotices counts new cgroups held but not reported by
	// ReadNewCgroup (its ring buffer was full); Pending still lists them.
	LostNotices uint64
}

// ReadNewCgroup blocks until the kernel holds a new cgroup pending and
// returns it, or until ctx is done or the Profiler is closed (ErrClosed).
// Call it from one goroutine.
func (p *Profiler) ReadNewCgroup(ctx context.Context) (NewCgroup, error) {
	if p.ncRd == nil {
		return NewCgroup{}, ErrNotHolding
	}
	p.ncMu.Lock()
	defer p.ncMu.Unlock()
	var rec ringbuf.Record
	for {
		if err := ctx.Err(); err != nil {
			return NewCgroup{}, err
		}
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return NewCgroup{}, ErrClosed
		}
		p.ncRd.SetDeadline(time.Now().Add(100 * time.Millisecond))
		err := p.ncRd.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if errors.Is(err, ringbuf.ErrClosed) {
			return NewCgroup{}, ErrClosed
		}
		if err != nil {
			return NewCgroup{}, fmt.Errorf("reading new-cgroup ring buffer: %w", err)
		}
		return decodeNewCgroup(rec.RawSample)
	}
}

func decodeNewCgroup(raw []byte) (NewCgroup, error) {
	var n profilerNewCgroup
	if len(raw) < int(unsafe.Sizeof(n)) {
		return NewCgroup{}, fmt.Errorf("new-cgroup record of %d bytes, want %d", len(raw), unsafe.Sizeof(n))
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&n)), unsafe.Sizeof(n)), raw) // no alignment assumed
	path := make([]byte, 0, len(n.Path))
	for _, c := range n.Path {
		if c == 0 {
			return NewCgroup{ID: n.CgroupId, Path: string(path), PID: int(n.Pid)}, nil
		}
		path = append(path, byte(c))
	}
	return NewCgroup{}, errors.New("new-cgroup record: path not terminated")
}

// Pending lists the cgroups held pending now, with what each recorded.
func (p *Profiler) Pending() (map[uint64]*State, error) {
	if p.ncRd == nil {
		return nil, ErrNotHolding
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	out := map[uint64]*State{}
	var id uint64
	var st profilerCgroupState
	it := p.objs.Pending.Iterate()
	for it.Next(&id, &st) {
		if st.CgroupId == id {
			out[id] = stateOf(&st)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("listing pending cgroups: %w", err)
	}
	return out, nil
}

// PendingIDs lists the ids of the cgroups held pending now (keys only: a
// sweep for holds whose notice was lost).
func (p *Profiler) PendingIDs() ([]uint64, error) {
	if p.ncRd == nil {
		return nil, ErrNotHolding
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	var ids []uint64
	var key, next uint64
	var prev any // nil: start from the first key
	for {
		if err := p.objs.Pending.NextKey(prev, &next); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return ids, nil
			}
			return ids, fmt.Errorf("listing pending cgroups: %w", err)
		}
		ids = append(ids, next)
		key = next
		prev = &key
		if len(ids) > int(p.objs.Pending.MaxEntries()) {
			return ids, nil // keys deleted under the walk restarted it
		}
	}
}

// Release drops the pending hold of cgroupID (not a container, or gone).
// ErrNotTracked when it is not pending.
func (p *Profiler) Release(cgroupID uint64) error {
	if p.ncRd == nil {
		return ErrNotHolding
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	return p.releaseLocked(cgroupID)
}

// releaseLocked runs release_pending (BPF_PROG_RUN): the kernel deletes the
// entry and decrements its bucket count atomically with respect to
// cgroup_mkdir. Called with p.mu held.
func (p *Profiler) releaseLocked(cgroupID uint64) error {
	args := profilerReleaseArgs{CgroupId: cgroupID}
	ret, err := p.objs.ReleasePending.Run(&ebpf.RunOptions{Context: args})
	if err != nil {
		return fmt.Errorf("releasing pending cgroup %d: %w", cgroupID, err)
	}
	if ret != 0 {
		return fmt.Errorf("releasing cgroup %d: %w", cgroupID, ErrNotTracked)
	}
	return nil
}

// PendingStats reads the pending-hold counters.
func (p *Profiler) PendingStats() (PendingStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return PendingStats{}, ErrClosed
	}
	var s PendingStats
	if err := p.objs.PendingStats.Lookup(uint32(0), &s.Overflows); err != nil {
		return s, fmt.Errorf("reading pending counters: %w", err)
	}
	if err := p.objs.PendingStats.Lookup(uint32(1), &s.LostNotices); err != nil {
		return s, fmt.Errorf("reading pending counters: %w", err)
	}
	return s, nil
}
