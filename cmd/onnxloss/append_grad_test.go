package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
)

// TestAppendGradCommand splices a loss with --grad and checks that the
// command names the gradient output and that the model has it second.
func TestAppendGradCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "train.onnx")
	code, _, stderr := cli("append", "--model", committedModel(t, "deeplabv3_small_softmax"), "dice", "--grad", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	const grad = "/model/Resize_output_0_grad"
	for _, want := range []string{
		`gradient output "` + grad + `": d loss / d "/model/Resize_output_0"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	lm, err := export.LoadModel(out)
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, o := range lm.Proto.Graph.Output {
		outs = append(outs, o.GetName())
	}
	if strings.Join(outs, ",") != "loss,"+grad {
		t.Errorf("outputs %v, want loss and %s", outs, grad)
	}
	if !strings.Contains(metaValue(lm.Proto, "onnxloss.params"), `"grad":true`) {
		t.Errorf("params %s", metaValue(lm.Proto, "onnxloss.params"))
	}
}
