package export_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// layoutHead builds a channels-last model as tf2onnx writes a Keras head:
// image [N,4,4,3] → Transpose to NCHW → 1x1 Conv to classes channels →
// activation over axis 1 (act: "Softmax" or "Sigmoid") → tail back to NHWC
// ("transpose": Transpose 0,2,3,1; "reshape": Reshape to [-1,4,4,classes]),
// output "prob" [N,4,4,classes]. It returns the model, its weight
// ([classes,3]) and its bias.
func layoutHead(act, tail string, classes int) (*onnxpb.ModelProto, []float32, []float32) {
	rng := rand.New(rand.NewPCG(9, uint64(classes)))
	w, b := make([]float32, classes*3), make([]float32, classes)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64()) / 2
	}
	fixed := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	batch := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
	vi := func(name string, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float32)), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
	}
	node := func(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: []string{out}, Name: proto.String(op + "_" + out), Attribute: attrs}
	}
	perm := func(p ...int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String("perm"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: p}
	}
	actNode := node(act, []string{"logits"}, "act")
	if act == "Softmax" {
		actNode.Attribute = []*onnxpb.AttributeProto{{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}}
	}
	c := int64(classes)
	inits := []*onnxpb.TensorProto{
		{Name: proto.String("w"), DataType: proto.Int32(int32(tensor.Float32)), Dims: []int64{c, 3, 1, 1}, FloatData: w},
		{Name: proto.String("b"), DataType: proto.Int32(int32(tensor.Float32)), Dims: []int64{c}, FloatData: b},
	}
	last := node("Transpose", []string{"act"}, "prob", perm(0, 2, 3, 1))
	if tail == "reshape" {
		inits = append(inits, &onnxpb.TensorProto{Name: proto.String("shape"), DataType: proto.Int32(int32(tensor.Int64)),
			Dims: []int64{4}, Int64Data: []int64{-1, 4, 4, c}})
		last = node("Reshape", []string{"act", "shape"}, "prob")
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("keras_like_head"),
			Input:       []*onnxpb.ValueInfoProto{vi("image", batch, fixed(4), fixed(4), fixed(3))},
			Output:      []*onnxpb.ValueInfoProto{vi("prob", batch, fixed(4), fixed(4), fixed(c))},
			Initializer: inits,
			Node: []*onnxpb.NodeProto{
				node("Transpose", []string{"image"}, "nchw", perm(0, 3, 1, 2)),
				node("Conv", []string{"nchw", "w", "b"}, "logits"),
				actNode,
				last,
			},
		},
	}, w, b
}

// nhwcLogits computes the 1x1 convolution of an NHWC image in float64:
// the logits of layoutHead, channels-last.
func nhwcLogits(img *tensor.Tensor, w, b []float32) *tensor.Tensor {
	x := img.Float64s()
	c := len(b)
	pixels := len(x) / 3
	out := make([]float64, pixels*c)
	for p := range pixels {
		for k := range c {
			s := float64(b[k])
			for j := range 3 {
				s += float64(w[k*3+j]) * x[p*3+j]
			}
			out[p*c+k] = s
		}
	}
	shape := append(append([]int{}, img.Shape[:3]...), c)
	return tensor.FromFloat64(shape, out)
}

// TestAppendHeadBehindLayoutNodes checks the heads tf2onnx writes for
// channels-last Keras models, where a Transpose back to NHWC (or, for one
// channel, a Reshape) follows the Softmax or Sigmoid: append finds the head
// and reads the logits in the output's layout, so the spliced loss equals
// the reference on the logits (from_logits true), or with
// --use-activation-output on the probabilities (from_logits false); a
// Reshape after a Softmax hides the head (it may mix the class axis); the
// training graph builds and its bias gradient matches central differences.
func TestAppendHeadBehindLayoutNodes(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, 2*4*4*3)
	for i := range img {
		img[i] = float32(rng.NormFloat64())
	}
	image := tensor.FromFloat32([]int{2, 4, 4, 3}, img)
	for _, tc := range []struct {
		act, tail, loss string
		classes         int
		activation      bool
	}{
		{"Softmax", "transpose", "cross-entropy", 3, false},
		{"Softmax", "transpose", "dice", 3, true},
		{"Sigmoid", "reshape", "bce", 1, false},
		{"Sigmoid", "reshape", "focal", 1, true},
		{"Sigmoid", "transpose", "bce", 2, false},
	} {
		name := tc.act + "/" + tc.tail + "/" + tc.loss
		m, w, b := layoutHead(tc.act, tc.tail, tc.classes)
		sm, rep := mustAppend(t, m, export.AppendOptions{Loss: tc.loss, UseActivationOutput: tc.activation, KeepOutputs: true})
		cfg := rep.Config
		if rep.Activation != tc.act || cfg.Layout != "nhwc" || cfg.FromLogits == tc.activation {
			t.Errorf("%s: head %q, layout %s, from_logits %v; want %s, nhwc, %v (notes %q)", name, rep.Activation, cfg.Layout, cfg.FromLogits, tc.act, !tc.activation, rep.Notes)
		}
		wantRead := export.DefaultPrefix + "prob_logits"
		if tc.activation {
			wantRead = "prob"
		}
		if rep.AttachedTo != wantRead {
			t.Errorf("%s: the loss reads %q, want %q", name, rep.AttachedTo, wantRead)
		}
		spec, err := losses.Lookup(tc.loss)
		if err != nil {
			t.Fatal(err)
		}
		logits := nhwcLogits(image, w, b)
		feeds := makeTarget(cfg, spec, logits, rng)
		feeds["image"] = image
		sess, err := runtime.NewSessionFromFile(save(t, dir, strings.ReplaceAll(name, "/", "_")+".onnx", sm), runtime.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := sess.Run(feeds)
		sess.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		in := logits
		if tc.activation {
			in = got["prob"]
		}
		want, err := spec.Reference(reference.Inputs{"input": in, "target": feeds["target"]}, cfg.Reference())
		if err != nil {
			t.Fatal(err)
		}
		if e, err := relErr(got["loss"], want, 1e-5, 1e-6); err != nil || e > 1 {
			t.Errorf("%s: loss %v, reference on the %s %v (%v)", name, got["loss"].Float64s(), map[bool]string{false: "logits", true: "probabilities"}[tc.activation], want.Float64s(), err)
		}
		if tc.activation {
			continue
		}
		checkHeadTrain(t, name, m, tc.loss, feeds, got["loss"].Float64s()[0], b)
	}

	// inspect says the same.
	m, _, _ := layoutHead("Softmax", "transpose", 3)
	if o := export.Inspect(&export.LoadedModel{Proto: m}).Outputs[0]; o.Op != "Softmax" || o.Axis != 3 || o.Logits != "logits" ||
		strings.Join(o.Then, ",") != "Transpose" || o.Layout != "nhwc" {
		t.Errorf("inspect: %+v; want Softmax over axis 3 then Transpose, logits \"logits\", nhwc", o)
	}

	// An op of another domain ends the walk, and inspect names it.
	g := m.GetGraph()
	g.Node[len(g.Node)-1].Domain = proto.String("com.example")
	if o := export.Inspect(&export.LoadedModel{Proto: m}).Outputs[0]; o.Op != "com.example::Transpose" || o.Logits != "" || len(o.Then) != 0 {
		t.Errorf("inspect, custom op at the end: %+v", o)
	}

	// A Reshape after a Softmax may merge or split its axis: no head.
	m, _, _ = layoutHead("Softmax", "reshape", 3)
	if _, rep := mustAppend(t, m, export.AppendOptions{Loss: "dice"}); rep.Activation != "" || rep.AttachedTo != "prob" {
		t.Errorf("Softmax then Reshape: head %q, the loss reads %q; want no head and the output", rep.Activation, rep.AttachedTo)
	}
}

// checkHeadTrain builds the training graph of a layoutHead model, checks
// that its loss is the spliced model's, and that the bias gradient matches
// central differences of the loss.
func checkHeadTrain(t *testing.T, name string, m *onnxpb.ModelProto, loss string, feeds map[string]*tensor.Tensor, want float64, b []float32) {
	t.Helper()
	tm, rep, err := export.AppendTrain(m, export.TrainOptions{Append: export.AppendOptions{Loss: loss}})
	if err != nil {
		t.Fatalf("%s: append --train: %v", name, err)
	}
	raw, err := export.Marshal(tm)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSession(raw, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	f := map[string]*tensor.Tensor{"image": feeds["image"], rep.Append.Target: feeds["target"]}
	got, err := sess.Run(f)
	if err != nil {
		t.Fatalf("%s: training graph: %v", name, err)
	}
	if l := got["loss"].Float64s()[0]; math.Abs(l-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("%s: training graph's loss %.9g, the spliced model's %.9g", name, l, want)
	}
	for _, p := range rep.Params {
		if p != "b" && p != "w" {
			t.Errorf("%s: parameter %q", name, p)
		}
	}
	gb := got[training.GradName("b")].Float64s()
	var w *tensor.Tensor
	for _, init := range tm.GetGraph().GetInitializer() {
		if init.GetName() == "w" {
			w = training.Decode(init)
		}
	}
	const eps = 1e-2
	at := func(k int, d float32) float64 {
		bb := append([]float32{}, b...)
		bb[k] += d
		f["b"], f["w"] = tensor.FromFloat32([]int{len(b)}, bb), w
		res, err := sess.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		return res["loss"].Float64s()[0]
	}
	for k := range b {
		fd := (at(k, eps) - at(k, -eps)) / (2 * eps)
		if math.Abs(fd-gb[k]) > 1e-3*math.Max(1, math.Abs(fd)) {
			t.Errorf("%s: d loss / d b[%d] is %.6g, central difference %.6g", name, k, gb[k], fd)
		}
	}
}
