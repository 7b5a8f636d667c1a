package watch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/kube"
	"github.com/sysward/sysward/profiles"
)

func entryOf(t testing.TB, lp string, data []byte) v1.AppliedProfile {
	sum := sha256.Sum256(data)
	return v1.AppliedProfile{Mode: v1.ModeEnforce, Version: 1, LocalhostProfile: lp, Hash: hex.EncodeToString(sum[:]), Profile: runtime.RawExtension{Raw: data}}
}

// TestStoreEntryFile: an applied entry is installed only at
// sysward/<its object's namespace>/<plain file>.json, bounded, a profile
// the kernel takes, and hashing to Hash (as stored, or re-encoded
// canonically after the apiserver's own encoding).
func TestStoreEntryFile(t *testing.T) {
	good := marshalProfile(t, allowAllBut("sync"))
	// What the apiserver gives back: the same JSON, compact, keys sorted.
	compact := []byte(strings.Join(strings.Fields(string(good)), ""))
	sumGood := sha256.Sum256(good)
	unknown := []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["no_such_call"],"action":"SCMP_ACT_ALLOW"}]}`)
	h12 := hex.EncodeToString(sumGood[:])[:12]
	name := "web-v1-enforce-" + h12 + ".json"
	for _, tc := range []struct {
		name string
		ns   string
		e    v1.AppliedProfile
		rel  string
		err  error
	}{
		{"good", "shop", entryOf(t, "sysward/shop/"+name, good), "shop/" + name, nil},
		{"re-encoded by the apiserver", "shop", func() v1.AppliedProfile {
			e := entryOf(t, "sysward/shop/"+name, good)
			e.Profile.Raw = compact
			return e
		}(), "shop/" + name, nil},
		// Another profile (its own hash) under the path pods name: a
		// swap of what they start under.
		{"content swapped under a path", "shop", entryOf(t, "sysward/shop/"+name, marshalProfile(t, allowAllBut("mount"))), "", ErrStorePath},
		{"name without the hash", "shop", entryOf(t, "sysward/shop/web.json", good), "", ErrStorePath},
		{"dot dot", "shop", entryOf(t, "sysward/shop/../../etc/x.json", good), "", ErrStorePath},
		{"relative escape", "shop", entryOf(t, "../../etc/x.json", good), "", ErrStorePath},
		{"absolute", "shop", entryOf(t, "/etc/x.json", good), "", ErrStorePath},
		{"other namespace", "shop", entryOf(t, "sysward/kube-system/x.json", good), "", ErrStorePath},
		{"subfolder", "shop", entryOf(t, "sysward/shop/a/x.json", good), "", ErrStorePath},
		{"flat folder", "shop", entryOf(t, "sysward/shop-x.json", good), "", ErrStorePath},
		{"no json", "shop", entryOf(t, "sysward/shop/x", good), "", ErrStorePath},
		{"dot file", "shop", entryOf(t, "sysward/shop/.x.json", good), "", ErrStorePath},
		{"double dots in name", "shop", entryOf(t, "sysward/shop/a..json", good), "", ErrStorePath},
		{"too long", "shop", entryOf(t, "sysward/shop/"+strings.Repeat("a", maxStoreFileName)+".json", good), "", ErrStorePath},
		{"bad namespace", "Shop/..", entryOf(t, "sysward/Shop/../x.json", good), "", ErrStorePath},
		{"bad hash", "shop", func() v1.AppliedProfile {
			e := entryOf(t, "sysward/shop/x.json", good)
			e.Hash = strings.Repeat("0", 64)
			return e
		}(), "", ErrStoreHash},
		{"short hash", "shop", func() v1.AppliedProfile {
			e := entryOf(t, "sysward/shop/x.json", good)
			e.Hash = hex.EncodeToString(sumGood[:6])
			return e
		}(), "", ErrStoreHash},
		{"too large", "shop", entryOf(t, "sysward/shop/x.json", make([]byte, profiles.MaxFileSize+1)), "", ErrStoreSize},
		{"empty", "shop", entryOf(t, "sysward/shop/x.json", nil), "", ErrStoreSize},
		{"not a profile", "shop", entryOf(t, "sysward/shop/x.json", []byte(`{"junk":1}`)), "", profiles.ErrUnknownField},
		{"unknown syscall", "shop", entryOf(t, "sysward/shop/x.json", unknown), "", profiles.ErrUnknownSyscall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, data, err := storeEntryFile(tc.ns, &tc.e)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rel != tc.rel || string(data) != string(good) {
				t.Errorf("rel %q (want %q), data equal %v", rel, tc.rel, string(data) == string(good))
			}
		})
	}
}

// FuzzStoreEntryFile: whatever an object holds, an accepted entry is a
// plain file in its namespace's folder, with content hashing to Hash and
// within the size limit.
func FuzzStoreEntryFile(f *testing.F) {
	good := marshalProfile(f, allowAllBut("sync"))
	sum := sha256.Sum256(good)
	f.Add("shop", "sysward/shop/x-v1-enforce-"+hex.EncodeToString(sum[:])[:12]+".json", hex.EncodeToString(sum[:]), good)
	f.Add("shop", "sysward/shop/../x.json", hex.EncodeToString(sum[:]), good)
	f.Add("shop", "sysward/shop/x.json", "zz", []byte("{"))
	f.Fuzz(func(t *testing.T, ns, lp, hash string, raw []byte) {
		e := v1.AppliedProfile{LocalhostProfile: lp, Hash: hash, Profile: runtime.RawExtension{Raw: raw}}
		rel, data, err := storeEntryFile(ns, &e)
		if err != nil {
			return
		}
		dir, file := path.Split(rel)
		if dir != ns+"/" || file == "" || strings.Contains(file, "..") || strings.ContainsAny(ns, "./") || path.Clean(rel) != rel {
			t.Fatalf("accepted %q for namespace %q", rel, ns)
		}
		s := sha256.Sum256(data)
		if hex.EncodeToString(s[:]) != hash || len(data) > profiles.MaxFileSize {
			t.Fatalf("accepted content not matching its hash or too large")
		}
		if !strings.HasSuffix(file, "-"+hash[:12]+".json") {
			t.Fatalf("accepted %q: not named by its hash %s", file, hash)
		}
	})
}

// TestKeyOf: only the kinds the CRD names make a key.
func TestKeyOf(t *testing.T) {
	for _, tc := range []struct {
		workload, name string
		ok             bool
	}{
		{"shop/deployment/web", "app", true},
		{"shop/pod/debug", "c", true},
		{"shop/rollout/web", "app", false},
		{"shop/deployment/web", "", false},
		{"nonsense", "app", false},
	} {
		k, ok := keyOf(kube.Container{Workload: tc.workload, Name: tc.name})
		if ok != tc.ok || ok && k.Namespace+"/"+k.Kind+"/"+k.Workload != tc.workload {
			t.Errorf("%s %s: %+v %v", tc.workload, tc.name, k, ok)
		}
	}
}

// TestStoreNamespaceBounds: what one namespace's WorkloadProfiles install
// is bounded (files and bytes), the same files kept whatever order the
// informer lists the objects in (by object name), other namespaces not
// affected; a path two objects name is the first object's. Without the
// bound, whoever may create WorkloadProfiles in a namespace could fill
// the kubelet's disk on every node.
func TestStoreNamespaceBounds(t *testing.T) {
	defer func(f, b int) { maxStoreNamespaceFiles, maxStoreNamespaceBytes = f, b }(maxStoreNamespaceFiles, maxStoreNamespaceBytes)
	maxStoreNamespaceFiles = 3
	calls := []string{"sync", "fsync", "fdatasync", "syncfs", "chroot", "mount", "umount2", "ptrace", "kexec_load", "reboot"}
	obj := func(ns, name string, entries ...v1.AppliedProfile) *v1.WorkloadProfile {
		wp := &v1.WorkloadProfile{}
		wp.Namespace, wp.Name, wp.UID, wp.ResourceVersion = ns, name, types.UID(ns+"/"+name), "1"
		wp.Status.Applied = entries
		return wp
	}
	var objs []any
	for i := range 5 {
		name := fmt.Sprintf("deployment.w%d.app", i)
		objs = append(objs, obj("shop", name, appliedEntry(t, "shop", name, v1.ModeComplain, complainBut(calls[2*i])),
			appliedEntry(t, "shop", name, v1.ModeEnforce, allowAllBut(calls[2*i+1]))))
	}
	objs = append(objs, obj("other", "deployment.db.pg", appliedEntry(t, "other", "deployment.db.pg", v1.ModeEnforce, allowAllBut("sync"))))
	// Two objects naming one path with different content.
	same := appliedEntry(t, "other", "x", v1.ModeEnforce, allowAllBut("mount"))
	clash := appliedEntry(t, "other", "x", v1.ModeEnforce, allowAllBut("reboot"))
	clash.LocalhostProfile = same.LocalhostProfile
	objs = append(objs, obj("other", "a", same), obj("other", "b", clash))

	l := &StoreLearner{log: slog.New(slog.DiscardHandler), objs: map[types.UID]objFiles{}}
	first := l.filesOf(objs)
	slices.Reverse(objs)
	again := l.filesOf(objs)
	var shop []string
	for rel := range first {
		if strings.HasPrefix(rel, "shop/") {
			shop = append(shop, rel)
		}
	}
	slices.Sort(shop)
	if len(shop) != 3 || !strings.HasPrefix(shop[0], "shop/deployment.w0.app-") || !strings.HasPrefix(shop[2], "shop/deployment.w1.app-") {
		t.Fatalf("shop's files: %v", shop)
	}
	if len(first) != len(again) {
		t.Fatalf("another order, other files: %d, %d", len(first), len(again))
	}
	for rel, data := range first {
		if !bytes.Equal(again[rel], data) {
			t.Fatalf("%s: another order, other content", rel)
		}
	}
	if want := strings.TrimPrefix(same.LocalhostProfile, "sysward/"); !bytes.Equal(first[want], same.Profile.Raw) || len(first) != 5 {
		t.Fatalf("%d files; %s holds the second object's content", len(first), want)
	}
	// 7 over shop's bound, counted once, not per pass; the clash, whose
	// name is not its content's.
	if l.refused != 8 {
		t.Fatalf("refused %d, want 8", l.refused)
	}
	// A byte bound: each namespace keeps to it.
	maxStoreNamespaceFiles, maxStoreNamespaceBytes = 100, len(same.Profile.Raw)+1
	bounded := l.filesOf(objs)
	total := map[string]int{}
	for rel, data := range bounded {
		ns, _, _ := strings.Cut(rel, "/")
		total[ns] += len(data)
	}
	if len(bounded) == 0 || len(bounded) >= len(first) || total["shop"] > maxStoreNamespaceBytes || total["other"] > maxStoreNamespaceBytes {
		t.Fatalf("byte bound %d: %d files, bytes by namespace %v", maxStoreNamespaceBytes, len(bounded), total)
	}
}
