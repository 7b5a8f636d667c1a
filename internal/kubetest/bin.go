package kubetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Version is the Kubernetes release the test node runs. The k8s.io/*
// staging modules are used at the matching v0.N.M (go.mod's k8s.io/api).
const Version = "v1.37.2"

// CrictlVersion is the cri-tools release built beside it (debugging and a
// clean CRI teardown of pod sandboxes).
const CrictlVersion = "v1.37.0"

// Binaries are the executables the node needs, all built from
// k8s.io/kubernetes at Version (crictl from cri-tools).
var Binaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl", "crictl"}

// BinDir is the stable cache of the binaries: $SYSWARD_K8S_BIN, else
// /var/cache/sysward/k8s/<Version>/bin. It survives test runs so that only
// the first run builds (a cold build is tens of minutes on a loaded 2-core
// machine, under a minute with a warm Go build cache).
func BinDir() string {
	if d := os.Getenv("SYSWARD_K8S_BIN"); d != "" {
		return d
	}
	return filepath.Join("/var/cache/sysward/k8s", Version, "bin")
}

// seedDirs hold binaries built by the same method (scratch module, replace
// directives to the v0.N.M staging modules, CGO_ENABLED=0 -trimpath) that
// are copied instead of rebuilding.
var seedDirs = []string{"/var/cache/sysward-k8s/bin"}

// EnsureBinaries makes every binary of Binaries present in BinDir: copied
// from a seed directory when one has it at Version, else built with the Go
// toolchain through the module proxy. logf reports each step.
func EnsureBinaries(logf func(string, ...any)) (string, error) {
	dir := BinDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating binary cache: %w", err)
	}
	var missing []string
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err == nil {
			continue
		}
		if seeded(dir, b, logf) {
			continue
		}
		missing = append(missing, b)
	}
	if len(missing) == 0 {
		return dir, nil
	}
	logf("building %s (%s) into %s: a cold Go cache takes tens of minutes", strings.Join(missing, " "), Version, dir)
	if err := build(dir, missing); err != nil {
		return "", err
	}
	return dir, nil
}

// seeded copies b from a seed directory if that copy reports Version.
func seeded(dir, b string, logf func(string, ...any)) bool {
	for _, s := range seedDirs {
		src := filepath.Join(s, b)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if b != "crictl" {
			arg := []string{"--version"}
			if b == "kubectl" {
				arg = []string{"version", "--client"}
			}
			out, _ := exec.Command(src, arg...).CombinedOutput()
			if !bytes.Contains(out, []byte(Version)) {
				continue
			}
		}
		if err := copyFile(src, filepath.Join(dir, b)); err != nil {
			logf("seeding %s from %s: %v", b, s, err)
			continue
		}
		logf("seeded %s from %s", b, s)
		return true
	}
	return false
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

var replaceLine = regexp.MustCompile(`^\s*(k8s\.io/[^\s]+)\s+=>\s+\./staging/`)

// build makes a scratch module requiring k8s.io/kubernetes at Version in
// which every staging module k8s.io/kubernetes replaces with ./staging/… is
// replaced by its published v0.N.M instead, then one go build.
func build(dir string, bins []string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	work := filepath.Join(filepath.Dir(dir), "build")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("creating build dir: %w", err)
	}
	run := func(env []string, args ...string) ([]byte, error) {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail(out, 4000))
		}
		return out, nil
	}
	staging := "v0." + strings.TrimPrefix(Version, "v1.")
	var k8sBins, pkgs []string
	for _, b := range bins {
		if b != "crictl" {
			k8sBins = append(k8sBins, b)
			pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+b)
		}
	}
	if len(k8sBins) > 0 {
		out, err := run(nil, "mod", "download", "-json", "k8s.io/kubernetes@"+Version)
		if err != nil {
			return fmt.Errorf("downloading k8s.io/kubernetes: %w", err)
		}
		var info struct{ GoMod string }
		if err := json.Unmarshal(out, &info); err != nil {
			return fmt.Errorf("reading go mod download output: %w", err)
		}
		kmod, err := os.ReadFile(info.GoMod)
		if err != nil {
			return fmt.Errorf("reading k8s.io/kubernetes go.mod: %w", err)
		}
		var gomod strings.Builder
		fmt.Fprintf(&gomod, "module sysward-k8s-build\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", Version)
		for _, l := range strings.Split(string(kmod), "\n") {
			if m := replaceLine.FindStringSubmatch(l); m != nil {
				fmt.Fprintf(&gomod, "\t%s => %s %s\n", m[1], m[1], staging)
			}
		}
		gomod.WriteString(")\n")
		tools := "//go:build tools\n\npackage build\n\nimport (\n"
		for _, p := range pkgs {
			tools += fmt.Sprintf("\t_ %q\n", p)
		}
		tools += ")\n"
		if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(gomod.String()), 0o644); err != nil {
			return fmt.Errorf("writing scratch go.mod: %w", err)
		}
		if err := os.WriteFile(filepath.Join(work, "tools.go"), []byte(tools), 0o644); err != nil {
			return fmt.Errorf("writing scratch tools.go: %w", err)
		}
		if _, err := run(nil, "mod", "tidy"); err != nil {
			return fmt.Errorf("resolving the scratch module: %w", err)
		}
		minor := strings.Split(Version, ".")[1]
		ld := "-s -w"
		for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
			ld += fmt.Sprintf(" -X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean", p, Version, p, p, minor, p)
		}
		args := append([]string{"build", "-tags", "tools", "-trimpath", "-ldflags", ld, "-o", dir + "/"}, pkgs...)
		if _, err := run([]string{"CGO_ENABLED=0"}, args...); err != nil {
			return fmt.Errorf("building kubernetes %s: %w", Version, err)
		}
	}
	for _, b := range bins {
		if b == "crictl" {
			if _, err := run([]string{"CGO_ENABLED=0", "GOBIN=" + dir, "GOFLAGS=-mod=mod"}, "install", "-trimpath", "-ldflags", "-s -w", "sigs.k8s.io/cri-tools/cmd/crictl@"+CrictlVersion); err != nil {
				return fmt.Errorf("building crictl: %w", err)
			}
		}
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
