package profiler

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrContainerRuntime means a command target is a container runtime asked
// to start a container (`runc run`, `podman run`, `ctr run` ...). The
// runtime moves the container into a cgroup of its own, out of the one
// sysward made for the command: learning the command would learn the
// runtime's own calls (mount, pivot_root helpers, fchown, mkdirat ...) and
// none of the container's. The error's text says what to run instead.
var ErrContainerRuntime = errors.New("the command starts a container in a cgroup of its own")

// RuntimeCommand is a command line that makes a container runtime start a
// container, as DetectRuntimeCommand reads it.
type RuntimeCommand struct {
	// Runtime is the runtime's name (runc, crun, youki, runsc, podman,
	// docker, nerdctl, ctr).
	Runtime string
	// Verb is the subcommand that starts the container ("run",
	// "container run", "task start", ...).
	Verb string
	argv []string
	verb int // index of the verb's last word in argv
}

// runtimeFamily groups runtimes whose command lines start containers the
// same way.
type runtimeFamily struct {
	// verbs start a container (or a process in one); nouns lead to more
	// verbs ("container run", "task start").
	verbs map[string]bool
	nouns map[string]map[string]bool
}

func words(ws ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range ws {
		m[w] = true
	}
	return m
}

var (
	ociFamily    = &runtimeFamily{verbs: words("run", "create", "start", "exec", "restore")}
	engineFamily = &runtimeFamily{verbs: words("run", "start", "exec", "restart"),
		nouns: map[string]map[string]bool{
			"container": words("run", "start", "exec", "restart"),
			"compose":   words("up", "run", "start", "exec", "restart"),
			"kube":      words("play"),
			"play":      words("kube"),
		}}
	ctrFamily = &runtimeFamily{verbs: words("run"),
		nouns: map[string]map[string]bool{"task": words("start", "exec"), "tasks": words("start", "exec"), "t": words("start", "exec")}}

	runtimeFamilies = map[string]*runtimeFamily{
		"runc": ociFamily, "crun": ociFamily, "youki": ociFamily, "runsc": ociFamily,
		"podman": engineFamily, "docker": engineFamily, "nerdctl": engineFamily,
		"ctr": ctrFamily,
	}
)

// wrappers run the command in their arguments; shells the script after -c.
var (
	wrappers = words("env", "sudo", "doas", "setsid", "nohup", "timeout", "nice", "ionice", "stdbuf",
		"taskset", "chrt", "unshare", "nsenter", "systemd-run", "time", "exec", "busybox")
	shells = words("sh", "bash", "dash", "ash", "zsh", "ksh", "busybox")
)

// DetectRuntimeCommand reports whether argv makes a container runtime start
// a container. path is argv[0] resolved on PATH (or ""): the runtime is
// recognised by the base name of argv[0], of path, or of path's symlink
// target (a docker that is podman). The subcommand is found past global
// flags; a word right after a flag may be that flag's value, so it is
// skipped unless it is a verb, and the first other word ends the search
// (`podman ps`, `runc list` are not container starts). Behind a wrapper
// (sudo, env, timeout, nsenter ...) or in a shell's -c script (split on
// blanks: no quoting, no variables), the first runtime word followed by a
// starting verb counts: `sh -c 'echo runc run'` is taken for one too, and
// --runtime-itself is the way out. A script file or a variable is not
// looked into.
func DetectRuntimeCommand(argv []string, path string) *RuntimeCommand {
	return detectRuntime(argv, path, 0)
}

// maxScriptWords bounds how much of a -c script is looked at.
const maxScriptWords = 4096

func detectRuntime(argv []string, path string, depth int) *RuntimeCommand {
	if len(argv) == 0 || depth > 3 {
		return nil
	}
	if rc := detectDirect(argv, path); rc != nil {
		return rc
	}
	name := filepath.Base(argv[0])
	if path != "" && !wrappers[name] && !shells[name] {
		name = filepath.Base(path)
	}
	if !wrappers[name] && !shells[name] {
		return nil
	}
	// A wrapper's arguments, or a shell's -c script split into words: the
	// first runtime word followed by a starting verb wins, a nested shell
	// -c is looked into.
	scan := func(ws []string) *RuntimeCommand {
		for j, w := range ws {
			if rc := detectDirect(ws[j:], ""); rc != nil {
				return rc
			}
			if shells[filepath.Base(w)] && j+2 < len(ws) && ws[j+1] == "-c" {
				if rc := detectRuntime(ws[j:], "", depth+1); rc != nil {
					return rc
				}
			}
		}
		return nil
	}
	if rc := scan(argv[1:]); rc != nil {
		return rc
	}
	for i := 1; i+1 < len(argv) && shells[name]; i++ {
		if argv[i] != "-c" {
			continue
		}
		var script []string
		for _, w := range strings.Fields(argv[i+1]) {
			if w = strings.Trim(w, ";&|()`'\"{}"); w != "" && len(script) < maxScriptWords {
				script = append(script, w)
			}
		}
		return scan(script)
	}
	return nil
}

// detectDirect is DetectRuntimeCommand for argv[0] itself.
func detectDirect(argv []string, path string) *RuntimeCommand {
	names := []string{filepath.Base(argv[0])}
	if path != "" {
		names = append(names, filepath.Base(path))
		if real, err := filepath.EvalSymlinks(path); err == nil {
			names = append(names, filepath.Base(real))
		}
	}
	for _, name := range names {
		fam := runtimeFamilies[name]
		if fam == nil {
			continue
		}
		if verb, i := fam.find(argv[1:]); verb != "" {
			return &RuntimeCommand{Runtime: name, Verb: verb, argv: argv, verb: i + 1}
		}
	}
	return nil
}

// find returns the container-starting verb in args (after the program name)
// and the index of its last word, or "".
func (f *runtimeFamily) find(args []string) (string, int) {
	verbs, noun := f.verbs, ""
	afterFlag := false
	for i, a := range args {
		if a == "--" {
			return "", 0
		}
		if strings.HasPrefix(a, "-") {
			afterFlag = !strings.Contains(a, "=")
			continue
		}
		switch {
		case verbs[a]:
			if noun != "" {
				return noun + " " + a, i
			}
			return a, i
		case noun == "" && f.nouns[a] != nil:
			verbs, noun = f.nouns[a], a
			afterFlag = false
			continue
		case afterFlag:
			afterFlag = false // a flag's value
			continue
		}
		return "", 0
	}
	return "", 0
}

// RuntimeCommandError is ErrContainerRuntime with what to do instead.
type RuntimeCommandError struct {
	Cmd *RuntimeCommand
	// Tool is the sysward subcommand refused ("learn" or "watch").
	Tool string
}

func (e *RuntimeCommandError) Is(target error) bool { return target == ErrContainerRuntime }

func (e *RuntimeCommandError) Error() string {
	c := e.Cmd
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %v, so sysward would %s %s's own set-up calls, not the container's. ",
		c.Runtime, c.Verb, ErrContainerRuntime, e.Tool, c.Runtime)
	// sw is the sysward command line for a container id.
	sw := func(id string) string { return "sysward learn --container " + id + " -o FILE" }
	if e.Tool != "learn" {
		sw = func(id string) string { return "sysward " + e.Tool + " --profile FILE --container " + id }
	}
	switch {
	case c.Verb == "run" && runtimeFamilies[c.Runtime] == ociFamily:
		// runc run = runc create (the init sets up, installs the filter,
		// waits) + runc start.
		id := c.argv[len(c.argv)-1]
		create := append([]string{}, c.argv[:c.verb]...)
		create = append(create, "create")
		for _, a := range c.argv[c.verb+1:] {
			switch a {
			case "-d", "--detach", "--keep", "--no-subreaper":
				continue
			}
			create = append(create, a)
		}
		fmt.Fprintf(&b, "Create the container, %s it, then start it:\n  %s\n  %s &\n  %s start %s",
			e.Tool, shellJoin(create), sw(shellJoin([]string{id})), shellJoin(c.argv[:c.verb]), shellJoin([]string{id}))
	case c.Verb == "run" && c.Runtime == "podman":
		create := append([]string{}, c.argv[:c.verb]...)
		create = append(create, "create")
		for _, a := range c.argv[c.verb+1:] {
			switch a {
			case "-d", "--detach", "--rm":
				continue
			}
			create = append(create, a)
		}
		global := shellJoin(c.argv[:c.verb])
		fmt.Fprintf(&b, "Create the container and its runtime state (podman init), %s it, then start it:\n  id=$(%s)\n  %s init $id\n  %s &\n  %s start -a $id",
			e.Tool, shellJoin(create), global, sw("$id"), global)
	default:
		fmt.Fprintf(&b, "%s the container itself with %s, started while the container is created but not yet started "+
			"(runc create / podman create + podman init, then start it), or while it runs (its calls before sysward attaches are then missed).",
			strings.ToUpper(e.Tool[:1])+e.Tool[1:], sw("ID"))
	}
	fmt.Fprintf(&b, "\nTo %s %s itself, pass --runtime-itself.", e.Tool, c.Runtime)
	return b.String()
}

// shellJoin quotes words for a POSIX shell where needed.
func shellJoin(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			q[i] = w
		} else {
			q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// Detached reports whether the command returns once the container is
// started (-d, --detach), before the container ends.
func (c *RuntimeCommand) Detached() bool {
	for _, a := range c.argv[c.verb+1:] {
		switch a {
		case "--":
			return false
		case "-d", "--detach", "--detach=true":
			return true
		}
	}
	return false
}

// OCIRuntime is the OCI runtime that starts the container ("" when the
// command line does not say): the runtime itself, podman's --runtime, or
// runc under docker, nerdctl and ctr (containerd's runc shim).
func (c *RuntimeCommand) OCIRuntime() string {
	switch runtimeFamilies[c.Runtime] {
	case ociFamily:
		return c.Runtime
	case ctrFamily:
		return "runc"
	}
	for i, a := range c.argv[1:] {
		if v, ok := strings.CutPrefix(a, "--runtime="); ok {
			return filepath.Base(v)
		}
		if a == "--runtime" && i+2 < len(c.argv) {
			return filepath.Base(c.argv[i+2])
		}
	}
	if c.Runtime == "podman" {
		return "" // crun or runc, as containers.conf says
	}
	return "runc"
}
