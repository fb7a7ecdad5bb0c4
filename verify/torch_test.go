package verify

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// fixtureCase is one entry of a cases.json written by
// scripts/make_torch_fixtures.py.
type fixtureCase struct {
	Name       string            `json:"name"`
	Loss       string            `json:"loss"`
	Options    map[string]string `json:"options"`
	Inputs     map[string]string `json:"inputs"`
	LossValue  string            `json:"loss_value"`
	InputGrad  string            `json:"input_grad"`
	InputDType string            `json:"input_dtype"`
	RTol       float64           `json:"rtol"`
	ATol       float64           `json:"atol"`
	// GradRTol and GradATol bound input_grad where they are set; RTol and
	// ATol otherwise.
	GradRTol float64 `json:"grad_rtol"`
	GradATol float64 `json:"grad_atol"`
}

type fixtureSet struct {
	Torch string        `json:"torch"`
	Cases []fixtureCase `json:"cases"`
}

// fixtureRoots returns the folders of fixture sets to check: the committed
// ones, and the ones PyTorch just wrote when ONNXLOSS_TORCH_FIXTURES names a
// folder (CI regenerates them live and must set it).
func fixtureRoots(t *testing.T) map[string]string {
	roots := map[string]string{"committed": filepath.Join(testutil.Root(t), "testdata", "torch")}
	if live := os.Getenv("ONNXLOSS_TORCH_FIXTURES"); live != "" {
		roots["live"] = live
	} else if testutil.InCI() {
		t.Fatal("CI must regenerate the PyTorch fixtures and set ONNXLOSS_TORCH_FIXTURES")
	}
	return roots
}

// TestTorchFixtures checks every loss value (and input gradient, where a
// fixture has one) that PyTorch computed against the exported graph run in
// ONNX Runtime.
func TestTorchFixtures(t *testing.T) {
	testutil.RequireRuntime(t)
	for kind, root := range fixtureRoots(t) {
		sets, err := filepath.Glob(filepath.Join(root, "*", "cases.json"))
		if err != nil || len(sets) == 0 {
			t.Fatalf("%s fixtures: no cases.json under %s", kind, root)
		}
		gradCases := map[string]int{}
		for _, path := range sets {
			dir := filepath.Dir(path)
			t.Run(kind+"/"+filepath.Base(dir), func(t *testing.T) {
				var set fixtureSet
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &set); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if len(set.Cases) == 0 {
					t.Fatalf("%s has no cases", path)
				}
				for _, c := range set.Cases {
					if c.InputGrad != "" {
						gradCases[c.Loss]++
					}
					if err := checkFixture(dir, c); err != nil {
						t.Errorf("%s: %v", c.Name, err)
					}
				}
			})
		}
		// The losses whose gradients PyTorch checks: a fixture script that
		// stopped recording them would otherwise pass unnoticed.
		for _, loss := range []string{"bce", "cross-entropy", "focal", "dice", "lovasz-softmax"} {
			if gradCases[loss] < 3 {
				t.Errorf("%s fixtures: %d cases of %s with input_grad, want at least 3", kind, gradCases[loss], loss)
			}
		}
	}
}

func checkFixture(dir string, c fixtureCase) error {
	opts := losses.Options{}
	for k, v := range c.Options {
		opts[k] = v
	}
	if c.InputGrad != "" {
		opts["grad"] = "true"
	}
	sess, err := losssession.Open(c.Loss, opts, runtime.Options{})
	if err != nil {
		return err
	}
	defer sess.Close()
	cfg := sess.Config()
	in := map[string]*tensor.Tensor{}
	for name, file := range c.Inputs {
		tt, err := tensor.LoadNPY(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if name == "input" {
			tt = tt.Convert(cfg.DType)
		}
		in[name] = tt
	}
	if c.InputDType != "" && cfg.DType.String() != c.InputDType {
		return fmt.Errorf("fixture input dtype %s but options give %v", c.InputDType, cfg.DType)
	}
	out, err := sess.Run(in)
	if err != nil {
		return err
	}
	r := &Runner{RelTol: c.RTol, AbsTol: c.ATol}
	want, err := tensor.LoadNPY(filepath.Join(dir, c.LossValue))
	if err != nil {
		return err
	}
	if budget, rel, err := r.Compare(out["loss"], want, 0); err != nil || budget > 1 {
		return fmt.Errorf("loss %v, PyTorch %v (relative difference %.3g, %.3g of budget) %v", out["loss"], want, rel, budget, err)
	}
	if c.InputGrad != "" {
		want, err := tensor.LoadNPY(filepath.Join(dir, c.InputGrad))
		if err != nil {
			return err
		}
		if got := out["input_grad"]; got == nil || got.DType != in["input"].DType {
			return fmt.Errorf("input_grad %v does not have the input's type %v", got, in["input"].DType)
		}
		gr := &Runner{RelTol: c.RTol, AbsTol: c.ATol}
		if c.GradRTol > 0 {
			gr.RelTol = c.GradRTol
		}
		if c.GradATol > 0 {
			gr.AbsTol = c.GradATol
		}
		if budget, rel, err := gr.Compare(out["input_grad"], want, 0); err != nil || budget > 1 {
			return fmt.Errorf("input_grad differs from PyTorch's (relative %.3g, %.3g of budget) %v", rel, budget, err)
		}
	}
	return nil
}
