package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/onnxpb"
	"google.golang.org/protobuf/proto"
)

// hostileModel has control characters, a right-to-left override and DEL in
// its names, shapes, producer and metadata, two outputs, and initializers
// whose element counts overflow int64.
func hostileModel() *onnxpb.ModelProto {
	vi := func(name string, dims ...string) *onnxpb.ValueInfoProto {
		s := &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: s}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(8),
		ProducerName:    proto.String("evil\r\x1b[2K"),
		ProducerVersion: proto.String("1\x7f"),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		MetadataProps:   []*onnxpb.StringStringEntryProto{{Key: proto.String("note\x07"), Value: proto.String("a\u202eb\u0085c")}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{
				{OpType: proto.String("Relu"), Input: []string{"image\x1b]0;title\x07"}, Output: []string{"out\x1b[31m"}},
				{OpType: proto.String("Relu"), Input: []string{"image\x1b]0;title\x07"}, Output: []string{"aux"}},
			},
			Initializer: []*onnxpb.TensorProto{
				{Name: proto.String("big"), Dims: []int64{1 << 40, 1 << 40}, DataType: proto.Int32(1)},
				{Name: proto.String("big2"), Dims: []int64{1 << 62, 4}, DataType: proto.Int32(1)},
			},
			Input:  []*onnxpb.ValueInfoProto{vi("image\x1b]0;title\x07", "N", "C", "H\x1b[1m", "W")},
			Output: []*onnxpb.ValueInfoProto{vi("out\x1b[31m", "N", "C", "H\x1b[1m", "W"), vi("aux", "N", "C", "H\x1b[1m", "W")},
		},
	}
}

// rawControls lists the non-printable runes in s other than line breaks.
func rawControls(s string) []rune {
	var bad []rune
	for _, r := range s {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' || r == utf8.RuneError) {
			bad = append(bad, r)
		}
	}
	return bad
}

// TestInspectEscapesModelStrings checks that inspect prints no control
// character from a model to the terminal, in text or JSON, that the JSON
// still decodes to the model's own strings, and that an overflowing
// parameter count is reported as such.
func TestInspectEscapesModelStrings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostile.onnx")
	if err := export.Save(path, hostileModel()); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli("inspect", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if bad := rawControls(stdout); len(bad) > 0 {
		t.Errorf("inspect printed raw %q:\n%s", bad, stdout)
	}
	for _, want := range []string{`"out\x1b[31m"`, `"evil\r\x1b[2K"`, `"a\u202eb\u0085c"`, `"note\a"`, `"[N,C,H\x1b[1m,W]"`,
		"(at least 9223372036854775807 parameters)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect does not say %s:\n%s", want, stdout)
		}
	}

	code, stdout, stderr = cli("inspect", path, "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, stderr)
	}
	if bad := rawControls(stdout); len(bad) > 0 {
		t.Errorf("inspect --json printed raw %q:\n%s", bad, stdout)
	}
	var info export.ModelInfo
	if err := json.Unmarshal([]byte(stdout), &info); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	m := hostileModel()
	if info.Producer != m.GetProducerName() || info.ProducerVersion != m.GetProducerVersion() ||
		info.Outputs[0].Name != "out\x1b[31m" || info.Inputs[0].Shape[2] != "H\x1b[1m" ||
		info.Metadata[0].Value != "a\u202eb\u0085c" || info.Parameters != 1<<63-1 {
		t.Errorf("the JSON does not decode to the model's strings: %+v", info)
	}

	// Errors quote or escape them too (the outputs listed when the choice
	// is ambiguous carry the shapes).
	code, _, stderr = cli("append", "--model", path, "bce", "--out", filepath.Join(t.TempDir(), "x.onnx"))
	if code != 2 || !strings.Contains(stderr, `H\x1b[1m`) {
		t.Errorf("append: exit %d, %q", code, stderr)
	}
	if bad := rawControls(stderr); len(bad) > 0 {
		t.Errorf("append printed raw %q: %q", bad, stderr)
	}
}

func TestEscapeHelpers(t *testing.T) {
	for in, want := range map[string]string{"plain name": "plain name", "a\x1bb": `"a\x1bb"`, "\xff": `"\xff"`, "é": "é"} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
	if got := escapeControls("line 1\n\tline 2 \x1b[0m \u202e \xfe"); got != "line 1\n\tline 2 \\x1b[0m \\u202e \\xfe" {
		t.Errorf("escapeControls: %q", got)
	}
	if got := string(escapeJSON([]byte("{\"a\":\"x\u0085y\U000e0001z\x7f\"}"))); got != `{"a":"x\u0085y\udb40\udc01z\u007f"}` {
		t.Errorf("escapeJSON: %s", got)
	}
}
