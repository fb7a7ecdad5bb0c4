//go:build cgo

package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/onnxloss/onnxloss/onnxpb"
	"google.golang.org/protobuf/proto"
)

func mustIdentityModel(tb testing.TB) []byte {
	tb.Helper()
	b, err := identityModel()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestParseModelIO(t *testing.T) {
	in, out, err := parseModelIO(readModel(t, "two_outputs.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x, w, total := in["x"], in["weight"], out["total"]
	if x == nil || w == nil || total == nil || len(in) != 2 || len(out) != 3 {
		t.Fatalf("inputs %v, outputs %v", in, out)
	}
	// ONNX TensorProto.DataType: FLOAT is 1, INT64 is 7.
	if x.elemType != 1 || !x.hasShape || len(x.dims) != 2 ||
		x.dims[0].param != "N" || x.dims[0].hasValue || !x.dims[1].hasValue || x.dims[1].value != 3 {
		t.Errorf("x = %+v, want float [N 3]", x)
	}
	if w.elemType != 7 || len(w.dims) != 1 || w.dims[0].param != "N" {
		t.Errorf("weight = %+v, want int64 [N]", w)
	}
	if !total.hasShape || len(total.dims) != 0 {
		t.Errorf("total = %+v, want a declared scalar", total)
	}

	in, _, err = parseModelIO(readModel(t, "no_shape.onnx"))
	if err != nil || in["x"] == nil || in["x"].hasShape {
		t.Errorf("no_shape.onnx: x = %+v, %v; want no shape", in["x"], err)
	}

	in, out, err = parseModelIO(mustIdentityModel(t))
	if err != nil || in["x"] == nil || out["y"] == nil || len(in["x"].dims) != 1 || in["x"].dims[0].value != 1 {
		t.Errorf("identityModel: %+v %+v %v", in["x"], out["y"], err)
	}

	if _, _, err := parseModelIO([]byte{0x3a, 0x10, 0x01}); err == nil {
		t.Error("a truncated model parsed without error")
	}
}

// TestParseModelIOAgreesWithONNXPB decodes every test model with the full
// ONNX schema too and compares what each says about the graph's inputs and
// outputs.
func TestParseModelIOAgreesWithONNXPB(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.onnx"))
	more, _ := filepath.Glob(filepath.Join("..", "testdata", "onnx", "models", "*.onnx"))
	if len(files) == 0 || len(more) == 0 {
		t.Fatal("no test models")
	}
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in, out, err := parseModelIO(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, side := range []struct {
			got  map[string]*declared
			want []*onnxpb.ValueInfoProto
		}{{in, m.GetGraph().GetInput()}, {out, m.GetGraph().GetOutput()}} {
			if len(side.got) != len(side.want) {
				t.Errorf("%s: %d values, want %d", f, len(side.got), len(side.want))
			}
			for _, v := range side.want {
				if got, want := describe(side.got[v.GetName()]), describeONNX(v); got != want {
					t.Errorf("%s: %q is %s, want %s", f, v.GetName(), got, want)
				}
			}
		}
	}
}

func describe(d *declared) string {
	if d == nil {
		return "missing"
	}
	s := fmt.Sprintf("type %d", d.elemType)
	if !d.hasShape {
		return s + " no shape"
	}
	for _, x := range d.dims {
		switch {
		case x.hasValue:
			s += fmt.Sprintf(" %d", x.value)
		case x.param != "":
			s += " " + x.param
		default:
			s += " ?"
		}
	}
	return s
}

func describeONNX(v *onnxpb.ValueInfoProto) string {
	tt := v.GetType().GetTensorType()
	s := fmt.Sprintf("type %d", tt.GetElemType())
	if tt.GetShape() == nil {
		return s + " no shape"
	}
	for _, d := range tt.GetShape().GetDim() {
		switch x := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			s += fmt.Sprintf(" %d", x.DimValue)
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			s += " " + x.DimParam
		default:
			s += " ?"
		}
	}
	return s
}

// weightyModel is a model with one input and output and an initializer of
// n bytes, serialized.
func weightyModel(tb testing.TB, n int) []byte {
	tb.Helper()
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: &onnxpb.TensorShapeProto{
				Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}}}}}}}
	}
	m := &onnxpb.ModelProto{
		IrVersion: proto.Int64(8),
		Graph: &onnxpb.GraphProto{
			Initializer: []*onnxpb.TensorProto{{Name: proto.String("w"), Dims: []int64{int64(n / 4)}, DataType: proto.Int32(1), RawData: make([]byte, n)}},
			Input:       []*onnxpb.ValueInfoProto{vi("x")},
			Output:      []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestParseModelIOSkipsWeights checks that reading a model's signature does
// not copy its weights: 32 MB of them cost less than 64 KiB of memory.
func TestParseModelIOSkipsWeights(t *testing.T) {
	b := weightyModel(t, 32<<20)
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	in, out, err := parseModelIO(b)
	goruntime.ReadMemStats(&after)
	if err != nil || in["x"] == nil || out["y"] == nil || in["x"].dims[0].param != "N" {
		t.Fatalf("%v %v %v", in, out, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("reading the signature of a model with 32 MB of weights allocated %d bytes", n)
	}
}

// BenchmarkParseModelIO reads the signature of a model with 100 MB of
// weights, and, for comparison, decodes the whole model with onnxpb.
func BenchmarkParseModelIO(b *testing.B) {
	model := weightyModel(b, 100<<20)
	b.Run("signature", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(model)))
		for b.Loop() {
			if _, _, err := parseModelIO(model); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("onnxpb", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(model)))
		for b.Loop() {
			var m onnxpb.ModelProto
			if err := proto.Unmarshal(model, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func FuzzParseModelIO(f *testing.F) {
	for _, name := range []string{"two_outputs.onnx", "no_shape.onnx", "double_bfloat16.onnx", "external.onnx"} {
		f.Add(readModel(f, name))
	}
	f.Add(mustIdentityModel(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseModelIO(b) // must not panic
	})
}
