package training_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// openModel opens a model in ONNX Runtime.
func openModel(t *testing.T, m *onnxpb.ModelProto) *runtime.Session {
	t.Helper()
	testutil.RequireRuntime(t)
	b, err := modelio.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(b, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randTensor(r *rand.Rand, shape []int, scale float64) *tensor.Tensor {
	d := make([]float32, tensor.NumElements(shape))
	for i := range d {
		d[i] = float32(r.NormFloat64() * scale)
	}
	return tensor.FromFloat32(shape, d)
}

// initializerValue decodes a float32 initializer of the model.
func initializerValue(t *testing.T, m *onnxpb.ModelProto, name string) *tensor.Tensor {
	t.Helper()
	for _, init := range m.GetGraph().GetInitializer() {
		if init.GetName() == name {
			v := training.DecodeForTest(init)
			if v == nil {
				t.Fatalf("cannot decode initializer %q", name)
			}
			return v.Convert(tensor.Float32)
		}
	}
	t.Fatalf("no initializer %q", name)
	return nil
}

// checkFiniteDifferences compares the training graph's parameter gradients
// with central differences of its loss, computed by feeding perturbed
// parameters through the same graph's inputs, at a few entries of every
// parameter (the largest gradient entries and random ones).
func checkFiniteDifferences(t *testing.T, m *onnxpb.ModelProto, opts training.Options, feeds map[string]*tensor.Tensor, perParam int, tol float64) {
	t.Helper()
	tm, rep, err := training.Build(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := openModel(t, tm)
	base, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 11))
	all := map[string]*tensor.Tensor{}
	for _, p := range rep.Params {
		all[p] = initializerValue(t, tm, p)
	}
	for _, p := range rep.Params {
		grad := base[training.GradName(p)].Convert(tensor.Float64).Data.([]float64)
		w := initializerValue(t, tm, p)
		wd := w.Data.([]float32)
		gmax := 0.0
		for _, g := range grad {
			gmax = max(gmax, math.Abs(g))
		}
		idx := []int{slices.IndexFunc(grad, func(g float64) bool { return math.Abs(g) == gmax })}
		for len(idx) < min(perParam, len(wd)) {
			idx = append(idx, r.IntN(len(wd)))
		}
		for _, i := range idx {
			eps := 1e-3 * max(1, math.Abs(float64(wd[i])))
			loss := func(delta float64) float64 {
				pw := tensor.FromFloat32(w.Shape, slices.Clone(wd))
				pw.Data.([]float32)[i] += float32(delta)
				in := map[string]*tensor.Tensor{}
				for k, v := range feeds {
					in[k] = v
				}
				for k, v := range all {
					in[k] = v
				}
				in[p] = pw
				out, err := s.Run(in)
				if err != nil {
					t.Fatal(err)
				}
				return out["loss"].Convert(tensor.Float64).Data.([]float64)[0]
			}
			fd := (loss(eps) - loss(-eps)) / (2 * eps)
			if diff := math.Abs(fd - grad[i]); diff > tol*max(gmax, 1e-3) {
				t.Errorf("%s[%d]: gradient %.6g, central difference %.6g (largest |gradient| %.3g)", p, i, grad[i], fd, gmax)
			}
		}
	}
}
