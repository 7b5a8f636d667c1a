package procinfo

import (
	"path"
	"strings"
)

// Runtime names, as Falco spells container.type where it has one.
const (
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimePodman     = "podman"
	RuntimeRunc       = "runc"
)

// HostContainerID is what Falco reports as container.id for a process that
// runs in no container; rules such as Falco's `container` macro
// (container.id != host) rely on it.
const HostContainerID = "host"

// Container is what a cgroup2 path tells about the container a process runs in.
type Container struct {
	// ID is the full container id ("" when the path is no container's).
	ID string
	// Runtime is one of the Runtime* names ("" when unknown).
	Runtime string
	// PodUID is the Kubernetes pod UID (with dashes) for kubepods paths.
	PodUID string
	// Namespace is containerd's namespace for `ctr` containers ("default", …).
	Namespace string
	// Ambiguous is set when the shape alone cannot tell a container from an
	// ordinary cgroup (runc's "/<id>" and ctr's "/<namespace>/<id>"); a
	// Reader confirms such a match against the runtime's state directory.
	Ambiguous bool
}

// ShortID is the 12-character id Falco prints as container.id, or "host".
func (c Container) ShortID() string {
	if c.ID == "" {
		return HostContainerID
	}
	if isHex(c.ID) && len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}

// scopeShapes are systemd unit names "<prefix><id><suffix>" that runtimes
// create for a container; the id is 64 hex digits for all of them.
var scopeShapes = []struct{ prefix, suffix, runtime string }{
	{"docker-", ".scope", RuntimeDocker},
	{"cri-containerd-", ".scope", RuntimeContainerd},
	{"crio-", ".scope", RuntimeCRIO},
	{"libpod-", ".scope", RuntimePodman},
	{"libpod-", "", RuntimePodman}, // podman with the cgroupfs manager: /libpod_parent/libpod-<id>
	{"crio-", "", RuntimeCRIO},     // cri-o with the cgroupfs manager
}

// ParseCgroupPath recognises the container in a cgroup2 path (as written in
// /proc/PID/cgroup: relative to the cgroup2 mount, starting with "/"). The
// shapes it knows:
//
//	/system.slice/docker-<64hex>.scope                       docker, systemd driver
//	/docker/<64hex>                                          docker, cgroupfs driver
//	/machine.slice/libpod-<64hex>.scope  /libpod_parent/libpod-<64hex>   podman
//	/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<64hex>.scope
//	/kubepods.slice/…/crio-<64hex>.scope   …/docker-<64hex>.scope (cri-dockerd)
//	/kubepods/besteffort/pod<uid>/<64hex>                    kubelet, cgroupfs driver (runtime unknown)
//	/kubepods-…-pod<uid>.slice:cri-containerd:<64hex>        containerd without SystemdCgroup
//	/<namespace>/<id>                                        containerd's ctr (Ambiguous)
//	/<id>                                                    runc run, cgroupfs driver (Ambiguous)
//	/system.slice/runc-<id>.scope  /runc.slice/…             runc run --systemd-cgroup
//
// libpod-conmon-<id>.scope is podman's monitor, not the container: it is not
// reported. A path of no container returns the zero Container.
func ParseCgroupPath(p string) Container {
	p = strings.TrimSpace(p)
	p = strings.TrimSuffix(p, "/")
	if p == "" || p == "/" {
		return Container{}
	}
	var c Container
	c.PodUID = podUID(p)
	last := path.Base(p)

	// containerd with the cgroupfs driver and a systemd-style cgroupsPath
	// keeps the "slice:prefix:name" triple as a literal directory name.
	if i := strings.LastIndex(last, ":cri-containerd:"); i >= 0 {
		if id := last[i+len(":cri-containerd:"):]; isContainerHex(id) {
			c.ID, c.Runtime = id, RuntimeContainerd
			return c
		}
	}
	if strings.HasPrefix(last, "libpod-conmon-") {
		return Container{}
	}
	for _, s := range scopeShapes {
		if !strings.HasPrefix(last, s.prefix) || !strings.HasSuffix(last, s.suffix) {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(last, s.prefix), s.suffix)
		if isContainerHex(id) {
			c.ID, c.Runtime = id, s.runtime
			return c
		}
	}
	// runc --systemd-cgroup without a cgroupsPath: system.slice/runc-<id>.scope.
	if strings.HasPrefix(last, "runc-") && strings.HasSuffix(last, ".scope") {
		if id := strings.TrimSuffix(strings.TrimPrefix(last, "runc-"), ".scope"); id != "" {
			c.ID, c.Runtime = id, RuntimeRunc
			return c
		}
	}
	parent := path.Dir(p)
	if isContainerHex(last) {
		// 64 hex digits are distinctive enough on their own.
		c.ID = last
		switch {
		case path.Base(parent) == "docker":
			c.Runtime = RuntimeDocker
		case c.PodUID != "":
			// kubelet with the cgroupfs driver: the runtime is not in the path.
		case parent == "/" || parent == ".":
			c.Runtime = RuntimeRunc
		case path.Dir(parent) == "/" || path.Dir(parent) == ".":
			c.Runtime, c.Namespace = RuntimeContainerd, path.Base(parent)
		}
		return c
	}
	if c.PodUID != "" || isSystemdUnit(last) {
		return Container{PodUID: c.PodUID}
	}
	// Ambiguous shapes with arbitrary ids: only a runtime's state confirms them.
	if !validID(last) {
		return Container{}
	}
	rel := strings.TrimPrefix(p, "/")
	switch strings.Count(rel, "/") {
	case 0:
		return Container{ID: last, Runtime: RuntimeRunc, Ambiguous: true}
	case 1:
		return Container{ID: last, Runtime: RuntimeContainerd, Namespace: path.Base(parent), Ambiguous: true}
	}
	return Container{}
}

// podUID extracts a pod UID from kubepods paths: "pod<uid>" directories
// (cgroupfs driver) and "kubepods-<qos>-pod<uid_with_underscores>.slice"
// units (systemd driver).
func podUID(p string) string {
	if !strings.Contains(p, "kubepods") {
		return ""
	}
	for _, el := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == ':' }) {
		el = strings.TrimSuffix(el, ".slice")
		if i := strings.LastIndex(el, "pod"); i >= 0 {
			if i > 0 && el[i-1] != '-' {
				continue
			}
			uid := strings.ReplaceAll(el[i+3:], "_", "-")
			if isUUID(uid) {
				return uid
			}
		}
	}
	return ""
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !isHexRune(r) {
				return false
			}
		}
	}
	return true
}

func isContainerHex(s string) bool { return len(s) == 64 && isHex(s) }

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isHexRune(r) {
			return false
		}
	}
	return true
}

func isHexRune(r rune) bool { return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' }

// validID accepts what runc and containerd accept as an id: [A-Za-z0-9][A-Za-z0-9_.+-]*.
func validID(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i > 0 {
			ok = ok || r == '_' || r == '.' || r == '+' || r == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

func isSystemdUnit(s string) bool {
	for _, suf := range []string{".slice", ".scope", ".service", ".socket", ".mount"} {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}
