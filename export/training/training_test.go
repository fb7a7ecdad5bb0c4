package training_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
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

func TestSmallModelsFiniteDifferences(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := filepath.Join(testutil.Root(t), "testdata", "onnx", "models")
	for _, tc := range []struct {
		model, loss string
		opts        losses.Options
	}{
		{"logsoftmax.onnx", "cross-entropy", nil},
		{"sigmoid_binary.onnx", "bce", nil},
		{"fcn_small.onnx", "cross-entropy", nil},
		{"deeplabv3_small_softmax.onnx", "dice", nil},
		{"lraspp_small_nhwc.onnx", "lovasz-softmax", nil},
	} {
		t.Run(tc.model+"/"+tc.loss, func(t *testing.T) {
			lm, err := modelio.Load(filepath.Join(dir, tc.model))
			if err != nil {
				t.Fatal(err)
			}
			opts := training.Options{Append: splice.Options{Loss: tc.loss, LossOptions: tc.opts}}
			tm, rep, err := training.Build(lm.Proto, opts)
			if err != nil {
				t.Fatal(err)
			}
			_ = tm
			cfg := rep.Append.Config
			r := rand.New(rand.NewPCG(1, 2))
			in := lm.Proto.GetGraph().GetInput()[0]
			shape := []int{2}
			for i, d := range in.GetType().GetTensorType().GetShape().GetDim() {
				if i == 0 {
					continue
				}
				if d.GetDimValue() > 0 {
					shape = append(shape, int(d.GetDimValue()))
				} else {
					shape = append(shape, 32)
				}
			}
			x := randTensor(r, shape, 1)
			feeds := map[string]*tensor.Tensor{in.GetName(): x}
			s, err := runtime.NewSessionFromFile(filepath.Join(dir, tc.model), runtime.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out, err := s.Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			var y *tensor.Tensor
			for _, v := range out {
				y = v
			}
			tshape := slices.Clone(y.Shape)
			if cfg.Mode == losses.Multiclass {
				if cfg.Layout == losses.NHWC {
					tshape = tshape[:len(tshape)-1]
				} else {
					tshape = append(tshape[:1], tshape[2:]...)
				}
				lab := make([]int64, tensor.NumElements(tshape))
				for i := range lab {
					lab[i] = int64(r.IntN(int(cfg.Classes)))
				}
				feeds[rep.Append.Target] = tensor.FromInt64(tshape, lab)
			} else {
				tv := make([]float32, tensor.NumElements(tshape))
				for i := range tv {
					tv[i] = float32(r.IntN(2))
				}
				feeds[rep.Append.Target] = tensor.FromFloat32(tshape, tv)
			}
			fmt.Println(rep.Params[:min(3, len(rep.Params))], len(rep.Params), rep.Outputs[:2])
			checkFiniteDifferences(t, lm.Proto, opts, feeds, 2, 2e-2)
		})
	}
}
