package training_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// tiny builds small ONNX models node by node for the finite-difference
// tests of the model ops' vector-Jacobian products.
type tiny struct {
	r     *rand.Rand
	nodes []*onnxpb.NodeProto
	inits []*onnxpb.TensorProto
	n     int
}

func (m *tiny) name(op string) string {
	m.n++
	return fmt.Sprintf("%s_%d", op, m.n)
}

// weight adds a random float32 initializer.
func (m *tiny) weight(scale float64, shape ...int) string {
	name := m.name("w")
	m.inits = append(m.inits, builder.TensorProto(name, randTensor(m.r, shape, scale)))
	return name
}

// ints adds an int64 initializer.
func (m *tiny) ints(v ...int64) string {
	name := m.name("i")
	m.inits = append(m.inits, builder.TensorProto(name, tensor.FromInt64([]int{len(v)}, v)))
	return name
}

// floats adds a float32 initializer.
func (m *tiny) floats(v ...float32) string {
	name := m.name("f")
	m.inits = append(m.inits, builder.TensorProto(name, tensor.FromFloat32([]int{len(v)}, v)))
	return name
}

// op adds a node with one output (or n outputs) and returns the outputs.
func (m *tiny) op(op string, attrs map[string]any, ins ...string) string {
	return m.opN(op, 1, attrs, ins...)[0]
}

func (m *tiny) opN(op string, n int, attrs map[string]any, ins ...string) []string {
	name := m.name(op)
	outs := make([]string, n)
	for i := range outs {
		outs[i] = fmt.Sprintf("%s_out%d", name, i)
	}
	np := &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: ins, Output: outs}
	for k, v := range attrs {
		a := &onnxpb.AttributeProto{Name: proto.String(k)}
		switch v := v.(type) {
		case int:
			a.Type, a.I = onnxpb.AttributeProto_INT.Enum(), proto.Int64(int64(v))
		case float64:
			a.Type, a.F = onnxpb.AttributeProto_FLOAT.Enum(), proto.Float32(float32(v))
		case string:
			a.Type, a.S = onnxpb.AttributeProto_STRING.Enum(), []byte(v)
		case []int64:
			a.Type, a.Ints = onnxpb.AttributeProto_INTS.Enum(), v
		default:
			panic(fmt.Sprintf("attribute %s: %T", k, v))
		}
		np.Attribute = append(np.Attribute, a)
	}
	m.nodes = append(m.nodes, np)
	return outs
}

// conv adds a convolution with random weights and bias.
func (m *tiny) conv(x string, in, out, k int, attrs map[string]any) string {
	if attrs == nil {
		attrs = map[string]any{}
	}
	if _, ok := attrs["pads"]; !ok {
		p := int64(k / 2)
		attrs["pads"] = []int64{p, p, p, p}
	}
	g := 1
	if v, ok := attrs["group"].(int); ok {
		g = v
	}
	return m.op("Conv", attrs, x, m.weight(0.5, out, in/g, k, k), m.weight(0.1, out))
}

// model wraps the nodes into a model whose input "x" is [N,3,H,W] and
// whose output is out, a [N,3,*,*] (or [N,*,*,3]) float tensor.
func (m *tiny) model(opset int, out string) *onnxpb.ModelProto {
	dims := func(ds ...any) *onnxpb.TensorShapeProto {
		s := &onnxpb.TensorShapeProto{}
		for _, d := range ds {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch d := d.(type) {
			case int:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
			case string:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}
			}
			s.Dim = append(s.Dim, dim)
		}
		return s
	}
	vi := func(name string, s *onnxpb.TensorShapeProto) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: s}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(builder.IRVersion(opset)),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(opset))}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("tiny"), Node: m.nodes, Initializer: m.inits,
			Input:  []*onnxpb.ValueInfoProto{vi("x", dims("N", 3, "H", "W"))},
			Output: []*onnxpb.ValueInfoProto{vi(out, dims("N", 3, "H2", "W2"))},
		},
	}
}

// TestModelOpsFiniteDifferences checks the gradient rules of the ops that
// exported models use, at opsets 13, 17 and 21: each case is a small model
// with the op between random convolutions, spliced with cross-entropy, and
// every parameter's gradient from the training graph is compared with
// central differences of the loss at its largest entry and a few random
// ones.
func TestModelOpsFiniteDifferences(t *testing.T) {
	cases := []struct {
		name  string
		size  int
		build func(m *tiny, opset int) string
		from  int // first opset the case applies to
	}{
		{"BatchNormalization", 8, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			bn := m.op("BatchNormalization", map[string]any{"epsilon": 1e-3}, c, m.weight(1, 4), m.weight(0.5, 4),
				m.floats(0.1, -0.2, 0.3, 0), m.floats(0.5, 1.5, 0.8, 1.2))
			return m.conv(m.op("Tanh", nil, bn), 4, 3, 1, nil)
		}, 13},
		{"HardSigmoid", 8, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			return m.conv(m.op("Mul", nil, c, m.op("HardSigmoid", map[string]any{"alpha": 1.0 / 6}, c)), 4, 3, 1, nil)
		}, 13},
		{"HardSwish", 8, func(m *tiny, _ int) string {
			return m.conv(m.op("HardSwish", nil, m.conv("x", 3, 4, 3, nil)), 4, 3, 1, nil)
		}, 14},
		{"LeakyRelu", 8, func(m *tiny, _ int) string {
			return m.conv(m.op("LeakyRelu", map[string]any{"alpha": 0.1}, m.conv("x", 3, 4, 3, nil)), 4, 3, 1, nil)
		}, 13},
		{"GlobalAveragePool+Flatten+Gemm", 8, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			v := m.op("Flatten", nil, m.op("GlobalAveragePool", nil, c))
			g := m.op("Gemm", map[string]any{"transB": 1, "alpha": 0.5, "beta": 2.0}, v, m.weight(0.5, 3, 4), m.weight(0.5, 3))
			s := m.op("Sigmoid", nil, m.op("Reshape", nil, g, m.ints(-1, 3, 1, 1)))
			return m.op("Mul", nil, m.conv(c, 4, 3, 1, nil), s)
		}, 13},
		{"Gemm transA", 8, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			v := m.op("Transpose", map[string]any{"perm": []int64{1, 0}}, m.op("Flatten", nil, m.op("GlobalAveragePool", nil, c)))
			g := m.op("Gemm", map[string]any{"transA": 1}, v, m.weight(0.5, 4, 3), m.weight(0.5, 1, 3))
			return m.op("Add", nil, m.conv(c, 4, 3, 1, nil), m.op("Unsqueeze", nil, g, m.ints(2, 3)))
		}, 13},
		{"Split+Concat+Dropout", 8, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 6, 3, nil)
			parts := m.opN("Split", 3, map[string]any{"axis": 1}, c, m.ints(2, 3, 1))
			d := m.op("Dropout", nil, parts[1])
			return m.conv(m.op("Concat", map[string]any{"axis": 1}, m.op("Sigmoid", nil, parts[0]), m.op("Tanh", nil, d)), 5, 3, 1, nil)
		}, 13},
		{"ConvTranspose", 6, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			ct := m.op("ConvTranspose", map[string]any{"strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}, "output_padding": []int64{1, 1}},
				c, m.weight(0.5, 4, 5, 3, 3), m.weight(0.1, 5))
			return m.conv(m.op("Tanh", nil, ct), 5, 3, 1, nil)
		}, 13},
		{"ConvTranspose grouped dilated", 6, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			ct := m.op("ConvTranspose", map[string]any{"group": 2, "dilations": []int64{2, 2}, "strides": []int64{2, 2}},
				c, m.weight(0.5, 4, 2, 2, 2), m.weight(0.1, 4))
			return m.conv(ct, 4, 3, 1, nil)
		}, 13},
		{"Conv depthwise strided dilated", 9, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			d := m.conv(c, 4, 4, 3, map[string]any{"group": 4, "strides": []int64{2, 2}, "dilations": []int64{2, 2}, "pads": []int64{2, 2, 2, 2}})
			return m.conv(d, 4, 3, 1, nil)
		}, 13},
		{"Conv 1x1 stride 2", 9, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			d := m.conv(c, 4, 4, 1, map[string]any{"strides": []int64{2, 2}})
			return m.conv(m.op("Add", nil, d, m.conv(c, 4, 4, 3, map[string]any{"strides": []int64{2, 2}})), 4, 3, 1, nil)
		}, 13},
		{"MaxPool 2x2 stride 2", 8, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			p := m.op("MaxPool", map[string]any{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}}, c)
			return m.conv(p, 4, 3, 1, nil)
		}, 13},
		{"MaxPool 3x3 stride 2 overlapping", 9, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			p := m.op("MaxPool", map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}, c)
			return m.conv(p, 4, 3, 1, nil)
		}, 13},
		{"MaxPool 3x3 stride 2 dilated ceil", 10, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			p := m.op("MaxPool", map[string]any{"kernel_shape": []int64{3, 2}, "strides": []int64{2, 1}, "dilations": []int64{1, 2}, "ceil_mode": 1}, c)
			return m.conv(p, 4, 3, 1, nil)
		}, 13},
		{"AveragePool+Pad+Slice+Clip", 8, func(m *tiny, opset int) string {
			c := m.conv("x", 3, 4, 3, nil)
			p := m.op("AveragePool", map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}, c)
			padded := m.op("Pad", nil, p, m.ints(0, 0, 1, 2, 0, 0, 2, 1))
			sl := m.op("Slice", nil, padded, m.ints(1, 0), m.ints(100, -1), m.ints(2, 3))
			cl := m.op("Clip", nil, sl, m.floats(-0.5), m.floats(0.8))
			return m.conv(cl, 4, 3, 1, nil)
		}, 13},
		{"Conv auto_pad SAME_UPPER on symbolic sizes", 7, func(m *tiny, _ int) string {
			c := m.op("Conv", map[string]any{"auto_pad": "SAME_UPPER"}, "x", m.weight(0.5, 4, 3, 3, 2), m.weight(0.1, 4))
			return m.conv(m.op("Tanh", nil, c), 4, 3, 1, nil)
		}, 13},
		{"Slice and Pad with bounds computed at run time", 8, func(m *tiny, _ int) string {
			// As tf2onnx writes a "same" Conv2DTranspose: a transposed
			// convolution, a Slice whose bounds come from shapes, and a Pad
			// whose pads come from shapes (here [0, 0, 1, 1] after [1, 1]
			// cropped off the start).
			c := m.conv("x", 3, 4, 3, nil)
			ct := m.op("ConvTranspose", map[string]any{"strides": []int64{2, 2}}, c, m.weight(0.5, 4, 4, 3, 3), m.weight(0.1, 4))
			hw := m.op("Slice", nil, m.op("Shape", nil, ct), m.ints(2), m.ints(4))
			one := m.op("Div", nil, m.op("Sub", nil, hw, m.op("Sub", nil, hw, m.ints(1, 1))), m.ints(1, 1))
			sl := m.op("Slice", nil, ct, one, m.op("Sub", nil, hw, one), m.ints(2, 3))
			zero := m.op("Sub", nil, one, one)
			pads := m.op("Concat", map[string]any{"axis": 0}, m.ints(0, 0), zero, m.ints(0, 0), one)
			return m.conv(m.op("Pad", nil, sl, pads), 4, 3, 1, nil)
		}, 13},
		{"Resize nearest tf_half_pixel_for_nn", 6, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			r := m.op("Resize", map[string]any{"mode": "nearest", "coordinate_transformation_mode": "tf_half_pixel_for_nn", "nearest_mode": "floor"},
				c, "", m.floats(1, 1, 4, 3))
			return m.conv(r, 4, 3, 1, nil)
		}, 13},
		{"MatMul+Softmax+Transpose", 8, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			tr := m.op("Transpose", map[string]any{"perm": []int64{0, 2, 3, 1}}, c)
			mm := m.op("MatMul", nil, tr, m.weight(0.5, 4, 3))
			sm := m.op("Softmax", map[string]any{"axis": -1}, mm)
			return m.op("Transpose", map[string]any{"perm": []int64{0, 3, 1, 2}}, m.op("Mul", nil, mm, sm))
		}, 13},
	}
	for _, mode := range []struct{ mode, ctm, extra string }{
		{"linear", "half_pixel", ""}, {"linear", "pytorch_half_pixel", ""}, {"linear", "align_corners", ""},
		{"linear", "asymmetric", "scales"}, {"nearest", "asymmetric", "floor"}, {"nearest", "half_pixel", "round_prefer_floor"},
		{"nearest", "align_corners", "round_prefer_ceil"}, {"linear", "half_pixel", "down"},
	} {
		cases = append(cases, struct {
			name  string
			size  int
			build func(m *tiny, opset int) string
			from  int
		}{"Resize " + mode.mode + " " + mode.ctm + " " + mode.extra, 7, func(m *tiny, _ int) string {
			c := m.conv("x", 3, 4, 3, nil)
			attrs := map[string]any{"mode": mode.mode, "coordinate_transformation_mode": mode.ctm}
			if mode.mode == "nearest" {
				attrs["nearest_mode"] = mode.extra
			}
			var r string
			switch mode.extra {
			case "scales":
				r = m.op("Resize", attrs, c, "", m.floats(1, 1, 2, 3))
			case "down":
				r = m.op("Resize", attrs, c, "", "", m.ints(2, 4, 4, 3))
			default:
				// Sizes computed from the input's shape, as PyTorch exports
				// F.interpolate(size=...).
				hw := m.op("Slice", nil, m.op("Shape", nil, "x"), m.ints(2), m.ints(4))
				nc := m.op("Slice", nil, m.op("Shape", nil, c), m.ints(0), m.ints(2))
				sizes := m.op("Concat", map[string]any{"axis": 0}, nc, m.op("Add", nil, hw, m.ints(6, 3)))
				r = m.op("Resize", attrs, c, "", "", sizes)
			}
			return m.conv(r, 4, 3, 1, nil)
		}, 13})
	}
	for _, opset := range []int{13, 17, 21} {
		for _, tc := range cases {
			if opset < tc.from {
				continue
			}
			t.Run(fmt.Sprintf("opset%d/%s", opset, tc.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(opset), 9))
				m := &tiny{r: r}
				out := tc.build(m, opset)
				model := m.model(opset, out)
				opts := training.Options{Append: splice.Options{Loss: "cross-entropy"}}
				_, rep, err := training.Build(model, opts)
				if err != nil {
					t.Fatal(err)
				}
				x := randTensor(r, []int{2, 3, tc.size, tc.size}, 1)
				// The output's spatial size, from the model itself.
				res, err := openModel(t, model).Run(map[string]*tensor.Tensor{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				y := res[out]
				lab := make([]int64, y.Shape[0]*y.Shape[2]*y.Shape[3])
				for i := range lab {
					lab[i] = int64(r.IntN(3))
				}
				feeds := map[string]*tensor.Tensor{"x": x, rep.Append.Target: tensor.FromInt64([]int{y.Shape[0], y.Shape[2], y.Shape[3]}, lab)}
				checkFiniteDifferences(t, model, opts, feeds, 4, 1e-2)
			})
		}
	}
}

// TestMissingRuleNamesTheNode: an op without a gradient rule on the path
// from a parameter to the loss is an error that names the op and the node;
// the same op off that path (read only by a model output the loss does not
// use) is fine.
func TestMissingRuleNamesTheNode(t *testing.T) {
	m := &tiny{r: rand.New(rand.NewPCG(1, 1))}
	c := m.conv("x", 3, 4, 3, nil)
	erf := m.op("Erf", nil, c)
	out := m.conv(erf, 4, 3, 1, nil)
	_, _, err := training.Build(m.model(17, out), training.Options{Append: splice.Options{Loss: "dice"}})
	if err == nil || !strings.Contains(err.Error(), "Erf") || !strings.Contains(err.Error(), m.nodes[1].GetName()) {
		t.Fatalf("error %v, want one naming Erf and node %s", err, m.nodes[1].GetName())
	}

	m = &tiny{r: rand.New(rand.NewPCG(1, 1))}
	c = m.conv("x", 3, 3, 3, nil)
	side := m.op("Erf", nil, c)
	model := m.model(17, c)
	model.Graph.Output = append(model.Graph.Output, &onnxpb.ValueInfoProto{Name: proto.String(side),
		Type: model.Graph.Output[0].Type})
	if _, _, err := training.Build(model, training.Options{Append: splice.Options{Loss: "dice", Output: c}}); err != nil {
		t.Fatalf("Erf off the loss's path: %v", err)
	}
}
