package watch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/inputfile"
)

// installSource is what the Node remembers of one file under InstallFrom.
type installSource struct {
	key  fileVersion // statKey when it was installed (or refused)
	name string      // base name of the installed file; "" when refused
}

// installProfiles installs the profiles under NodeOptions.InstallFrom into
// ProfilesDir/sysward/ with enforcer.Install (checked and compiled first,
// written atomically under a content-hashed name), when a file there was
// added, removed or changed since the last pass.
//
// InstallFrom is flat, as a ConfigMap volume is: each "*.json" file is one
// profile, named "<namespace>.<name>.json" (a Kubernetes namespace has no
// dot) or "<name>.json" (namespace default); dot files (the volume's
// "..data" machinery) are ignored. Every file is read with
// inputfile.Profile: a FIFO, a device, a directory or a file over
// profiles.MaxFileSize is refused without blocking. A file that is not a
// profile the kernel would take is skipped with one warning (again only
// when it changes) and counted (InstallSkipped), never installed; at most
// MaxIndexedProfiles files are read.
func (n *Node) installProfiles() {
	if n.opts.InstallFrom == "" || n.opts.ProfilesDir == "" {
		return
	}
	files, over, err := listFlat(n.opts.InstallFrom, MaxIndexedProfiles)
	if err != nil {
		if n.installErr != err.Error() {
			n.log.Warn("reading profiles to install: nothing installed or removed until it can be read", "err", err)
		}
		n.installErr, n.installKeys, n.wanted = err.Error(), nil, nil
		return
	}
	n.installErr = ""
	keys := make([]profFile, len(files))
	for i, f := range files {
		keys[i] = profFile{f, statKey(filepath.Join(n.opts.InstallFrom, f))}
	}
	if n.wanted != nil && over == n.installOver && slices.Equal(keys, n.installKeys) {
		return
	}
	if over > 0 {
		n.log.Warn(fmt.Sprintf("more than %d profiles to install: %d not read", MaxIndexedProfiles, over), "dir", n.opts.InstallFrom)
	}
	sources := make(map[string]installSource, len(files))
	wanted := make(map[string]bool, len(files))
	installed, skipped := 0, uint64(0)
	for i, f := range files {
		s, ok := n.sources[f]
		if !ok || s.key != keys[i].key {
			s = installSource{key: keys[i].key}
			path := filepath.Join(n.opts.InstallFrom, f)
			s.name, err = installOne(path, n.opts.ProfilesDir, f)
			if err != nil {
				n.log.Warn("skipping profile to install", "profile", path, "err", err)
				skipped++
			} else {
				installed++
			}
		}
		sources[f] = s
		if s.name != "" {
			wanted[s.name] = true
		}
	}
	n.mu.Lock()
	n.installSkipped += skipped
	n.mu.Unlock()
	n.sources, n.wanted, n.installKeys, n.installOver = sources, wanted, keys, over
	n.log.Info("profiles installed", "from", n.opts.InstallFrom, "profiles", len(wanted), "new", installed, "skipped", skipped)
}

// installOne installs the profile at path (file name file) and returns the
// base name it has under the seccomp root's sysward folder.
func installOne(path, root, file string) (string, error) {
	p, err := inputfile.Profile(path)
	if err != nil {
		return "", err
	}
	ns, name, ok := strings.Cut(strings.TrimSuffix(file, ".json"), ".")
	if !ok {
		ns, name = "", ns
	}
	in, err := enforcer.Install(p, enforcer.InstallOptions{Root: root, Namespace: ns, Name: name})
	if err != nil {
		return "", fmt.Errorf("installing: %w", err)
	}
	return filepath.Base(in.Path), nil
}

// listFlat returns the sorted names of the "*.json" entries of dir that do
// not start with a dot, at most max of them (over: how many more there
// were). It reads at most max+1024 entries, so a huge directory costs a
// bounded amount.
func listFlat(dir string, max int) (names []string, over int, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	ents, err := f.ReadDir(max + 1024)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if len(names) >= max {
			over++
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, over, nil
}

// removeStale removes the profiles under ProfilesDir/sysward/ that Install
// named (enforcer.InstalledHash) and InstallFrom no longer holds, unless a
// running container uses one (its linux.seccomp has that hash). It does
// nothing while it cannot be sure: InstallFrom unreadable, containers left
// untracked by the cap, or new cgroups not yet matched to their container
// (one may be starting with that profile). Files of other names (the
// agent's own sysward-agent.json, a copy made by hand) are never removed.
func (n *Node) removeStale() {
	if n.opts.InstallFrom == "" || n.opts.ProfilesDir == "" || n.wanted == nil {
		return
	}
	dir := filepath.Join(n.opts.ProfilesDir, enforcer.KubeletSubdir)
	names, _, err := listFlat(dir, MaxIndexedProfiles)
	if err != nil {
		return
	}
	var stale []string
	for _, name := range names {
		if _, ok := enforcer.InstalledHash(name); ok && !n.wanted[name] {
			stale = append(stale, name)
		}
	}
	if len(stale) == 0 {
		return
	}
	used, sure := n.usedHashes()
	if !sure {
		return
	}
	for _, name := range stale {
		hash, _ := enforcer.InstalledHash(name)
		if used[hash] {
			if !n.keptLogged[name] {
				n.log.Info("stale profile kept: a running container uses it", "profile", filepath.Join(dir, name))
				n.keptLogged[name] = true
			}
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			n.log.Warn("removing stale profile", "profile", path, "err", err)
			continue
		}
		delete(n.keptLogged, name)
		n.log.Info("stale profile removed", "profile", path)
	}
}

// usedHashes is the set of profile hashes (NodeContainer.Hash) the
// tracked containers run under, and whether it is certain: not while
// containers are left untracked by the cap or new cgroups are not yet
// matched to their container (one may be starting with any profile). A
// stale installed profile is removed only when sure and not in the set.
func (n *Node) usedHashes() (used map[string]bool, sure bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	used = make(map[string]bool, len(n.containers))
	for _, nc := range n.containers {
		used[nc.Hash] = true
	}
	return used, n.skipped == 0 && len(n.pending) == 0
}

// InstallSkipped is how many versions of files under InstallFrom were
// refused (not a regular file, too large, not a valid profile, or an
// installed file of that name with other content) since NewNode.
func (n *Node) InstallSkipped() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.installSkipped
}
