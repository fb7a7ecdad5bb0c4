//go:build unix

package modelio_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/internal/atomicfile"
	"github.com/onnxloss/onnxloss/onnxpb"
	"google.golang.org/protobuf/proto"
)

// externalModel is a model whose one weight (4 float32) lies in the file at
// location, relative to the model.
func externalModel(location string) *onnxpb.ModelProto {
	kv := func(k, v string) *onnxpb.StringStringEntryProto {
		return &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)}
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: &onnxpb.TensorShapeProto{
				Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 4}}}}}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{{OpType: proto.String("Add"), Input: []string{"x", "w"}, Output: []string{"y"}}},
			Initializer: []*onnxpb.TensorProto{{
				Name: proto.String("w"), Dims: []int64{4}, DataType: proto.Int32(1),
				DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{kv("location", location), kv("offset", "0"), kv("length", "16")},
			}},
			Input:  []*onnxpb.ValueInfoProto{vi("x")},
			Output: []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
}

var weights = []byte("0123456789abcdef")

// writeModel saves externalModel(location) as dir/name and the weights at
// dataPath (when not "").
func writeModel(t *testing.T, dir, name, location, dataPath string) string {
	t.Helper()
	if dataPath != "" {
		if err := os.MkdirAll(filepath.Dir(dataPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dataPath, weights, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := modelio.Save(p, externalModel(location)); err != nil {
		t.Fatal(err)
	}
	return p
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestLoadExternalThroughLinks checks that an external data file must stay
// inside the model's folder once symbolic links are resolved.
func TestLoadExternalThroughLinks(t *testing.T) {
	root := t.TempDir()
	secret := filepath.Join(root, "elsewhere", "secret.bin")
	if err := os.MkdirAll(filepath.Dir(secret), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, weights, 0o644); err != nil {
		t.Fatal(err)
	}

	// The data file is a link out of the folder.
	dir := filepath.Join(root, "a")
	os.Mkdir(dir, 0o755)
	symlink(t, secret, filepath.Join(dir, "w.bin"))
	p := writeModel(t, dir, "m.onnx", "w.bin", "")
	if _, err := modelio.Load(p); err == nil || !strings.Contains(err.Error(), "outside the model's folder") {
		t.Errorf("data linked out of the folder: %v", err)
	}
	// A folder above the data file is a link out of the folder.
	dir = filepath.Join(root, "b")
	os.Mkdir(dir, 0o755)
	symlink(t, "../elsewhere", filepath.Join(dir, "sub"))
	p = writeModel(t, dir, "m.onnx", "sub/secret.bin", "")
	if _, err := modelio.Load(p); err == nil || !strings.Contains(err.Error(), "outside the model's folder") {
		t.Errorf("data under a folder linked out: %v", err)
	}
	// Links that stay inside are fine.
	dir = filepath.Join(root, "c")
	p = writeModel(t, dir, "m.onnx", "w.bin", filepath.Join(dir, "store", "w.bin"))
	symlink(t, "store/w.bin", filepath.Join(dir, "w.bin"))
	if lm, err := modelio.Load(p); err != nil || lm.External[0].Size != 16 {
		t.Errorf("data linked inside the folder: %v", err)
	}
	// A download cache: the model and its data are links into a content
	// store; the data resolves into the folder of the model's own target.
	blobs := filepath.Join(root, "cache", "blobs")
	snap := filepath.Join(root, "cache", "snapshots", "rev")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	writeModel(t, blobs, "m1", "model.onnx.data", filepath.Join(blobs, "d1"))
	symlink(t, "../../blobs/m1", filepath.Join(snap, "model.onnx"))
	symlink(t, "../../blobs/d1", filepath.Join(snap, "model.onnx.data"))
	if lm, err := modelio.Load(filepath.Join(snap, "model.onnx")); err != nil || lm.External[0].Size != 16 {
		t.Errorf("a download cache's links: %v", err)
	}
}

// freshModel writes a model and its data file w.bin into a new folder.
func freshModel(t *testing.T) (dir, model, data string) {
	dir = t.TempDir()
	data = filepath.Join(dir, "w.bin")
	model = writeModel(t, dir, "m.onnx", "w.bin", data)
	return dir, model, data
}

// TestWriteModelRefusesItsInputs checks that the output can be neither the
// model nor one of its data files, by path, through a link, or as a hard
// link; and that nothing changes when it is refused.
func TestWriteModelRefusesItsInputs(t *testing.T) {
	dir, model, data := freshModel(t)
	lm, err := modelio.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(model)
	symlink(t, "m.onnx", filepath.Join(dir, "link.onnx"))
	if err := os.Link(model, filepath.Join(dir, "hard.onnx")); err != nil {
		t.Fatal(err)
	}
	symlink(t, "w.bin", filepath.Join(dir, "wlink.onnx"))
	other := t.TempDir()
	for _, tc := range []struct{ out, what string }{
		{model, "the model being read"},
		{filepath.Join(dir, ".", "sub", "..", "m.onnx"), "the model being read"},
		{filepath.Join(dir, "link.onnx"), "the model being read"},
		{filepath.Join(dir, "hard.onnx"), "the model being read"},
		{data, `external data file "w.bin"`},
		{filepath.Join(dir, "wlink.onnx"), `external data file "w.bin"`},
		{filepath.Join(other, "w.bin"), `where the model's external data file "w.bin" goes`},
	} {
		err := lm.WriteModel(tc.out, lm.Proto)
		var oe *modelio.OverwriteError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.what) {
			t.Errorf("%s: %v; want an OverwriteError naming %s", tc.out, err, tc.what)
		}
		if err := lm.CheckOutput(tc.out); !errors.As(err, &oe) {
			t.Errorf("CheckOutput(%s): %v", tc.out, err)
		}
	}
	if after, _ := os.ReadFile(model); !bytes.Equal(before, after) {
		t.Error("the model changed")
	}
	if b, _ := os.ReadFile(data); !bytes.Equal(b, weights) {
		t.Error("the data changed")
	}
	if got := tree(t, other); len(got) != 0 {
		t.Errorf("refused writes left %q", got)
	}
}

// TestWriteModelCopiesData checks that external data is copied next to the
// output, never hard-linked, and never sent out of the output folder through
// a link there.
func TestWriteModelCopiesData(t *testing.T) {
	_, model, data := freshModel(t)
	lm, err := modelio.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := lm.WriteModel(filepath.Join(out, "spliced.onnx"), lm.Proto); err != nil {
		t.Fatal(err)
	}
	placed := filepath.Join(out, "w.bin")
	b, err := os.ReadFile(placed)
	if err != nil || !bytes.Equal(b, weights) {
		t.Fatalf("placed data %q, %v", b, err)
	}
	si, _ := os.Stat(data)
	pi, _ := os.Stat(placed)
	if os.SameFile(si, pi) || pi.Sys().(*syscall.Stat_t).Nlink != 1 {
		t.Error("the data was hard-linked, not copied")
	}
	// Written again: the identical copy is kept.
	if err := lm.WriteModel(filepath.Join(out, "again.onnx"), lm.Proto); err != nil {
		t.Fatal(err)
	}

	// A location under a folder that the output folder links elsewhere.
	src := t.TempDir()
	writeModel(t, src, "m.onnx", "sub/w.bin", filepath.Join(src, "sub", "w.bin"))
	lm, err = modelio.Load(filepath.Join(src, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	out, outside := t.TempDir(), t.TempDir()
	symlink(t, outside, filepath.Join(out, "sub"))
	if err := lm.WriteModel(filepath.Join(out, "spliced.onnx"), lm.Proto); err == nil || !strings.Contains(err.Error(), "outside the output folder") {
		t.Errorf("data through a link out of the output folder: %v", err)
	}
	if got := tree(t, outside); len(got) != 0 {
		t.Errorf("wrote %q outside the output folder", got)
	}
	// A read-only output is refused before any data is placed.
	deep := t.TempDir()
	writeModel(t, deep, "m.onnx", "a/b/w.bin", filepath.Join(deep, "a", "b", "w.bin"))
	lm, err = modelio.Load(filepath.Join(deep, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	out = t.TempDir()
	ro := filepath.Join(out, "ro.onnx")
	os.WriteFile(ro, []byte("keep"), 0o444)
	if err := lm.WriteModel(ro, lm.Proto); !errors.Is(err, atomicfile.ErrReadOnly) {
		t.Errorf("read-only output: %v", err)
	}
	if got := tree(t, out); len(got) != 1 {
		t.Errorf("a refused write left %q", got)
	}

	// Files and folders placed before a failure are removed again: the
	// second data file collides with a different file at the output.
	m := externalModel("a/b/w.bin")
	second := proto.Clone(m.Graph.Initializer[0]).(*onnxpb.TensorProto)
	second.Name = proto.String("w2")
	second.ExternalData[0].Value = proto.String("w2.bin")
	m.Graph.Initializer = append(m.Graph.Initializer, second)
	if err := os.WriteFile(filepath.Join(deep, "w2.bin"), weights, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := modelio.Save(filepath.Join(deep, "two.onnx"), m); err != nil {
		t.Fatal(err)
	}
	lm, err = modelio.Load(filepath.Join(deep, "two.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	out = t.TempDir()
	os.WriteFile(filepath.Join(out, "w2.bin"), []byte("other"), 0o644)
	if err := lm.WriteModel(filepath.Join(out, "two.onnx"), lm.Proto); err == nil || !strings.Contains(err.Error(), "other content") {
		t.Errorf("colliding data file: %v", err)
	}
	if got := tree(t, out); len(got) != 1 {
		t.Errorf("a failed write left %q", got)
	}
}

// TestWriteModelRefusesLinkElsewhere checks that a model with external data
// is not written through a link into another folder, where its data files
// would be missing.
func TestWriteModelRefusesLinkElsewhere(t *testing.T) {
	_, model, _ := freshModel(t)
	lm, err := modelio.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	out, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "real.onnx")
	os.WriteFile(target, []byte("old"), 0o644)
	symlink(t, target, filepath.Join(out, "link.onnx"))
	if err := lm.WriteModel(filepath.Join(out, "link.onnx"), lm.Proto); err == nil || !strings.Contains(err.Error(), "another folder") {
		t.Errorf("link into another folder: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "old" {
		t.Error("the link's target was replaced")
	}
}
