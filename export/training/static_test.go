package training_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestStaticModels splices losses onto a model whose every dimension is
// fixed (PyTorch's export without dynamic axes), with and without the
// training graph: ONNX Runtime finds every shape at load time there, and the
// graphs must still load, run, and stop at their checks on a target of the
// wrong size.
func TestStaticModels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := &tiny{r: r}
	out := m.conv(m.op("Tanh", nil, m.conv("x", 3, 4, 3, nil)), 4, 3, 1, nil)
	model := m.model(17, out)
	for _, vi := range []*onnxpb.ValueInfoProto{model.Graph.Input[0], model.Graph.Output[0]} {
		for i, d := range vi.Type.GetTensorType().Shape.Dim {
			if d.GetDimParam() != "" {
				d.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: []int64{2, 3, 8, 8}[i]}
			}
		}
	}
	x := randTensor(r, []int{2, 3, 8, 8}, 1)
	for _, tc := range []struct {
		loss string
		opts losses.Options
	}{{"cross-entropy", nil}, {"dice", nil}, {"lovasz-softmax", nil}, {"bce", losses.Options{"mode": "multilabel"}}} {
		for _, train := range []bool{false, true} {
			var sm *onnxpb.ModelProto
			var target string
			var err error
			if train {
				var rep *training.Report
				sm, rep, err = training.Build(model, training.Options{Append: splice.Options{Loss: tc.loss, LossOptions: tc.opts}})
				if err == nil {
					target = rep.Append.Target
				}
			} else {
				var rep *splice.Report
				sm, rep, err = splice.Append(model, splice.Options{Loss: tc.loss, LossOptions: tc.opts})
				if err == nil {
					target = rep.Target
				}
			}
			if err != nil {
				t.Fatalf("%s (train %v): %v", tc.loss, train, err)
			}
			s := openModel(t, sm)
			good, bad := tensor.New(tensor.Int64, 2, 8, 8), tensor.New(tensor.Int64, 2, 8, 7)
			if tc.loss == "bce" {
				good, bad = tensor.New(tensor.Float32, 2, 3, 8, 8), tensor.New(tensor.Float32, 2, 3, 8, 7)
			}
			res, err := s.Run(map[string]*tensor.Tensor{"x": x, target: good})
			if err != nil {
				t.Fatalf("%s (train %v): %v", tc.loss, train, err)
			}
			if v := res["loss"].Float64s()[0]; v != v {
				t.Errorf("%s (train %v): loss is NaN", tc.loss, train)
			}
			_, err = s.Run(map[string]*tensor.Tensor{"x": x, target: bad})
			// The spliced target is declared [2,8,8] here, so the runtime
			// refuses the input before ONNX Runtime runs the checks.
			if err == nil || !strings.Contains(err.Error(), "target") {
				t.Errorf("%s (train %v): a target of the wrong size gave %v, want an error about the target", tc.loss, train, err)
			}
		}
	}
}
