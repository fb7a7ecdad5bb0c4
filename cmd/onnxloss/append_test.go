package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/onnxpb"
	"google.golang.org/protobuf/proto"
)

func committedModel(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(testutil.Root(t), "testdata", "onnx", "models", name+".onnx")
}

// TestAppendCommand splices a loss onto a PyTorch export with a Softmax head
// and checks what the command says and writes.
func TestAppendCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "train.onnx")
	code, stdout, stderr := cli("append", "--model", committedModel(t, "deeplabv3_small_softmax"), "cross-entropy",
		"--ignore-index", "255", "--out", out, "--keep-outputs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q", stdout)
	}
	for _, want := range []string{
		`cross-entropy on output "out" float32[batch,Softmaxout_dim_1,height,width] (from Softmax)`,
		"layout nchw: the Softmax is over axis 1",
		"mode multiclass",
		`reads "/model/Resize_output_0"`,
		"logit space",
		`target input "target" int64[batch,height,width]`,
		`outputs "loss", "out"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	lm, err := export.LoadModel(out)
	if err != nil {
		t.Fatal(err)
	}
	g := lm.Proto.Graph
	if g.Output[0].GetName() != "loss" || g.Output[1].GetName() != "out" || g.Input[len(g.Input)-1].GetName() != "target" {
		t.Errorf("outputs %v, last input %s", g.Output, g.Input[len(g.Input)-1].GetName())
	}
	meta := map[string]string{}
	for _, kv := range lm.Proto.MetadataProps {
		meta[kv.GetKey()] = kv.GetValue()
	}
	if meta["onnxloss.loss"] != "cross-entropy" || !strings.Contains(meta["onnxloss.params"], `"ignore_index":255`) {
		t.Errorf("metadata %v", meta)
	}

	// --quiet prints nothing; --target-name and --use-activation-output apply.
	code, _, stderr = cli("append", "--model", committedModel(t, "deeplabv3_small_softmax"), "--quiet", "--target-name", "labels",
		"--use-activation-output", "focal", "--out", out)
	if code != 0 || stderr != "" {
		t.Fatalf("--quiet: exit %d, stderr %q", code, stderr)
	}
	lm, err = export.LoadModel(out)
	if err != nil {
		t.Fatal(err)
	}
	if in := lm.Proto.Graph.Input; in[len(in)-1].GetName() != "labels" {
		t.Errorf("--target-name: inputs end with %s", in[len(in)-1].GetName())
	}
	if !strings.Contains(metaValue(lm.Proto, "onnxloss.params"), `"from_logits":false`) {
		t.Errorf("--use-activation-output: params %s", metaValue(lm.Proto, "onnxloss.params"))
	}
}

// TestAppendToStdout writes the spliced model to standard output.
func TestAppendToStdout(t *testing.T) {
	code, stdout, stderr := cli("append", "--model", committedModel(t, "logsoftmax"), "focal", "--out", "-")
	if code != 0 || !strings.Contains(stderr, "wrote standard output") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lm, err := export.ParseModel([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if lm.Proto.Graph.Output[0].GetName() != "loss" || metaValue(lm.Proto, "onnxloss.loss") != "focal" {
		t.Errorf("outputs %v", lm.Proto.Graph.Output)
	}
	code, stdout, stderr = cli("append", "--model", committedModel(t, "sigmoid_binary"), "focal", "--out", "-")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "external data") {
		t.Errorf("--out - with external data: exit %d, %d bytes out, %s", code, len(stdout), stderr)
	}
}

func metaValue(m *onnxpb.ModelProto, key string) string {
	for _, kv := range m.MetadataProps {
		if kv.GetKey() == key {
			return kv.GetValue()
		}
	}
	return ""
}

// TestAppendErrors checks exit statuses and messages, and that no output
// file is left behind.
func TestAppendErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	fcn := committedModel(t, "fcn_small")

	// A model with two outputs.
	lm, err := export.LoadModel(fcn)
	if err != nil {
		t.Fatal(err)
	}
	m := lm.Proto
	m.Graph.Output = append(m.Graph.Output, proto.Clone(m.Graph.Output[0]).(*onnxpb.ValueInfoProto))
	m.Graph.Output[1].Name = proto.String("/model/classifier/classifier.4/Conv_output_0")
	twoOutputs := filepath.Join(dir, "two.onnx")
	if err := export.Save(twoOutputs, m); err != nil {
		t.Fatal(err)
	}
	// A model exported with an old opset.
	lm, err = export.LoadModel(committedModel(t, "logsoftmax"))
	if err != nil {
		t.Fatal(err)
	}
	lm.Proto.OpsetImport[0].Version = proto.Int64(11)
	old := filepath.Join(dir, "old.onnx")
	if err := export.Save(old, lm.Proto); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.onnx")
	b, _ := os.ReadFile(fcn)
	if err := os.WriteFile(corrupt, b[:1000], 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"append", "focal", "--out", out}, 2, []string{"--model FILE is required"}},
		{[]string{"append", "--model", fcn, "focal"}, 2, []string{"--out FILE is required"}},
		{[]string{"append", "--model", fcn, "--out", out}, 2, []string{"name a loss"}},
		{[]string{"append", "--model", fcn, "focal", "--gama", "2", "--out", out}, 2, []string{"did you mean --gamma"}},
		{[]string{"append", "--model", twoOutputs, "focal", "--out", out}, 2, []string{"2 outputs", "--output", `"out"`, `"/model/classifier/classifier.4/Conv_output_0"`}},
		{[]string{"append", "--model", fcn, "--output", "logits", "focal", "--out", out}, 2, []string{`no output "logits"`}},
		{[]string{"append", "--model", fcn, "focal", "--classes", "5", "--out", out}, 2, []string{"differs from the 3 channels"}},
		{[]string{"append", "--model", fcn, "focal", "--mode", "binary", "--out", out}, 2, []string{"needs one channel"}},
		{[]string{"append", "--model", fcn, "--prefix", "", "focal", "--out", out}, 2, []string{"--prefix must not be empty"}},
		{[]string{"append", "--model", old, "focal", "--out", out}, 1, []string{"opset 11", "re-exported", "opset 13 or later"}},
		{[]string{"append", "--model", corrupt, "focal", "--out", out}, 1, []string{"truncated or corrupt"}},
		{[]string{"append", "--model", filepath.Join(dir, "missing.onnx"), "focal", "--out", out}, 1, []string{"missing.onnx"}},
		{[]string{"append", "--model", fcn, "focal", "--out", filepath.Join(dir, "no", "such", "dir.onnx")}, 1, []string{"no such file"}},
		{[]string{"inspect"}, 2, []string{"name a model file"}},
		{[]string{"inspect", corrupt}, 1, []string{"truncated or corrupt"}},
	}
	for _, tc := range tests {
		code, _, stderr := cli(tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q does not mention %q", tc.args, stderr, w)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v left %s behind", tc.args, out)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestInspectCommand checks the text and JSON summaries.
func TestInspectCommand(t *testing.T) {
	code, stdout, stderr := cli("inspect", committedModel(t, "deeplabv3_small_softmax"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"IR 7, produced by pytorch",
		"opsets: ai.onnx 13",
		"image                float32[batch,3,height,width]",
		"out                  float32[batch,Softmaxout_dim_1,height,width]  from Softmax (axis 1)",
		`logits before the Softmax: "/model/Resize_output_0"`,
		"looks like nchw, 3 classes",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect does not say %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = cli("inspect", committedModel(t, "sigmoid_binary"), "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	var info struct {
		IRVersion int64 `json:"ir_version"`
		Opsets    []struct {
			Domain  string `json:"domain"`
			Version int64  `json:"version"`
		} `json:"opsets"`
		Outputs []struct {
			Name     string   `json:"name"`
			Shape    []string `json:"shape"`
			Op       string   `json:"op"`
			Logits   string   `json:"logits"`
			Layout   string   `json:"layout"`
			Channels int64    `json:"channels"`
		} `json:"outputs"`
		External []struct {
			Location string `json:"location"`
			Tensors  int    `json:"tensors"`
		} `json:"external_data"`
	}
	if err := json.Unmarshal([]byte(stdout), &info); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	o := info.Outputs[0]
	if info.IRVersion != 8 || info.Opsets[0].Version != 17 || o.Name != "out" || strings.Join(o.Shape, ",") != "batch,1,height,width" ||
		o.Op != "Sigmoid" || o.Logits == "" || o.Layout != "nchw" || o.Channels != 1 {
		t.Errorf("--json: %+v", info)
	}
	if len(info.External) != 1 || info.External[0].Location != "sigmoid_binary.onnx.data" || info.External[0].Tensors != 4 {
		t.Errorf("--json external data: %s", stdout)
	}
	code, stdout, _ = cli("inspect", committedModel(t, "sigmoid_binary"))
	if code != 0 || !strings.Contains(stdout, "external data: sigmoid_binary.onnx.data (932 bytes, 4 tensors)") || !strings.Contains(stdout, "looks like nchw, 1 channel (binary)") {
		t.Errorf("inspect of a model with external data:\n%s", stdout)
	}
}
