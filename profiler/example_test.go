package profiler_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// Learn a command's profile and save it.
func ExampleLearn() {
	res, err := profiler.Learn(context.Background(), profiler.Target{Command: []string{"ls", "/"}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := profiles.SaveFile("ls.json", res.Profile); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Profile.Names()), "syscalls,", res.Stop)
}

// Watch a cgroup against a profile: deviations and seccomp refusals arrive
// as events, the complete sets stay in the kernel's bitmaps.
func ExampleProfiler_Track() {
	prof, err := inputfile.Profile("web.json")
	if err != nil {
		log.Fatal(err)
	}
	allowed, err := profiler.AllowedSet(prof)
	if err != nil {
		log.Fatal(err)
	}
	p, err := profiler.Load(&profiler.Options{Watch: true})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	id, err := cgroups.ID("/sys/fs/cgroup/system.slice/web.service")
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Track(id, profiler.TrackOptions{Mode: profiler.ModeWatch, Allowed: allowed}); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events, wait := p.Events(ctx)
	for ev := range events {
		fmt.Fprintf(os.Stdout, "%s %s pid=%d comm=%s errno=%d\n", ev.Kind, ev.Syscall, ev.PID, ev.Comm, ev.Errno)
	}
	if err := wait(); err != nil {
		log.Fatal(err)
	}
	devs, _ := p.Deviations(id)
	drops, _ := p.Drops()
	fmt.Println(devs.Names(profiles.ArchX86_64), drops)
}
