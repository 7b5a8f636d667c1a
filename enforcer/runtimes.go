package enforcer

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

// OCISeccomp returns p as the runtime-spec's linux.seccomp value (a deep
// copy; sysward's metadata is not part of it). p is checked with Compile
// first, so a runtime never receives a profile sysward would refuse.
func OCISeccomp(p *profiles.Profile) (*specs.LinuxSeccomp, error) {
	if _, err := Compile(p, nil); err != nil {
		return nil, err
	}
	q := p.Clone()
	s := q.LinuxSeccomp
	return &s, nil
}

// ApplyToSpec sets spec.Linux.Seccomp to p (for runc, crun, or any OCI
// runtime reading config.json).
func ApplyToSpec(spec *specs.Spec, p *profiles.Profile) error {
	s, err := OCISeccomp(p)
	if err != nil {
		return err
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	spec.Linux.Seccomp = s
	return nil
}

// maxBundleConfigSize caps a bundle's config.json: 16 MiB (runc's own
// configs are a few KiB; a seccomp profile in it is at most
// profiles.MaxFileSize).
const maxBundleConfigSize = 16 << 20

// ApplyToBundle rewrites bundle/config.json (atomically) with
// linux.seccomp set to p, keeping every other field as it was.
func ApplyToBundle(bundle string, p *profiles.Profile) error {
	path := filepath.Join(bundle, "config.json")
	raw, err := inputfile.Read(path, maxBundleConfigSize)
	if err != nil {
		return fmt.Errorf("reading bundle config: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	var linux map[string]json.RawMessage
	if l, ok := doc["linux"]; ok {
		if err := json.Unmarshal(l, &linux); err != nil {
			return fmt.Errorf("parsing %s linux: %w", path, err)
		}
	}
	if linux == nil {
		linux = map[string]json.RawMessage{}
	}
	s, err := OCISeccomp(p)
	if err != nil {
		return err
	}
	if linux["seccomp"], err = json.Marshal(s); err != nil {
		return err
	}
	if doc["linux"], err = json.Marshal(linux); err != nil {
		return err
	}
	out, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return err
	}
	return profiles.WriteFileAtomic(path, append(out, '\n'), 0o644)
}

// WriteRuntimeFile writes p's runtime part (RuntimeProfile) to path
// atomically: the file `ctr run --seccomp-profile` and podman
// `--security-opt seccomp=` read.
func WriteRuntimeFile(path string, p *profiles.Profile) error {
	if _, err := Compile(p, nil); err != nil {
		return err
	}
	data, err := RuntimeProfile(p)
	if err != nil {
		return err
	}
	return profiles.WriteFileAtomic(path, data, 0o644)
}

// CtrArgs are the `ctr run` flags that apply the profile file at path
// (containerd ≥ 1.5: --seccomp enables seccomp, --seccomp-profile picks the file).
func CtrArgs(path string) []string {
	return []string{"--seccomp", "--seccomp-profile", path}
}

// PodmanArgs are the `podman run` flags that apply the profile file at path.
func PodmanArgs(path string) []string {
	return []string{"--security-opt", "seccomp=" + path}
}

// DockerArgs are the `docker run` flags that apply the profile file at path.
func DockerArgs(path string) []string {
	return []string{"--security-opt", "seccomp=" + path}
}
