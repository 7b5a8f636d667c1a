package watch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

// Profiles from the cluster store (WorkloadProfile Status.Applied) are
// installed as <ProfilesDir>/sysward/<namespace>/<file>.json, the path the
// entry's LocalhostProfile names. The entry is written by whoever can
// update WorkloadProfiles in that namespace, so it is judged as hostile
// input: its path must be exactly sysward/<the object's namespace>/<file>
// with a plain file name ending in -<the first 12 hex of Hash>.json, its
// content a bounded profile the kernel takes whose sha256 is the entry's
// Hash. A refused entry is never written and
// is counted (Node.StoreRefused). The flat files of --install-from live
// directly in sysward/ (a namespace name has no dot, an installed name
// always has one), so neither cleanup ever touches the other's files.

// maxStoreFileName bounds the <file> part of a LocalhostProfile.
const maxStoreFileName = 200

// storeFileName is a file name the store may install: lowercase letters,
// digits, '.', '_' and '-', starting with a letter or digit, ending in
// .json (no slash, so no directory; ".." is refused separately).
var storeFileName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*\.json$`)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Errors of storeEntryFile (wrapped with the entry's details).
var (
	ErrStorePath = errors.New("localhostProfile is not sysward/<namespace>/<file>.json")
	ErrStoreHash = errors.New("profile content does not match its hash")
	ErrStoreSize = errors.New("profile too large")
)

// storeEntryFile checks one Applied entry of an object in namespace ns and
// returns the path relative to the sysward folder ("<ns>/<file>") and the
// bytes to write: the entry's content as stored, or its canonical encoding
// (profiles.Marshal; the apiserver re-encodes the schemaless field),
// whichever hashes to Hash.
func storeEntryFile(ns string, e *v1.AppliedProfile) (rel string, data []byte, err error) {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return "", nil, fmt.Errorf("%w: namespace %q: %s", ErrStorePath, ns, errs[0])
	}
	prefix := enforcer.KubeletSubdir + "/" + ns + "/"
	file, ok := strings.CutPrefix(e.LocalhostProfile, prefix)
	if !ok || len(file) > maxStoreFileName || !storeFileName.MatchString(file) || strings.Contains(file, "..") {
		return "", nil, fmt.Errorf("%w: %.300q (object in namespace %s)", ErrStorePath, e.LocalhostProfile, ns)
	}
	raw := e.Profile.Raw
	if len(raw) == 0 || len(raw) > profiles.MaxFileSize {
		return "", nil, fmt.Errorf("%w: %s: %d bytes (limit %d)", ErrStoreSize, e.LocalhostProfile, len(raw), profiles.MaxFileSize)
	}
	if !sha256Hex.MatchString(e.Hash) {
		return "", nil, fmt.Errorf("%w: %s: hash %.80q is not a sha256 in lowercase hex", ErrStoreHash, e.LocalhostProfile, e.Hash)
	}
	hashOf := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	p, err := profiles.Parse(e.LocalhostProfile, raw)
	if err != nil {
		return "", nil, err
	}
	data = raw
	if hashOf(raw) != e.Hash {
		if data, err = profiles.Marshal(p); err != nil {
			return "", nil, err
		}
		if hashOf(data) != e.Hash || len(data) > profiles.MaxFileSize {
			return "", nil, fmt.Errorf("%w: %s", ErrStoreHash, e.LocalhostProfile)
		}
	}
	// The file is named by its content, as apply names it
	// (<object>-v<version>-<mode>-<first 12 hex of the hash>.json): an
	// entry whose content and hash were swapped under a path pods
	// already name (whoever may update the object, any node's agent
	// included) would otherwise replace what they start under.
	if !strings.HasSuffix(file, "-"+e.Hash[:12]+".json") {
		return "", nil, fmt.Errorf("%w: %.300q does not end in -%s.json, its hash's first 12 hex (object in namespace %s)", ErrStorePath, e.LocalhostProfile, e.Hash[:12], ns)
	}
	// The check enforcer.Install makes: a profile the kernel would not
	// take is never installed.
	if _, err := enforcer.Compile(p, nil); err != nil {
		return "", nil, fmt.Errorf("%s: %w", e.LocalhostProfile, err)
	}
	return ns + "/" + file, data, nil
}

// storeSource is what the Node installs from the cluster store: the
// validated Applied entries of every WorkloadProfile (StoreLearner).
type storeSource interface {
	// wantedFiles returns the files to install, by path relative to the
	// sysward folder, and false until the store's first list arrived
	// (nothing is removed before).
	wantedFiles() (map[string][]byte, bool)
}

// installStore writes the store's wanted files that are missing or differ
// (atomically: a temp file renamed into place), during a full pass.
func (n *Node) installStore() {
	if n.store == nil || n.opts.ProfilesDir == "" {
		return
	}
	wanted, ok := n.store.wantedFiles()
	if !ok {
		n.storeWanted = nil
		return
	}
	if n.storeKeys == nil {
		n.storeKeys = map[string]fileVersion{}
	}
	base := filepath.Join(n.opts.ProfilesDir, enforcer.KubeletSubdir)
	for rel, data := range wanted {
		path := filepath.Join(base, rel)
		key := statKey(path)
		if k, ok := n.storeKeys[rel]; ok && k == key && key.statError == "" {
			continue // written (or found right) by an earlier pass, unchanged since
		}
		if old, err := inputfile.Read(path, profiles.MaxFileSize); err == nil && bytes.Equal(old, data) {
			n.storeKeys[rel] = key
			continue
		}
		if err := writeStoreFile(base, rel, data); err != nil {
			n.log.Warn("installing profile from the store", "profile", path, "err", err)
			continue
		}
		n.storeKeys[rel] = statKey(path)
		n.mu.Lock()
		n.storeInstalled++
		n.mu.Unlock()
		n.log.Info("profile installed from the store", "profile", path)
	}
	for rel := range n.storeKeys {
		if _, ok := wanted[rel]; !ok {
			delete(n.storeKeys, rel)
		}
	}
	n.storeWanted = wanted
}

// writeStoreFile writes base/rel (rel is "<ns>/<file>", checked) through a
// real directory: a symlink in place of the namespace folder is refused.
func writeStoreFile(base, rel string, data []byte) error {
	ns, _, _ := strings.Cut(rel, "/")
	dir := filepath.Join(base, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{base, dir} {
		fi, err := os.Lstat(d)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory (%s)", d, fi.Mode().Type())
		}
	}
	return profiles.WriteFileAtomic(filepath.Join(base, rel), data, 0o644)
}

// removeStaleStore removes the files under sysward/<namespace>/ that no
// Applied entry names any more and no running container uses (its
// linux.seccomp hashes like the file), under the same certainty rules as
// removeStale. Only directories named like a namespace are looked into:
// the flat --install-from files next to them are removeStale's.
func (n *Node) removeStaleStore() {
	if n.store == nil || n.opts.ProfilesDir == "" || n.storeWanted == nil {
		return
	}
	base := filepath.Join(n.opts.ProfilesDir, enforcer.KubeletSubdir)
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	var stale []string
	for _, e := range ents {
		if !e.IsDir() || len(validation.IsDNS1123Label(e.Name())) > 0 {
			continue
		}
		names, _, err := listFlat(filepath.Join(base, e.Name()), MaxIndexedProfiles)
		if err != nil {
			continue
		}
		for _, name := range names {
			rel := e.Name() + "/" + name
			if _, ok := n.storeWanted[rel]; !ok {
				stale = append(stale, rel)
			}
		}
	}
	if len(stale) == 0 {
		return
	}
	used, sure := n.usedHashes()
	if !sure {
		return
	}
	for _, rel := range stale {
		path := filepath.Join(base, rel)
		if e, ok := n.indexed[path]; ok && e.hash != "" && used[e.hash] {
			if !n.keptLogged[path] {
				n.log.Info("stale store profile kept: a running container uses it", "profile", path)
				n.keptLogged[path] = true
			}
			continue
		}
		if _, ok := n.indexed[path]; !ok {
			continue // not indexed yet (written since this pass's walk): next pass
		}
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			n.log.Warn("removing stale store profile", "profile", path, "err", err)
			continue
		}
		delete(n.keptLogged, path)
		n.log.Info("stale store profile removed", "profile", path)
		_ = os.Remove(filepath.Dir(path)) // the namespace folder, once empty
	}
}

// StoreInstalled is how many profile files the Node wrote from the cluster
// store since NewNode.
func (n *Node) StoreInstalled() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.storeInstalled
}
