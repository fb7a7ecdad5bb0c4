package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestEvalBadInputs runs eval on inputs that gave a number, a message from
// deep inside ONNX Runtime, or a panic: each must exit 1 with a message
// that names what is wrong.
func TestEvalBadInputs(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	file := func(name string, x *tensor.Tensor) string {
		p := filepath.Join(dir, name)
		if err := tensor.SaveNPY(p, x); err != nil {
			t.Fatal(err)
		}
		return p
	}
	logits := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.Float32, shape...)
		for i, d := 0, x.Data.([]float32); i < len(d); i++ {
			d[i] = float32(i%7)/2 - 1.5
		}
		return x
	}
	labels := func(classes int, bad map[int]int64, shape ...int) *tensor.Tensor {
		y := tensor.New(tensor.Int64, shape...)
		d := y.Data.([]int64)
		for i := range d {
			d[i] = int64(i % classes)
		}
		for i, v := range bad {
			d[i] = v
		}
		return y
	}
	x := file("x.npy", logits(2, 4, 6, 6))
	// target[0,3,5] is entry 3·6+5 = 23; target[1,2,3] is 36 + 2·6+3 = 51.
	negative := file("negative.npy", labels(4, map[int]int64{23: -1}, 2, 6, 6))
	tooLarge := file("large.npy", labels(4, map[int]int64{51: 4, 60: 9}, 2, 6, 6))
	binary := file("b.npy", logits(2, 1, 5, 5))
	garbage := filepath.Join(dir, "garbage.npy")
	if err := os.WriteFile(garbage, []byte("\x93NUMPY\x01\x00{'descr"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"negative label, cross-entropy", []string{"cross-entropy", "--classes", "4", "--ignore-index", "255", "--input", x, "--target", negative},
			[]string{"cross-entropy: target[0,3,5] = -1 is not a class in [0, 4) nor the ignore index 255"}},
		{"label C, cross-entropy", []string{"cross-entropy", "--input", x, "--target", tooLarge},
			[]string{"cross-entropy: target[1,2,3] = 4 is not a class in [0, 4) (2 labels of 72 are out of range)"}},
		{"negative label, dice", []string{"dice", "--mode", "multiclass", "--input", x, "--target", negative},
			[]string{"dice: target[0,3,5] = -1 is not a class in [0, 4)"}},
		{"label C, tversky with its gradient", []string{"tversky", "--mode", "multiclass", "--ignore-index", "9", "--input", x, "--target", tooLarge,
			"--grad-out", filepath.Join(dir, "grad.npy")},
			[]string{"tversky: target[1,2,3] = 4 is not a class in [0, 4) nor the ignore index 9"}},
		{"H = 0, ssim", []string{"ssim", "--input", file("h0.npy", logits(2, 1, 0, 6)), "--target", file("h0t.npy", logits(2, 1, 0, 6))},
			[]string{"ssim: inputs with no elements (input [2 1 0 6], target [2 1 0 6])"}},
		{"N = 0, cross-entropy", []string{"cross-entropy", "--input", file("n0.npy", logits(0, 4, 6, 6)), "--target", file("n0t.npy", labels(4, nil, 0, 6, 6))},
			[]string{"inputs with no elements (input [0 4 6 6], target [0 6 6])"}},
		{"batch", []string{"cross-entropy", "--input", x, "--target", file("n1.npy", labels(4, nil, 1, 6, 6))},
			[]string{`input "target" dimension 0 (N) is 1, but input "input" dimension 0 (N) is 2`}},
		{"spatial", []string{"bce", "--input", binary, "--target", file("b54.npy", logits(2, 1, 5, 4))},
			[]string{`input "target" dimension 3 (W) is 4, but input "input" dimension 3 (W) is 5`}},
		{"extra input", []string{"weighted-ce", "--mode", "binary", "--input", binary, "--target", binary,
			"--extra", "pixel_weight=" + file("pw.npy", logits(2, 5, 6))},
			[]string{`input "pixel_weight" dimension 2 (W) is 6, but input "input" dimension 3 (W) is 5`}},
		{"scalar input", []string{"bce", "--input", file("s.npy", tensor.FromFloat32([]int{}, []float32{1})), "--target", binary},
			[]string{`input "input"`, "rank 0, want rank 4"}},
		{"truncated .npy", []string{"bce", "--input", garbage, "--target", binary},
			[]string{"garbage.npy", "npy"}},
		{"missing file", []string{"bce", "--input", filepath.Join(dir, "nope.npy"), "--target", binary},
			[]string{"nope.npy", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(append([]string{"eval"}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(out, "loss (ONNX Runtime)") {
				t.Errorf("eval printed a loss:\n%s", out)
			}
		})
	}
}
