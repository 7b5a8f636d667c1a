package store

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// crdYAML is deploy/base/crd/sysward.io_workloadprofiles.yaml, copied
// here by `go generate ./api/...` (TestCRDCopies checks they are equal).
//
//go:embed crd/sysward.io_workloadprofiles.yaml
var crdYAML []byte

// CRDYAML returns the WorkloadProfile CRD as generated (YAML).
func CRDYAML() []byte { return append([]byte(nil), crdYAML...) }

// CRD returns the WorkloadProfile CRD, decoded.
func CRD() (*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(crdYAML, crd); err != nil {
		return nil, fmt.Errorf("decoding the embedded WorkloadProfile CRD: %w", err)
	}
	return crd, nil
}

// InstallCRD creates the WorkloadProfile CRD in the cluster cfg names, or
// updates it to this build's schema, and waits until the apiserver serves
// it (Established) or ctx is done. For tests and tools: a cluster gets
// it from deploy/ (kubectl apply -k).
func InstallCRD(ctx context.Context, cfg *rest.Config) error {
	want, err := CRD()
	if err != nil {
		return err
	}
	cs, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("apiextensions client: %w", err)
	}
	crds := cs.ApiextensionsV1().CustomResourceDefinitions()
	_, err = crds.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = retryConflict(ctx, func() error {
			cur, err := crds.Get(ctx, want.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec = want.Spec
			cur.Labels, cur.Annotations = want.Labels, want.Annotations
			_, err = crds.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("installing CRD %s: %w", want.Name, err)
	}
	var last *apiextensionsv1.CustomResourceDefinition
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		cur, err := crds.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = cur
		return condition(cur, apiextensionsv1.Established) && condition(cur, apiextensionsv1.NamesAccepted), nil
	})
	if err != nil {
		conds := "never read"
		if last != nil {
			conds = fmt.Sprint(last.Status.Conditions)
		}
		return fmt.Errorf("waiting for CRD %s to be established (conditions %s): %w", want.Name, conds, err)
	}
	return nil
}

func condition(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == t {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

func retryConflict(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if !apierrors.IsConflict(err) || ctx.Err() != nil {
			return err
		}
	}
}
