package profiler

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// followSlots is FOLLOW_SLOTS in bpf/profiler.bpf.c: how many cgroups one
// followed cgroup's descendants (by migration) may take.
const followSlots = 8

// followPools is the follow_pools map's size: how many cgroups can be
// followed at once.
const followPools = 64

// follower is the user-space side of one followed cgroup: its pool and the
// slots reserved in it.
type follower struct {
	pool  uint32
	slots []uint32
}

// Follow makes the kernel track every cgroup that a task of cgroupID (a
// tracked cgroup) moves a task into, from the moment of the migration, with
// options t, and follow those in turn: how `learn -- runc run ...` learns
// the container, which its runtime moves into a cgroup of its own. At most
// followSlots cgroups are taken; their slots are reserved now. The kernel
// sees a migration by cgroup.procs, not a task born in another cgroup
// (clone3 CLONE_INTO_CGROUP, used by crun) nor one made by systemd for the
// runtime (the systemd cgroup driver): those are not followed.
func (p *Profiler) Follow(cgroupID uint64, t TrackOptions) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if _, ok := p.slots[cgroupID]; !ok {
		return fmt.Errorf("following cgroup %d: %w", cgroupID, ErrNotTracked)
	}
	if _, ok := p.follows[cgroupID]; ok {
		return fmt.Errorf("following cgroup %d: already followed", cgroupID)
	}
	if len(p.freePools) == 0 {
		return fmt.Errorf("following cgroup %d: all %d follow pools in use", cgroupID, followPools)
	}
	if len(p.free) < followSlots {
		return fmt.Errorf("following cgroup %d: %d slots needed, %d free (Options.MaxCgroups)", cgroupID, followSlots, len(p.free))
	}
	f := &follower{pool: p.freePools[len(p.freePools)-1]}
	var st profilerCgroupState // cgroup id 0: free until the kernel claims it
	st.Mode = uint32(t.Mode)
	st.Flags = uint32(t.Flags)
	if t.Allowed != nil {
		st.Allowed = t.Allowed.bits
	}
	var fp profilerFollowPool
	for i := 0; i < followSlots; i++ {
		slot := p.free[len(p.free)-1-i]
		if err := p.objs.States.Update(slot, &st, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("following cgroup %d: writing state: %w", cgroupID, err)
		}
		f.slots = append(f.slots, slot)
		fp.Slots[i] = slot
	}
	if err := p.objs.FollowPools.Update(f.pool, &fp, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("following cgroup %d: writing pool: %w", cgroupID, err)
	}
	if err := p.objs.Follow.Update(cgroupID, f.pool, ebpf.UpdateNoExist); err != nil {
		return fmt.Errorf("following cgroup %d: %w", cgroupID, err)
	}
	p.free = p.free[:len(p.free)-followSlots]
	p.freePools = p.freePools[:len(p.freePools)-1]
	p.follows[cgroupID] = f
	return nil
}

// Followed returns the cgroups the kernel took for cgroupID's Follow so far
// (in migration order), the union of what they recorded, and how many
// migrations found the pool full.
func (p *Profiler) Followed(cgroupID uint64) (ids []uint64, seen *SyscallSet, lost int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, 0, ErrClosed
	}
	f, ok := p.follows[cgroupID]
	if !ok {
		return nil, nil, 0, fmt.Errorf("reading followed cgroups of %d: %w", cgroupID, ErrNotTracked)
	}
	var fp profilerFollowPool
	if err := p.objs.FollowPools.Lookup(f.pool, &fp); err != nil {
		return nil, nil, 0, fmt.Errorf("reading followed cgroups of %d: %w", cgroupID, err)
	}
	seen = &SyscallSet{}
	for i := 0; i < int(min(fp.Next, followSlots)); i++ {
		var st profilerCgroupState
		if err := p.objs.States.Lookup(f.slots[i], &st); err != nil {
			return nil, nil, 0, fmt.Errorf("reading followed cgroups of %d: %w", cgroupID, err)
		}
		if st.CgroupId == 0 {
			continue // taken, not yet written (the kernel is in between)
		}
		ids = append(ids, st.CgroupId)
		seen.Union(&SyscallSet{bits: st.Seen})
	}
	if fp.Next > followSlots {
		lost = int(fp.Next - followSlots)
	}
	return ids, seen, lost, nil
}

// Unfollow stops following cgroupID: the cgroups taken are untracked and
// every reserved slot freed. cgroupID itself stays tracked.
func (p *Profiler) Unfollow(cgroupID uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	f, ok := p.follows[cgroupID]
	if !ok {
		return fmt.Errorf("unfollowing cgroup %d: %w", cgroupID, ErrNotTracked)
	}
	// The pool first: no new migration takes a slot once it is cut off.
	if err := p.objs.Follow.Delete(cgroupID); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unfollowing cgroup %d: %w", cgroupID, err)
	}
	var full profilerFollowPool
	full.Next = followSlots
	if err := p.objs.FollowPools.Update(f.pool, &full, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("unfollowing cgroup %d: %w", cgroupID, err)
	}
	var zero profilerCgroupState
	for _, slot := range f.slots {
		var st profilerCgroupState
		if err := p.objs.States.Lookup(slot, &st); err == nil && st.CgroupId != 0 {
			_ = p.objs.Follow.Delete(st.CgroupId)
			_ = p.objs.Tracked.Delete(st.CgroupId)
		}
		if err := p.objs.States.Update(slot, &zero, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("unfollowing cgroup %d: clearing state: %w", cgroupID, err)
		}
		p.free = append(p.free, slot)
	}
	delete(p.follows, cgroupID)
	p.freePools = append(p.freePools, f.pool)
	return p.bumpGeneration()
}
