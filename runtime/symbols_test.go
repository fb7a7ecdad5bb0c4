//go:build cgo

package runtime_test

import (
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// openLoss exports a loss and loads it; the runtime package itself knows
// nothing of losses, which is why this test lives outside it.
func openLoss(t *testing.T, name string, opts losses.Options) *runtime.Session {
	t.Helper()
	testutil.RequireRuntime(t)
	m, _, err := export.Loss(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(b, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func logits(shape ...int) *tensor.Tensor {
	x := tensor.New(tensor.Float32, shape...)
	for i, d := 0, x.Data.([]float32); i < len(d); i++ {
		d[i] = float32(i%5) - 2
	}
	return x
}

func labels(classes int, shape ...int) *tensor.Tensor {
	y := tensor.New(tensor.Int64, shape...)
	for i, d := 0, y.Data.([]int64); i < len(d); i++ {
		d[i] = int64(i % classes)
	}
	return y
}

// TestSharedSymbols feeds loss models inputs whose batch or spatial sizes
// disagree. ONNX Runtime alone returns a number for some of them (a target
// of batch 1 broadcasts against an input of batch 2); Run must refuse each,
// naming both inputs, the symbol and both sizes.
func TestSharedSymbols(t *testing.T) {
	ce := openLoss(t, "cross-entropy", losses.Options{"classes": "4"})
	wce := openLoss(t, "weighted-ce", losses.Options{"classes": "4"})
	weights := func(shape ...int) *tensor.Tensor {
		w := tensor.New(tensor.Float32, shape...)
		for i, d := 0, w.Data.([]float32); i < len(d); i++ {
			d[i] = 1
		}
		return w
	}
	for _, tc := range []struct {
		name  string
		sess  *runtime.Session
		in    map[string]*tensor.Tensor
		parts []string
	}{
		{"batch", ce, map[string]*tensor.Tensor{"input": logits(2, 4, 3, 5), "target": labels(4, 1, 3, 5)},
			[]string{`input "target" dimension 0 (N) is 1, but input "input" dimension 0 (N) is 2`, "agree on N"}},
		{"height", ce, map[string]*tensor.Tensor{"input": logits(2, 4, 3, 5), "target": labels(4, 2, 4, 5)},
			[]string{`input "target" dimension 1 (H) is 4, but input "input" dimension 2 (H) is 3`}},
		{"width", ce, map[string]*tensor.Tensor{"input": logits(1, 4, 3, 5), "target": labels(4, 1, 3, 1)},
			[]string{`input "target" dimension 2 (W) is 1, but input "input" dimension 3 (W) is 5`}},
		{"height and width", ce, map[string]*tensor.Tensor{"input": logits(1, 4, 3, 5), "target": labels(4, 1, 5, 3)},
			[]string{"dimension 1 (H) is 5", "dimension 2 (W) is 3", "target [1 5 3], input [1 4 3 5]"}},
		{"extra input", wce, map[string]*tensor.Tensor{"input": logits(2, 4, 3, 5), "target": labels(4, 2, 3, 5),
			"pixel_weight": weights(2, 3, 6)},
			[]string{`input "pixel_weight" dimension 2 (W) is 6, but input "input" dimension 3 (W) is 5`}},
		{"extra input batch", wce, map[string]*tensor.Tensor{"input": logits(2, 4, 3, 5), "target": labels(4, 2, 3, 5),
			"pixel_weight": weights(1, 3, 5)},
			[]string{`input "pixel_weight" dimension 0 (N) is 1, but input "input" dimension 0 (N) is 2`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.sess.Run(tc.in)
			if err == nil {
				t.Fatalf("Run returned %v; want an error", out["loss"])
			}
			for _, p := range tc.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error does not mention %q:\n%v", p, err)
				}
			}
			if err2 := tc.sess.Check(tc.in); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Check says %v, Run %v", err2, err)
			}
		})
	}
	// The same sessions run inputs that agree.
	for _, in := range []struct {
		sess *runtime.Session
		in   map[string]*tensor.Tensor
	}{
		{ce, map[string]*tensor.Tensor{"input": logits(2, 4, 3, 5), "target": labels(4, 2, 3, 5)}},
		{wce, map[string]*tensor.Tensor{"input": logits(2, 4, 3, 5), "target": labels(4, 2, 3, 5), "pixel_weight": weights(2, 3, 5)}},
	} {
		if err := in.sess.Check(in.in); err != nil {
			t.Errorf("Check: %v", err)
		}
		if _, err := in.sess.Run(in.in); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}
