//go:build cgo

package runtime

import (
	"testing"
)

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

	in, out, err = parseModelIO(identityModel())
	if err != nil || in["x"] == nil || out["y"] == nil || len(in["x"].dims) != 1 || in["x"].dims[0].value != 1 {
		t.Errorf("identityModel: %+v %+v %v", in["x"], out["y"], err)
	}

	if _, _, err := parseModelIO([]byte{0x3a, 0x10, 0x01}); err == nil {
		t.Error("a truncated model parsed without error")
	}
}

func FuzzParseModelIO(f *testing.F) {
	for _, name := range []string{"two_outputs.onnx", "no_shape.onnx", "double_bfloat16.onnx", "external.onnx"} {
		f.Add(readModel(f, name))
	}
	f.Add(identityModel())
	f.Fuzz(func(t *testing.T, b []byte) {
		parseModelIO(b) // must not panic
	})
}
