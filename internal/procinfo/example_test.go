package procinfo_test

import (
	"fmt"

	"github.com/sysward/sysward/internal/procinfo"
)

func ExampleParseCgroupPath() {
	for _, p := range []string{
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f5b6c8e_2a7d_4a91_9d43_2c1b1f0e7a55.slice/cri-containerd-4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970.scope",
		"/system.slice/docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope",
		"/user.slice/user-1000.slice/session-3.scope",
	} {
		c := procinfo.ParseCgroupPath(p)
		fmt.Printf("%s %q %q\n", c.ShortID(), c.Runtime, c.PodUID)
	}
	// Output:
	// 4f797c539e6c "containerd" "0f5b6c8e-2a7d-4a91-9d43-2c1b1f0e7a55"
	// 9ec39b91f3d7 "docker" ""
	// host "" ""
}
