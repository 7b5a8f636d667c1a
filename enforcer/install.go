package enforcer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

// DefaultKubeletRoot is the kubelet's seccomp profile root
// (--seccomp-profile-root was removed; it is <root-dir>/seccomp).
const DefaultKubeletRoot = "/var/lib/kubelet/seccomp"

// KubeletSubdir is the folder under the root that sysward owns.
const KubeletSubdir = "sysward"

// InstallOptions say where and under which name Install writes.
type InstallOptions struct {
	// Root is the kubelet seccomp root; "" means DefaultKubeletRoot.
	Root string
	// Namespace and Name identify the workload ("" Namespace: "default").
	// Name "" uses Fallback.
	Namespace, Name string
	// Fallback names the file when Name is empty (usually the profile's
	// file name without extension).
	Fallback string
}

// Installed says what Install wrote.
type Installed struct {
	// Path is the file written (or found identical).
	Path string
	// LocalhostProfile is the value for
	// securityContext.seccompProfile.localhostProfile: Path relative to Root.
	LocalhostProfile string
	// Hash is the first 12 hex digits of the SHA-256 of the file content.
	Hash string
	// Unchanged is true when the same content was already installed.
	Unchanged bool
}

// SecurityContext returns a ready pod/container securityContext snippet (YAML).
func (in *Installed) SecurityContext() string {
	return fmt.Sprintf("securityContext:\n  seccompProfile:\n    type: Localhost\n    localhostProfile: %s\n", in.LocalhostProfile)
}

var nameSafe = regexp.MustCompile(`[^a-z0-9.-]+`)

// RuntimeProfile returns the part of p container runtimes read: p without
// sysward's metadata, in canonical form. The content hash covers exactly
// this, so only a change in enforcement changes the installed file name.
func RuntimeProfile(p *profiles.Profile) ([]byte, error) {
	q := p.Clone()
	q.Sysward = nil
	return profiles.Marshal(q)
}

// RuntimeHash is the content hash Install puts in the file name: the first
// 12 hex digits of the SHA-256 of RuntimeProfile(p). A container's
// linux.seccomp (config.json) wrapped in a Profile hashes to the same value
// as the installed profile it was made from, which is how `sysward watch
// --all-containers` finds a container's profile.
func RuntimeHash(p *profiles.Profile) (string, error) {
	data, err := RuntimeProfile(p)
	if err != nil {
		return "", err
	}
	return contentHash(data), nil
}

func contentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:12]
}

// Install writes p's runtime part under Root/sysward/ as
// "<namespace>-<name>-<sha256[:12]>.json", atomically. The hash in the name
// means a pod that references a file keeps getting exactly that content: a
// changed profile is a new file with a new localhostProfile, never an
// in-place edit under a running pod. Installing identical content again is
// a no-op. p is compiled first (Check and Compile), so a profile the
// kernel would not take is refused before anything is written.
func Install(p *profiles.Profile, opts InstallOptions) (*Installed, error) {
	if _, err := Compile(p, nil); err != nil {
		return nil, err
	}
	root := opts.Root
	if root == "" {
		root = DefaultKubeletRoot
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "default"
	}
	name := opts.Name
	if name == "" {
		name = opts.Fallback
	}
	if name == "" {
		name = "profile"
	}
	ns = strings.Trim(nameSafe.ReplaceAllString(strings.ToLower(ns), "-"), "-.")
	name = strings.Trim(nameSafe.ReplaceAllString(strings.ToLower(name), "-"), "-.")
	if ns == "" || name == "" {
		return nil, fmt.Errorf("%w: namespace/name %q/%q has no usable characters", ErrBadName, opts.Namespace, opts.Name)
	}
	data, err := RuntimeProfile(p)
	if err != nil {
		return nil, err
	}
	hash := contentHash(data)
	dir := filepath.Join(root, KubeletSubdir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	file := fmt.Sprintf("%s-%s-%s.json", ns, name, hash)
	in := &Installed{Path: filepath.Join(dir, file), LocalhostProfile: KubeletSubdir + "/" + file, Hash: hash}
	if old, err := inputfile.Read(in.Path, profiles.MaxFileSize); err == nil {
		if string(old) == string(data) {
			in.Unchanged = true
			return in, nil
		}
		// Same name, other content: a hash collision or a hand edit.
		// Never overwrite what a pod may be running with.
		return nil, fmt.Errorf("installing %s: %w", in.Path, ErrInstalledDiffers)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading installed profile: %w", err)
	}
	if err := profiles.WriteFileAtomic(in.Path, data, 0o644); err != nil {
		return nil, err
	}
	return in, nil
}

// ErrBadName: the namespace or name has no character usable in a file name.
var ErrBadName = errors.New("bad profile name")

// ErrInstalledDiffers: the versioned file exists with other content.
var ErrInstalledDiffers = errors.New("an installed profile with this name has different content")

// installedName matches the file names Install writes:
// "<namespace>-<name>-<sha256[:12]>.json".
var installedName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*-([0-9a-f]{12})\.json$`)

// InstalledHash returns the content hash in the name of a file Install
// wrote (base name only), false for any other name (such as a profile
// copied by hand or the agent's own sysward-agent.json).
func InstalledHash(name string) (string, bool) {
	m := installedName.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	return m[1], true
}
