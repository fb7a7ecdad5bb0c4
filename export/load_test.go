package export_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// biasModel is image [batch,3,height,width] + bias [1,3,1,1] → out, with
// the bias stored externally at the given location and offset.
func biasModel(location string, offset int64) *onnxpb.ModelProto {
	dims := []*onnxpb.TensorShapeProto_Dimension{
		{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
		{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 3}},
		{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "height"}},
		{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "width"}},
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
	}
	kv := func(k, v string) *onnxpb.StringStringEntryProto {
		return &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)}
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("bias"),
			Node: []*onnxpb.NodeProto{{OpType: proto.String("Add"), Name: proto.String("add"), Input: []string{"image", "bias"}, Output: []string{"out"}}},
			Initializer: []*onnxpb.TensorProto{{
				Name: proto.String("bias"), Dims: []int64{1, 3, 1, 1}, DataType: proto.Int32(1),
				DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{kv("location", location), kv("offset", itoa(int(offset))), kv("length", "12")},
			}},
			Input:  []*onnxpb.ValueInfoProto{vi("image")},
			Output: []*onnxpb.ValueInfoProto{vi("out")},
		},
	}
}

// TestExternalDataBeyond2GiB splices a model whose weights lie past 2 GiB
// in its external data file (a sparse file, so the test writes 12 bytes):
// the model loads without reading the data, the spliced model points at the
// same bytes, and ONNX Runtime computes the loss with them.
func TestExternalDataBeyond2GiB(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	const offset = 1<<31 + 4096
	data := filepath.Join(dir, "weights.bin")
	f, err := os.Create(data)
	if err != nil {
		t.Fatal(err)
	}
	bias := []float32{0.5, -1.25, 2}
	var raw []byte
	for _, b := range bias {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(b))
	}
	if _, err := f.WriteAt(raw, offset); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(offset + 8192); err != nil {
		t.Fatal(err)
	}
	f.Close()
	model := filepath.Join(dir, "model.onnx")
	if err := export.Save(model, biasModel("weights.bin", offset)); err != nil {
		t.Fatal(err)
	}
	lm, err := export.LoadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	if len(lm.External) != 1 || lm.External[0].Size != offset+8192 || lm.External[0].Bytes != 12 {
		t.Fatalf("external data %+v", lm.External)
	}
	out := filepath.Join(dir, "spliced.onnx")
	rep, err := export.AppendFile(model, out, export.AppendOptions{Loss: "cross-entropy", KeepOutputs: true})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSessionFromFile(out, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	const n, h, w = 2, 3, 4
	img := make([]float32, n*3*h*w)
	want := make([]float32, len(img))
	for i := range img {
		img[i] = float32(rng.NormFloat64())
		want[i] = img[i] + bias[(i/(h*w))%3]
	}
	labels := make([]int64, n*h*w)
	for i := range labels {
		labels[i] = int64(rng.IntN(3))
	}
	feeds := map[string]*tensor.Tensor{"image": tensor.FromFloat32([]int{n, 3, h, w}, img), "target": tensor.FromInt64([]int{n, h, w}, labels)}
	got, err := sess.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := relErr(got["out"], tensor.FromFloat32([]int{n, 3, h, w}, want), 1e-6, 1e-6); err != nil || e > 1 {
		t.Fatalf("the model did not read the weights past 2 GiB: %v", err)
	}
	spec, _ := losses.Lookup("cross-entropy")
	ref, err := spec.Reference(reference.Inputs{"input": tensor.FromFloat32([]int{n, 3, h, w}, want), "target": feeds["target"]}, rep.Config.Reference())
	if err != nil {
		t.Fatal(err)
	}
	if e, err := relErr(got["loss"], ref, lossRTol, lossATol); err != nil || e > 1 {
		t.Errorf("loss %v, reference %v (%v)", got["loss"], ref, err)
	}
	if st, _ := os.Stat(out); st.Size() > 64<<10 {
		t.Errorf("the spliced model is %d bytes: the data was pulled in", st.Size())
	}
}

// TestLoadModelRejects checks that broken files and unsafe external data
// references give errors, never panics.
func TestLoadModelRejects(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(modelsDir(t), "fcn_small.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	saveModel := func(name string, m *onnxpb.ModelProto) string {
		p := filepath.Join(dir, name)
		if err := export.Save(p, m); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.WriteFile(filepath.Join(dir, "short.bin"), make([]byte, 8), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.bin"), make([]byte, 64), 0o644); err != nil {
		t.Fatal(err)
	}
	withRefs := func(name string, edit func(t *onnxpb.TensorProto)) string {
		m := biasModel("ok.bin", 0)
		edit(m.Graph.Initializer[0])
		return saveModel(name, m)
	}
	setRef := func(key, value string) func(*onnxpb.TensorProto) {
		return func(t *onnxpb.TensorProto) {
			for _, kv := range t.ExternalData {
				if kv.GetKey() == key {
					kv.Value = proto.String(value)
				}
			}
		}
	}
	huge := filepath.Join(dir, "huge.onnx")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 1<<31); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.onnx"), "no such file"},
		{"folder", dir, "not a regular file"},
		{"empty", write("empty.onnx", nil), "empty"},
		{"truncated", write("truncated.onnx", good[:len(good)/2]), "truncated or corrupt"},
		{"garbage", write("garbage.onnx", []byte("\x89PNG\r\n\x1a\n not a model at all")), "not"},
		{"no graph", saveModel("nograph.onnx", &onnxpb.ModelProto{IrVersion: proto.Int64(8)}), "no graph"},
		{"2 GiB", huge, "2 GiB"},
		{"absolute location", withRefs("abs.onnx", setRef("location", filepath.Join(dir, "ok.bin"))), "absolute path"},
		{"parent location", withRefs("parent.onnx", setRef("location", "../ok.bin")), "leaves the model's folder"},
		{"hidden parent", withRefs("hidden.onnx", setRef("location", "sub/../../ok.bin")), "leaves the model's folder"},
		{"backslash parent", withRefs("backslash.onnx", setRef("location", `..\ok.bin`)), "leaves the model's folder"},
		{"drive letter", withRefs("drive.onnx", setRef("location", `C:\weights\ok.bin`)), "absolute path"},
		{"missing data", withRefs("nodata.onnx", setRef("location", "gone.bin")), "gone.bin"},
		{"short data", withRefs("short.onnx", setRef("location", "short.bin")), "truncated"},
		{"bad offset", withRefs("offset.onnx", setRef("offset", "-4")), "not a non-negative integer"},
		{"no location", withRefs("noloc.onnx", func(t *onnxpb.TensorProto) { t.ExternalData = t.ExternalData[1:] }), "no location"},
		{"not external", withRefs("notext.onnx", func(t *onnxpb.TensorProto) { t.DataLocation = nil }), "data_location is not EXTERNAL"},
	}
	for _, tc := range tests {
		_, err := export.LoadModel(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	// The reference checks are the same for bytes, without the files.
	b, _ := os.ReadFile(filepath.Join(dir, "parent.onnx"))
	if _, err := export.ParseModel(b); err == nil || !strings.Contains(err.Error(), "leaves the model's folder") {
		t.Errorf("ParseModel with ../: %v", err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "nodata.onnx"))
	if lm, err := export.ParseModel(b); err != nil || len(lm.External) != 1 || lm.External[0].Size != -1 {
		t.Errorf("ParseModel does not look for files: %v", err)
	}
}

// TestInspect checks the summary of each committed model against what the
// exporting script says it is.
func TestInspect(t *testing.T) {
	man := readManifest(t, modelsDir(t))
	for _, mm := range man.Models {
		info := export.Inspect(loadCommitted(t, mm.Name))
		if len(info.Inputs) != 1 || info.Inputs[0].Name != mm.InputName || info.Inputs[0].DType != "float32" || len(info.Inputs[0].Shape) != 4 {
			t.Errorf("%s: inputs %+v", mm.Name, info.Inputs)
		}
		if len(info.Outputs) != 1 {
			t.Fatalf("%s: outputs %+v", mm.Name, info.Outputs)
		}
		o := info.Outputs[0]
		if o.Name != mm.OutputName || o.Layout != mm.Layout || o.Channels != int64(mm.Classes) {
			t.Errorf("%s: output %+v; want layout %s, %d channels", mm.Name, o, mm.Layout, mm.Classes)
		}
		if mm.Head != "none" && (strings.ToLower(o.Op) != mm.Head || o.Logits == "") {
			t.Errorf("%s: output from %q, logits %q; want head %s", mm.Name, o.Op, o.Logits, mm.Head)
		}
		if (mm.Head == "softmax" || mm.Head == "logsoftmax") && o.Axis != 1 {
			t.Errorf("%s: axis %d", mm.Name, o.Axis)
		}
		if len(info.Opsets) != 1 || info.Opsets[0].Domain != "" || info.Opsets[0].Version != int64(mm.Opset) {
			t.Errorf("%s: opsets %+v", mm.Name, info.Opsets)
		}
		if info.Producer != "pytorch" || info.Initializers == 0 || info.Parameters == 0 || info.Nodes == 0 {
			t.Errorf("%s: %+v", mm.Name, info)
		}
		_, external := mm.Files["data"]
		if external != (len(info.External) == 1 && info.ExternalBytes > 0) {
			t.Errorf("%s: external data %+v", mm.Name, info.External)
		}
	}
}

// fuzzSeeds returns the committed models (and golden exports) as seeds.
func fuzzSeeds(f *testing.F) {
	root := testutil.Root(f)
	var files []string
	for _, pattern := range []string{"testdata/onnx/models/*.onnx", "onnxpb/testdata/*.onnx", "testdata/onnx/golden/bce_binary.onnx"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		files = append(files, m...)
	}
	if len(files) == 0 {
		f.Fatal("no seed models")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	b, _ := export.Marshal(biasModel("../escape.bin", 0))
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte("\x08\x07\x3a\x00"))
}

// FuzzLoad feeds arbitrary bytes to the model parser: it must return a model
// or an error, never panic, and what it accepts must summarise.
func FuzzLoad(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		lm, err := export.ParseModel(b)
		if err != nil {
			return
		}
		if lm.Proto.GetGraph() == nil {
			t.Fatal("accepted a model without a graph")
		}
		export.Inspect(lm)
	})
}

// FuzzAppend splices losses onto arbitrary models: Append must return a
// model or an error, never panic, and a model it returns must pass the
// structural checker whenever the input did, and marshal.
func FuzzAppend(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		lm, err := export.ParseModel(b)
		if err != nil {
			return
		}
		for _, opts := range []export.AppendOptions{
			{Loss: "cross-entropy"},
			{Loss: "focal", UseActivationOutput: true, KeepOutputs: true},
			{Loss: "bce", LossOptions: losses.Options{"mode": "multilabel"}, TargetName: "t"},
		} {
			out, _, err := export.Append(lm.Proto, opts)
			if err != nil {
				continue
			}
			if export.Check(lm.Proto) == nil {
				if err := export.Check(out); err != nil {
					t.Fatalf("%s: spliced model fails the check: %v", opts.Loss, err)
				}
			}
			if _, err := export.Marshal(out); err != nil {
				t.Fatal(err)
			}
		}
	})
}
