package procinfo

import (
	"strings"
	"testing"
)

const (
	hexA = "4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970"
	hexB = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d"
	uid  = "0f5b6c8e-2a7d-4a91-9d43-2c1b1f0e7a55"
	uidU = "0f5b6c8e_2a7d_4a91_9d43_2c1b1f0e7a55"
)

func TestParseCgroupPath(t *testing.T) {
	tests := []struct {
		name string
		path string
		want Container
	}{
		{"root", "/", Container{}},
		{"empty", "", Container{}},
		{"systemd service", "/system.slice/ssh.service", Container{}},
		{"user session scope", "/user.slice/user-1000.slice/session-3.scope", Container{}},
		{"docker systemd", "/system.slice/docker-" + hexA + ".scope", Container{ID: hexA, Runtime: RuntimeDocker}},
		{"docker cgroupfs", "/docker/" + hexA, Container{ID: hexA, Runtime: RuntimeDocker}},
		{"podman systemd", "/machine.slice/libpod-" + hexA + ".scope", Container{ID: hexA, Runtime: RuntimePodman}},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + hexA + ".scope", Container{ID: hexA, Runtime: RuntimePodman}},
		{"podman in-container payload", "/machine.slice/libpod-" + hexA + ".scope/container", Container{}},
		{"podman cgroupfs", "/libpod_parent/libpod-" + hexA, Container{ID: hexA, Runtime: RuntimePodman}},
		{"podman conmon is not the container", "/machine.slice/libpod-conmon-" + hexA + ".scope", Container{}},
		{"kubelet systemd containerd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + hexA + ".scope",
			Container{ID: hexA, Runtime: RuntimeContainerd, PodUID: uid}},
		{"kubelet systemd crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + hexB + ".scope",
			Container{ID: hexB, Runtime: RuntimeCRIO, PodUID: uid}},
		{"kubelet systemd guaranteed", "/kubepods.slice/kubepods-pod" + uidU + ".slice/crio-" + hexB + ".scope",
			Container{ID: hexB, Runtime: RuntimeCRIO, PodUID: uid}},
		{"kubelet cri-dockerd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/docker-" + hexB + ".scope",
			Container{ID: hexB, Runtime: RuntimeDocker, PodUID: uid}},
		{"kubelet cgroupfs", "/kubepods/besteffort/pod" + uid + "/" + hexA, Container{ID: hexA, PodUID: uid}},
		{"kubelet cgroupfs crio", "/kubepods/burstable/pod" + uid + "/crio-" + hexA, Container{ID: hexA, Runtime: RuntimeCRIO, PodUID: uid}},
		{"kubelet pod slice only", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice", Container{PodUID: uid}},
		{"containerd no SystemdCgroup", "/kubepods-burstable-pod" + uidU + ".slice:cri-containerd:" + hexA, Container{ID: hexA, Runtime: RuntimeContainerd, PodUID: uid}},
		{"ctr hex id", "/default/" + hexA, Container{ID: hexA, Runtime: RuntimeContainerd, Namespace: "default"}},
		{"ctr named id", "/default/web1", Container{ID: "web1", Runtime: RuntimeContainerd, Namespace: "default", Ambiguous: true}},
		{"runc named id", "/mybox", Container{ID: "mybox", Runtime: RuntimeRunc, Ambiguous: true}},
		{"runc hex id", "/" + hexB, Container{ID: hexB, Runtime: RuntimeRunc}},
		{"runc systemd", "/system.slice/runc-mybox.scope", Container{ID: "mybox", Runtime: RuntimeRunc}},
		{"trailing slash", "/docker/" + hexA + "/", Container{ID: hexA, Runtime: RuntimeDocker}},
		{"short hex is no docker id", "/system.slice/docker-abc.scope", Container{}},
		{"deep unknown", "/a/b/c", Container{}},
		{"odd characters", "/has space", Container{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseCgroupPath(tt.path); got != tt.want {
				t.Errorf("ParseCgroupPath(%q)\n got %+v\nwant %+v", tt.path, got, tt.want)
			}
		})
	}
}

func TestShortID(t *testing.T) {
	for _, tt := range []struct {
		c    Container
		want string
	}{
		{Container{}, "host"},
		{Container{ID: hexA}, hexA[:12]},
		{Container{ID: "web1"}, "web1"},
	} {
		if got := tt.c.ShortID(); got != tt.want {
			t.Errorf("%+v.ShortID() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func FuzzParseCgroupPath(f *testing.F) {
	for _, s := range []string{"/", "/docker/" + hexA, "/system.slice/docker-" + hexA + ".scope", "/default/x",
		"/kubepods/besteffort/pod" + uid + "/" + hexA, "/kubepods-pod" + uidU + ".slice:cri-containerd:" + hexA, "/kubepods/pod/", "pod"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c := ParseCgroupPath(p)
		if c.ID != "" && !strings.Contains(p, c.ID) {
			t.Fatalf("id %q not in path %q", c.ID, p)
		}
		if c.ID == "" && (c.Runtime != "" || c.Ambiguous) {
			t.Fatalf("runtime without id: %+v", c)
		}
		if c.PodUID != "" && !isUUID(c.PodUID) {
			t.Fatalf("pod uid %q", c.PodUID)
		}
		if len(c.ShortID()) > len(c.ID) && c.ID != "" {
			t.Fatalf("short id longer than id")
		}
	})
}
