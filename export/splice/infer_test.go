package splice_test

import (
	"fmt"
	"testing"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// dims builds a shape: an int is a fixed size, a string a symbolic one.
func dims(ds ...any) *onnxpb.TensorShapeProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range ds {
		switch d := d.(type) {
		case int:
			s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		case string:
			s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		}
	}
	return s
}

func valueInfo(name string, shape *onnxpb.TensorShapeProto) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(tensor.Float32)), Shape: shape}}}}
}

func model(g *onnxpb.GraphProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       g,
	}
}

// addChain is image [N,1,H,W] followed by depth nodes v = Add(v, v), each
// declared [N, c_i, H, W]. Every value is reached by 2^depth paths from the
// output, and the walk back to the image's one channel must visit each
// value once.
func addChain(depth int) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: proto.String("chain"), Input: []*onnxpb.ValueInfoProto{valueInfo("image", dims("N", 1, "H", "W"))}}
	prev := "image"
	for i := range depth {
		out := fmt.Sprintf("v%d", i)
		if i == depth-1 {
			out = "out"
		} else {
			g.ValueInfo = append(g.ValueInfo, valueInfo(out, dims("N", fmt.Sprintf("c%d", i), "H", "W")))
		}
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String("Add"), Name: proto.String("add_" + out), Input: []string{prev, prev}, Output: []string{out}})
		prev = out
	}
	g.Output = []*onnxpb.ValueInfoProto{valueInfo("out", dims("N", "C", "H", "W"))}
	return model(g)
}

// TestInferenceReusedValues checks that inspecting and splicing a model
// whose values are reused (x + x, 200 deep) finds the one channel at the
// image: a walk that revisited every path would take 2^200 steps.
func TestInferenceReusedValues(t *testing.T) {
	m := addChain(200)
	info := splice.Inspect(&modelio.Model{Proto: m})
	if len(info.Outputs) != 1 || info.Outputs[0].Layout != "nchw" || info.Outputs[0].Channels != 1 {
		t.Errorf("outputs %+v; want nchw with 1 channel", info.Outputs)
	}
	_, rep, err := splice.Append(m, splice.Options{Loss: "bce"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Config.Mode != losses.Binary || rep.TargetType != "float32[N,1,H,W]" {
		t.Errorf("mode %s, target %s; want binary, float32[N,1,H,W] (notes %q)", rep.Config.Mode, rep.TargetType, rep.Notes)
	}
}

// TestInferenceEnds checks that the walk ends on a cycle (a malformed
// graph) and on a chain longer than it follows.
func TestInferenceEnds(t *testing.T) {
	cycle := model(&onnxpb.GraphProto{
		Name:  proto.String("cycle"),
		Input: []*onnxpb.ValueInfoProto{valueInfo("image", dims("N", "C", "H", "W"))},
		Node: []*onnxpb.NodeProto{
			{OpType: proto.String("Add"), Input: []string{"image", "b"}, Output: []string{"a"}},
			{OpType: proto.String("Relu"), Input: []string{"a"}, Output: []string{"b"}},
			{OpType: proto.String("Relu"), Input: []string{"b"}, Output: []string{"out"}},
		},
		Output: []*onnxpb.ValueInfoProto{valueInfo("out", dims("N", "C", "H", "W"))},
	})
	if info := splice.Inspect(&modelio.Model{Proto: cycle}); info.Outputs[0].Channels != 0 {
		t.Errorf("cycle: %+v", info.Outputs[0])
	}

	g := &onnxpb.GraphProto{Name: proto.String("long"), Input: []*onnxpb.ValueInfoProto{valueInfo("image", dims("N", 3, "H", "W"))}}
	prev := "image"
	for i := range 50000 {
		out := fmt.Sprintf("v%d", i)
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String("Relu"), Input: []string{prev}, Output: []string{out}})
		prev = out
	}
	g.Output = []*onnxpb.ValueInfoProto{valueInfo(prev, dims("N", "C", "H", "W"))}
	if info := splice.Inspect(&modelio.Model{Proto: model(g)}); info.Outputs[0].Channels != 0 {
		t.Errorf("a chain of 50000 was followed to its end: %+v", info.Outputs[0])
	}
}

// TestInspectParameters checks the parameter count: the elements of every
// initializer, saturating where the product or the sum overflows int64.
func TestInspectParameters(t *testing.T) {
	count := func(shapes ...[]int64) int64 {
		g := &onnxpb.GraphProto{Name: proto.String("weights")}
		for i, dims := range shapes {
			g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String(fmt.Sprint("w", i)), Dims: dims, DataType: proto.Int32(1)})
		}
		return splice.Inspect(&modelio.Model{Proto: model(g)}).Parameters
	}
	const maxInt64 = 1<<63 - 1
	for _, tc := range []struct {
		shapes [][]int64
		want   int64
	}{
		{[][]int64{{2, 3}, {4}, {}}, 11},
		{[][]int64{{1 << 40, 1 << 40}}, maxInt64}, // 2^80 wraps to 0 in int64
		{[][]int64{{1 << 32, 1 << 32, 3}}, maxInt64},
		{[][]int64{{1 << 62}, {1 << 62}, {1 << 62}}, maxInt64},
		{[][]int64{{1 << 40, 1 << 40, 0}, {5}}, 5},
		{[][]int64{{-1, 4}, {3}}, 3},
	} {
		if got := count(tc.shapes...); got != tc.want {
			t.Errorf("%v: %d parameters, want %d", tc.shapes, got, tc.want)
		}
	}
}
