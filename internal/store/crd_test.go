package store

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/testutil"
)

// TestCRDCopies: the embedded CRD is deploy/'s, byte for byte.
func TestCRDCopies(t *testing.T) {
	deploy, err := os.ReadFile("../../deploy/base/crd/sysward.io_workloadprofiles.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(deploy, CRDYAML()) {
		t.Fatal("internal/store/crd/ differs from deploy/base/crd/: run go generate ./api/...")
	}
	crd, err := CRD()
	if err != nil {
		t.Fatal(err)
	}
	if crd.Spec.Group != v1.Group || crd.Spec.Names.Plural != v1.Resource || crd.Spec.Names.Kind != v1.Kind ||
		len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != v1.Version || crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Fatalf("CRD %s: %+v", crd.Name, crd.Spec.Names)
	}
}

// TestCRDUpToDate runs controller-gen (the version go:generate pins) into
// a temporary directory and compares the deepcopy and the CRD with the
// committed files.
func TestCRDUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen")
	}
	tmp := t.TempDir()
	gen := "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0"
	cmd := exec.Command("go", "run", gen, "object", "crd", "paths=./...",
		"output:object:dir="+filepath.Join(tmp, "object"), "output:crd:dir="+filepath.Join(tmp, "crd"))
	cmd.Dir = "../../api/v1alpha1"
	if out, err := cmd.CombinedOutput(); err != nil {
		fetch := false
		for _, s := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout", "proxy.golang.org", "GOPROXY", "GOFLAGS=-mod"} {
			fetch = fetch || bytes.Contains(out, []byte(s))
		}
		if fetch && !testutil.InCI() {
			t.Skipf("go run %s could not fetch it (outside CI): %v\n%s", gen, err, out)
		}
		t.Fatalf("go run %s: %v\n%s", gen, err, out)
	}
	for generated, committed := range map[string]string{
		"object/zz_generated.deepcopy.go":      "../../api/v1alpha1/zz_generated.deepcopy.go",
		"crd/sysward.io_workloadprofiles.yaml": "../../deploy/base/crd/sysward.io_workloadprofiles.yaml",
	} {
		want, err := os.ReadFile(filepath.Join(tmp, generated))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(committed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./api/...", committed)
		}
	}
}

// schemaValidator validates objects against the CRD's schema with the
// apiserver's own validator (what the apiserver runs on create/update,
// without its metadata checks).
func schemaValidator(t testing.TB) func(obj map[string]any) field.ErrorList {
	t.Helper()
	crd, err := CRD()
	if err != nil {
		t.Fatal(err)
	}
	var in apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &in, nil); err != nil {
		t.Fatal(err)
	}
	sv, _, err := validation.NewSchemaValidator(&in)
	if err != nil {
		t.Fatal(err)
	}
	return func(obj map[string]any) field.ErrorList {
		return validation.ValidateCustomResource(nil, obj, sv)
	}
}

// validateObject encodes wp as the client sends it and validates it.
func validateObject(t testing.TB, validate func(map[string]any) field.ErrorList, wp *v1.WorkloadProfile) (field.ErrorList, []byte) {
	t.Helper()
	data, err := json.Marshal(wp)
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return validate(obj), data
}
