package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestFinetune runs the example as the README shows it: the loss falls by a
// third, the held-out mIoU rises past 0.35 (from about 0.02: the untrained
// model predicts almost no background), the curve is written, and the
// checkpoint loads into torchvision's model with load_state_dict and
// predicts what ONNX Runtime predicts.
func TestFinetune(t *testing.T) {
	testutil.RequireRuntime(t)
	root := testutil.Root(t)
	testutil.Python(t)
	cfg := DefaultConfig()
	cfg.Out = t.TempDir()
	var log strings.Builder
	cfg.Log = &log
	res, err := Run(root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(log.String())
	first, last := mean(res.Loss[:3]), mean(res.Loss[len(res.Loss)-3:])
	e0, e1 := res.Evals[0], res.Evals[len(res.Evals)-1]
	if !(last < 2.0/3*first) {
		t.Errorf("the loss fell from %.3f to %.3f only", first, last)
	}
	if !(e1.MIoU > 0.35 && e1.MIoU > e0.MIoU) {
		t.Errorf("held-out mIoU %.3f -> %.3f, want above 0.35", e0.MIoU, e1.MIoU)
	}
	svg, err := os.ReadFile(filepath.Join(cfg.Out, "curve.svg"))
	if err != nil || !strings.Contains(string(svg), "<polyline") {
		t.Errorf("curve.svg: %v", err)
	}
	// The checkpoint in ONNX Runtime and in PyTorch.
	s, err := runtime.NewSessionFromFile(res.Checkpoint, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := os.Open(filepath.Join(cfg.Out, "data", "shapes0000.image.npy"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := tensor.ReadNPY(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromFloat32(append([]int{1}, img.Shape...), img.Data.([]float32))
	out, err := s.Run(map[string]*tensor.Tensor{"image": x})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, v *tensor.Tensor) string {
		p := filepath.Join(cfg.Out, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := tensor.WriteNPY(f, v); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	msg := testutil.RunScript(t, "../examples/finetune/load_in_pytorch.py", res.Checkpoint, write("x.npy", x), write("ort.npy", out["out"]))
	t.Logf("%s", msg)
}
