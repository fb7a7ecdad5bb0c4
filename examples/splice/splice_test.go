package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
)

// TestSplice runs the example end to end: PyTorch exports the model, the
// loss is spliced on and run in ONNX Runtime, and the loss equals PyTorch's
// F.cross_entropy on PyTorch's own output of the same model.
func TestSplice(t *testing.T) {
	testutil.RequireRuntime(t)
	py := testutil.Python(t)
	dir := t.TempDir()
	out, err := exec.Command(py, filepath.Join(testutil.Root(t), "examples", "splice", "export_model.py"), dir).Output()
	if err != nil {
		t.Fatalf("export_model.py: %v", err)
	}
	var want struct {
		TorchCrossEntropy float64 `json:"torch_cross_entropy"`
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("export_model.py printed %q: %v", out, err)
	}
	got, rep, err := run(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.LossOutput != "loss" || rep.Outputs[0] != "loss" || rep.Target != "target" {
		t.Errorf("outputs %v, loss output %q, target %q", rep.Outputs, rep.LossOutput, rep.Target)
	}
	// ONNX Runtime and PyTorch run the model's float32 convolutions in
	// different orders; the loss agrees to float32 rounding of the logits.
	if math.Abs(got-want.TorchCrossEntropy) > 1e-4*want.TorchCrossEntropy || math.IsNaN(got) {
		t.Errorf("spliced model's loss %v, PyTorch %v", got, want.TorchCrossEntropy)
	}
	t.Logf("spliced loss %.7f, PyTorch %.7f", got, want.TorchCrossEntropy)
}
