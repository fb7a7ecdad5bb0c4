package verify

import (
	"encoding/json"
	"fmt"
	"math"
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
	// Generated, where set, defines the inputs by a formula instead of
	// .npy files, and LossFloat64 holds PyTorch's loss (large cases).
	Generated   *generatedInputs `json:"generated"`
	LossFloat64 float64          `json:"loss_float64"`
}

// generatedInputs are the inputs of a large case, as scripts/torch/large.py
// makes them (generated_inputs in scripts/make_torch_fixtures.py).
type generatedInputs struct {
	Shape  []int  `json:"shape"` // [N,C,*spatial]
	Seed   uint64 `json:"seed"`
	Target string `json:"target"` // "mask" or "labels"
}

// uniform returns n float64 values in [0, 1): the top 53 bits of
// splitmix64(seed + (i+1)·0x9E3779B97F4A7C15) for i = 0..n-1, the stream
// the fixture script computes with numpy.
func uniform(n int, seed uint64) []float64 {
	out := make([]float64, n)
	for i := range out {
		z := seed + uint64(i+1)*0x9E3779B97F4A7C15
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		z ^= z >> 31
		out[i] = float64(z>>11) * 0x1p-53
	}
	return out
}

// tensors returns the inputs: float32 logits 8u - 4 from stream Seed, and
// from stream Seed+1 a float32 mask (1 where u < 0.35) or int64 labels
// floor(u·C) of shape [N,*spatial].
func (g *generatedInputs) tensors() (map[string]*tensor.Tensor, error) {
	if len(g.Shape) < 3 {
		return nil, fmt.Errorf("generated inputs: shape %v is not [N,C,*spatial]", g.Shape)
	}
	n := tensor.NumElements(g.Shape)
	x := make([]float32, n)
	for i, u := range uniform(n, g.Seed) {
		x[i] = float32(8*u - 4)
	}
	in := map[string]*tensor.Tensor{"input": tensor.FromFloat32(g.Shape, x)}
	switch g.Target {
	case "mask":
		t := make([]float32, n)
		for i, u := range uniform(n, g.Seed+1) {
			if u < 0.35 {
				t[i] = 1
			}
		}
		in["target"] = tensor.FromFloat32(g.Shape, t)
	case "labels":
		pix := append([]int{g.Shape[0]}, g.Shape[2:]...)
		y := make([]int64, tensor.NumElements(pix))
		for i, u := range uniform(len(y), g.Seed+1) {
			y[i] = int64(math.Floor(u * float64(g.Shape[1])))
		}
		in["target"] = tensor.FromInt64(pix, y)
	default:
		return nil, fmt.Errorf("generated inputs: unknown target %q", g.Target)
	}
	return in, nil
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
					rel, err := runFixture(dir, c)
					if err != nil {
						t.Errorf("%s: %v", c.Name, err)
					} else if c.Generated != nil {
						t.Logf("%s: relative difference %.1e", c.Name, rel)
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
	_, err := runFixture(dir, c)
	return err
}

// runFixture checks one case and returns the relative difference of the
// loss from PyTorch's.
func runFixture(dir string, c fixtureCase) (float64, error) {
	opts := losses.Options{}
	for k, v := range c.Options {
		opts[k] = v
	}
	if c.InputGrad != "" {
		opts["grad"] = "true"
	}
	sess, err := losssession.Open(c.Loss, opts, runtime.Options{})
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	cfg := sess.Config()
	in := map[string]*tensor.Tensor{}
	if c.Generated != nil {
		if in, err = c.Generated.tensors(); err != nil {
			return 0, err
		}
	}
	for name, file := range c.Inputs {
		tt, err := tensor.LoadNPY(filepath.Join(dir, file))
		if err != nil {
			return 0, err
		}
		if name == "input" {
			tt = tt.Convert(cfg.DType)
		}
		in[name] = tt
	}
	if c.InputDType != "" && cfg.DType.String() != c.InputDType {
		return 0, fmt.Errorf("fixture input dtype %s but options give %v", c.InputDType, cfg.DType)
	}
	out, err := sess.Run(in)
	if err != nil {
		return 0, err
	}
	r := &Runner{RelTol: c.RTol, AbsTol: c.ATol}
	var want *tensor.Tensor
	if c.Generated != nil {
		want = tensor.FromFloat64([]int{}, []float64{c.LossFloat64})
	} else if want, err = tensor.LoadNPY(filepath.Join(dir, c.LossValue)); err != nil {
		return 0, err
	}
	budget, lossRel, err := r.Compare(out["loss"], want, 0)
	if err != nil || budget > 1 {
		return lossRel, fmt.Errorf("loss %v, PyTorch %v (relative difference %.3g, %.3g of budget) %v", out["loss"], want, lossRel, budget, err)
	}
	if c.InputGrad != "" {
		want, err := tensor.LoadNPY(filepath.Join(dir, c.InputGrad))
		if err != nil {
			return 0, err
		}
		if got := out["input_grad"]; got == nil || got.DType != in["input"].DType {
			return 0, fmt.Errorf("input_grad %v does not have the input's type %v", got, in["input"].DType)
		}
		gr := &Runner{RelTol: c.RTol, AbsTol: c.ATol}
		if c.GradRTol > 0 {
			gr.RelTol = c.GradRTol
		}
		if c.GradATol > 0 {
			gr.AbsTol = c.GradATol
		}
		if budget, rel, err := gr.Compare(out["input_grad"], want, 0); err != nil || budget > 1 {
			return 0, fmt.Errorf("input_grad differs from PyTorch's (relative %.3g, %.3g of budget) %v", rel, budget, err)
		}
	}
	return lossRel, nil
}

// TestGeneratedInputsMatchNumPy checks the Go side of the large fixtures'
// inputs against values numpy gave for scripts/make_torch_fixtures.py's
// uniform and generated_inputs (a live fixture run checks every case too).
func TestGeneratedInputsMatchNumPy(t *testing.T) {
	want := []float64{0x1.10e257d14b050p-5, 0x1.77fef8b2dc4d9p-1, 0x1.0c3b73d157624p-3} // uniform(3, 10)
	for i, u := range uniform(3, 10) {
		if u != want[i] {
			t.Errorf("uniform(3, 10)[%d] = %x, numpy gives %x", i, u, want[i])
		}
	}
	in, err := (&generatedInputs{Shape: []int{1, 3, 2, 2}, Seed: 70, Target: "labels"}).tensors()
	if err != nil {
		t.Fatal(err)
	}
	x := in["input"].Float64s()
	for i, w := range []float64{-0.7802847623825073, -2.41056227684021, 3.913313150405884} {
		if x[i] != w {
			t.Errorf("input[%d] = %v, numpy gives %v", i, x[i], w)
		}
	}
	if y := in["target"].Int64s(); fmt.Sprint(y) != "[2 1 1 2]" || fmt.Sprint(in["target"].Shape) != "[1 2 2]" {
		t.Errorf("labels %v of shape %v, numpy gives [2 1 1 2] of shape [1 2 2]", y, in["target"].Shape)
	}
}
