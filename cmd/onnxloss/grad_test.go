package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestExportGrad exports every registered loss with --grad and checks the
// written model's outputs: loss, a float32 scalar, and input_grad, with
// the type and the symbolic shape of input.
func TestExportGrad(t *testing.T) {
	dir := t.TempDir()
	for _, s := range losses.All() {
		out := filepath.Join(dir, s.Name+".onnx")
		code, _, errOut := cli("export", s.Name, "--grad", "--out", out)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", s.Name, code, errOut)
			continue
		}
		m, err := export.LoadModel(out)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		sum := summarize(m.Proto)
		in := between(sum, "input:", " ")
		if !strings.Contains(sum, "loss:float32[]") || in == "" || !strings.Contains(sum, "input_grad:"+in) {
			t.Errorf("%s: outputs %q: want loss:float32[] and input_grad:%s", s.Name, sum, in)
		}
	}
}

// between returns the text after prefix up to the next stop (or the end).
func between(s, prefix, stop string) string {
	_, after, ok := strings.Cut(s, prefix)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, stop)
	return strings.TrimRight(v, ",;")
}

// TestEvalGradOut runs eval with --grad-out on cross-entropy, whose
// gradient is known in closed form: (softmax(x) - onehot(y))/n per pixel,
// n the number of pixels, and checks the saved .npy against it and the
// report of the comparison with finite differences.
func TestEvalGradOut(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	x := []float32{2, 0, 0, 1, 0, 2, 1, 0, 0, 0, 3, -1}
	y := []int64{0, 1, 2, 1}
	tensor.SaveNPY(filepath.Join(dir, "x.npy"), tensor.FromFloat32([]int{1, 3, 2, 2}, x))
	tensor.SaveNPY(filepath.Join(dir, "y.npy"), tensor.FromInt64([]int{1, 2, 2}, y))
	gradPath := filepath.Join(dir, "grad.npy")
	code, out, errOut := cli("eval", "cross-entropy", "--input", filepath.Join(dir, "x.npy"), "--target", filepath.Join(dir, "y.npy"),
		"--grad-out", gradPath)
	if code != 0 || !strings.Contains(out, "input_grad vs finite differences") {
		t.Fatalf("eval --grad-out: %d\n%s%s", code, out, errOut)
	}
	g, err := tensor.LoadNPY(gradPath)
	if err != nil {
		t.Fatal(err)
	}
	if g.DType != tensor.Float32 || len(g.Shape) != 4 || g.Shape[1] != 3 || g.Shape[2] != 2 || g.Shape[3] != 2 {
		t.Fatalf("saved gradient %v %v, want float32 [1 3 2 2]", g.DType, g.Shape)
	}
	got := g.Float64s()
	for p := 0; p < 4; p++ {
		var z float64
		for c := 0; c < 3; c++ {
			z += math.Exp(float64(x[c*4+p]))
		}
		for c := 0; c < 3; c++ {
			want := math.Exp(float64(x[c*4+p])) / z
			if int64(c) == y[p] {
				want--
			}
			want /= 4
			if d := math.Abs(got[c*4+p] - want); d > 1e-6 {
				t.Errorf("input_grad[0,%d,%d] = %.8g, want %.8g", c, p, got[c*4+p], want)
			}
		}
	}
}

// TestVerifyGrad runs verify --grad on two losses: a table row each, ok.
func TestVerifyGrad(t *testing.T) {
	testutil.RequireRuntime(t)
	code, out, errOut := cli("verify", "--grad", "bce", "topk-ce")
	if code != 0 {
		t.Fatalf("verify --grad: %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{"KINKS", "bce", "topk-ce"} {
		if !strings.Contains(out, w) {
			t.Errorf("verify --grad prints %q, without %q", out, w)
		}
	}
	if strings.Count(out, " ok") < 2 {
		t.Errorf("verify --grad: %s", out)
	}
}

// TestEvalGradOutNothingCompared runs eval --grad-out on probabilities of
// exactly 0 and 1, where no entry can be compared with central differences:
// the report says so instead of a difference of 0 over "every entry".
func TestEvalGradOutNothingCompared(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	p := []float32{1, 0, 0, 1, 1, 0}
	y := []float32{1, 0, 1, 1, 0, 0}
	tensor.SaveNPY(filepath.Join(dir, "p.npy"), tensor.FromFloat32([]int{1, 1, 2, 3}, p))
	tensor.SaveNPY(filepath.Join(dir, "y.npy"), tensor.FromFloat32([]int{1, 1, 2, 3}, y))
	code, out, errOut := cli("eval", "dice", "--from-logits=false", "--input", filepath.Join(dir, "p.npy"),
		"--target", filepath.Join(dir, "y.npy"), "--grad-out", filepath.Join(dir, "g.npy"))
	if code != 0 {
		t.Fatalf("eval --grad-out: %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "every entry") || !strings.Contains(out, "0 of 6 entries") {
		t.Errorf("eval --grad-out on probabilities of 0 and 1 claims a comparison:\n%s", out)
	}
	if !strings.Contains(out, "6 probabilities of exactly 0 or 1") {
		t.Errorf("eval --grad-out does not count the probabilities at the edge:\n%s", out)
	}
}

// TestEvalGradOutSaturated runs eval --grad-out at confident, correct
// logits (about ±20), where every gradient entry is some 1e-11: the
// comparison is judged at the scale of the same target at moderate logits,
// so float32 rounding of the O(1) terms that cancel there is not reported
// as a disagreement.
func TestEvalGradOutSaturated(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	const n = 2 * 8 * 8
	x, y := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = -20 - float32(i%7)/3
		if i%3 == 0 {
			y[i], x[i] = 1, -x[i]
		}
	}
	tensor.SaveNPY(filepath.Join(dir, "x.npy"), tensor.FromFloat32([]int{2, 1, 8, 8}, x))
	tensor.SaveNPY(filepath.Join(dir, "y.npy"), tensor.FromFloat32([]int{2, 1, 8, 8}, y))
	for _, loss := range []string{"bce", "dice", "tversky", "focal"} {
		code, out, errOut := cli("eval", loss, "--input", filepath.Join(dir, "x.npy"), "--target", filepath.Join(dir, "y.npy"),
			"--grad-out", filepath.Join(dir, loss+"_grad.npy"))
		if code != 0 || !strings.Contains(out, "input_grad vs finite differences") {
			t.Errorf("%s: eval --grad-out at saturated logits: exit %d\n%s%s", loss, code, out, errOut)
		}
	}
}
