package enforcer

import (
	"path/filepath"
	"regexp"
	"testing"
)

// TestInstalledHash: the names Install writes give back their hash; other
// names (the agent's own profile, hand copies, near misses) give none.
func TestInstalledHash(t *testing.T) {
	root := t.TempDir()
	in, err := Install(lsProfile(t), InstallOptions{Root: root, Namespace: "Shop", Name: "web.v2"})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := InstalledHash(filepath.Base(in.Path)); !ok || h != in.Hash {
		t.Errorf("InstalledHash(%s) = %q %v, want %s", filepath.Base(in.Path), h, ok, in.Hash)
	}
	for _, name := range []string{"sysward-agent.json", "web.json", "shop-web-06cc7a36032.json", "shop-web-06cc7a360327.json.tmp",
		"shop-web-06CC7A360327.json", "-06cc7a360327.json", "shop/web-06cc7a360327.json", ".shop-web-06cc7a360327.json"} {
		if h, ok := InstalledHash(name); ok {
			t.Errorf("InstalledHash(%q) = %q, want none", name, h)
		}
	}
}

// FuzzInstalledHash: whatever the name, a hash is returned only for a
// plain file name (no leading dot or dash) ending in "-<12 lowercase hex>.json", and it is those 12
// digits.
func FuzzInstalledHash(f *testing.F) {
	for _, s := range []string{"shop-web-06cc7a360327.json", "sysward-agent.json", "", "-.json", "a-000000000000.json\n"} {
		f.Add(s)
	}
	shape := regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*-[0-9a-f]{12}\.json$`)
	f.Fuzz(func(t *testing.T, name string) {
		h, ok := InstalledHash(name)
		if ok != shape.MatchString(name) {
			t.Fatalf("InstalledHash(%q) ok=%v", name, ok)
		}
		if ok && (len(h) != 12 || name[len(name)-len(".json")-12:len(name)-len(".json")] != h) {
			t.Fatalf("InstalledHash(%q) = %q", name, h)
		}
	})
}
