// Package watch closes sysward's loop: it holds a workload to its seccomp
// profile in the kernel (the profiler's per-cgroup allowed set), turns the
// kernel's events into detector events enriched from /proc, runs them
// through the rules engine (sysward's own rules, embedded, plus any Falco
// rules files), and summarises what deviated.
//
// # Flow
//
//	profiler ring buffer ─► Watcher.handle ─► procinfo (exe, cmdline, parent,
//	user, container) ─► detector.Event ─► Engine.Process ─► sink (outputs)
//	                                       └► event record (JSONL, --record)
//
// Kernel events: a call outside the profile that reached sys_enter
// (deviation: complain mode, or nothing enforcing), a call seccomp refused
// (denied, seen at sys_exit with its errno), a process exec, and a process
// killed by SIGSYS. By default the kernel reports every deviating call, so
// repeats are counted; the output's dedup collapses repeated identical alerts
// (same rule, workload, syscall) after the first, detailed one. Refused calls
// beyond profiler.RepeatBurst per second per (workload, syscall) are counted
// in the kernel instead; every DropInterval (and in Drain and Remove) the
// Watcher turns each counter's growth into one event with Count (the calls)
// and the last call's time.
//
// The kernel's facts win over /proc (read later, and cached): uid/gid at
// the time of the call, comm, parent, and at exec argv, file and
// interpreter. /proc fills in the rest (exe path, cwd, tty, container,
// ancestors), and for a process already gone the facts its exec event noted
// stand in.
//
// Refused calls are seen at sys_exit, kills at sched_process_exit. Those two
// hooks run for every syscall and exit on the host, so a Session leaves them
// out where nothing can be refused: a command it starts in watch or complain
// mode (complain turns every denying action into a log). A cgroup or
// container target may carry its runtime's own filter and keeps them.
//
// The deviation set reported by Summary comes from the kernel's per-cgroup
// deviation bitmap, not from the events: it is complete even when the ring
// buffer overflowed. Overflows are counted in the kernel; the Watcher polls
// the counter, records it as a metric and raises an internal alert
// (DropRule) whenever it grew.
//
// # Lifetimes and threading
//
// New loads the profiler (or adopts Options.Profiler, which it then does not
// close); Close untracks the workloads, closes what the Watcher loaded and
// writes the event record (atomically: a temp file renamed into place; a
// device or FIFO is streamed to), at most Options.RecordMax bytes: events
// past it are counted (Summary.RecordDrops).
// Run must be called from one goroutine: it owns the profiler's ring buffer
// reader and the engine (detector.Engine.Process is single-goroutine). Add,
// Remove, Summary and ProcStats are safe to call concurrently with Run.
// Drain is for after Run returned: it handles what the ring buffer still
// holds.
//
// Node (node.go) is the node agent behind `sysward watch --all-containers`:
// it reads the runtime state roots (profiler.ListContainers), Adds each new
// container to a Watcher (held to the profile under NodeOptions.ProfilesDir
// whose enforcer.RuntimeHash equals the hash of its config.json
// linux.seccomp, or unrestricted when none does, so only exec rules can
// fire) and Removes and forgets containers that are gone (once the Watcher
// has handled the events queued by then: Watcher.Drained). Sync and Run
// are for one goroutine; Containers, Profiles, Skipped and BadProfiles are
// safe from any. Profile files are read with internal/inputfile: a FIFO,
// device or oversized file under ProfilesDir is skipped (one warning,
// counted in BadProfiles), never read, so it cannot block discovery.
// Close untracks every container. NodeSession wraps a Node with rules,
// outputs and metrics the way Session does for one target.
//
// No gap at container start: NodeSession's profiler holds every new cgroup
// pending from its creation (profiler.Options.HoldNewCgroups), before the
// runtime puts the container's first task in it. The kernel records what it
// runs (the seen set under a seccomp filter, calls its filter refused,
// execs, SIGSYS deaths); the Watcher keeps those events, enriched on arrival
// (Options.HoldNewCgroups, at most MaxHeldEvents per cgroup); each hold
// notice makes the Node look for the container at once and every few
// milliseconds for a second. Add adopts the cgroup and judges what it did
// against the profile it now knows; a container gone before its state was
// read is adopted by its cgroup path when that names it certainly, with
// the profile of the bundle its runtime process named
// (profiler.RuntimeBundle); other cgroups are released after
// NodeOptions.PendingGrace. A full pending map is counted and raised
// as the internal PendingRule alert.
//
// Cluster store (NodeOptions.Store, `watch --store`): a StoreLearner,
// attached to the Node, reports to the WorkloadProfile objects
// (internal/store) what the node's marked containers do: those whose pod
// or namespace carries sysward.io/learn=true (internal/kube), and those
// running under a profile the store applied (for their deviations only).
// Every StoreOptions.Interval it reads each one's kernel state (Seen;
// Deviations that were not refused, under a complain profile; Denied),
// keeps what was not reported yet with the time the agent first noticed
// it, and sends one store.Client.Modify per (workload, container) applying
// every replica's store.Delta, the WorkloadProfile informer's copy as the
// first read. A failed merge keeps the calls and backs off (up to 16
// intervals) for that object; a container the Node forgets hands over its
// final state (Node.onGone), so its last calls still go. The Node installs
// the objects' applied profiles (Status.Applied) during full passes, as
// <ProfilesDir>/sysward/<namespace>/<file>.json, after checking path,
// size, content (compiles) and sha256 (storeEntryFile), and removes the
// files there that no entry names and no running container uses; the flat
// --install-from files next to those folders are removeStale's, never the
// store's. A complain-mode profile (SCMP_ACT_LOG) is watched as the
// profile it stands for (strictView), so its logged calls are deviations.
// Objects in Complain annotated sysward.io/auto-promote are promoted by
// the agent once store.Promote accepts them.
//
// Health: Session and NodeSession install a /healthz check that fails
// (503, with the reason) when the kernel event reader (Watcher.LastBeat),
// the discovery loop (Node.LastPass) or an output holding undelivered
// alerts has not moved for Config.StallAfter.
//
// Session bundles what `sysward watch` and `sysward run --watch` need around
// a Watcher: rules, outputs (text or JSON to stdout, HTTP in falcosidekick's
// shape), metrics endpoint, and a command started in a fresh cgroup.
//
// # Errors
//
// Errors name the step ("loading profiler: …", "watching <workload>: …") and
// wrap the profiler's sentinels (profiler.ErrPermission, profiler.ErrNoBTF,
// profiler.ErrNotTracked …) for errors.Is. A process that exited before it
// could be enriched is not an error: the kernel's own facts (comm, pid,
// uid, argv from its exec) stand in.
package watch
