package training_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// TestParameterGradientsMatchKeras exports a Keras U-Net (channels-last:
// Conv2D with and without bias, BatchNormalization, ReLU, MaxPooling2D,
// Conv2DTranspose with "same" padding, bilinear and nearest UpSampling2D,
// Concatenate) with tf2onnx (scripts/keras_train_grads.py, in the virtual
// environment tf): with symbolic height and width and with fixed ones (tf2onnx
// writes different graphs for them), each with tf2onnx's folding of
// BatchNormalization into the Conv before it and without. It builds the
// training graph with a loss, and checks every parameter's gradient against
// TensorFlow's GradientTape on the Keras model back-propagating the loss's
// gradient with respect to the logits: within 1e-4 of the largest |gradient|
// of each tensor, or, where TensorFlow's float32 gradient is itself further
// than that from its float64 one, as close to the float64 gradient as
// TensorFlow's float32 one (within a factor of 2). Every ONNX parameter must
// match a Keras weight and every trainable Keras weight an ONNX parameter.
func TestParameterGradientsMatchKeras(t *testing.T) {
	testutil.RequireRuntime(t)
	testutil.Venv(t, "tf")
	cases := []struct {
		dynamic, fold bool
		loss          string
		opts          losses.Options
	}{
		{true, true, "cross-entropy", nil},
		{true, false, "dice", nil},
		{false, true, "dice", nil},
		{false, false, "cross-entropy", nil},
	}
	root := t.TempDir()
	for _, c := range cases {
		t.Run(fmt.Sprintf("dynamic=%v/fold=%v/%s", c.dynamic, c.fold, c.loss), func(t *testing.T) {
			dir := filepath.Join(root, fmt.Sprintf("dynamic-%v-fold-%v", c.dynamic, c.fold))
			raw := testutil.RunVenvScript(t, "tf", "keras_train_grads.py", "export", dir,
				"--fold", flag(c.fold), "--dynamic", flag(c.dynamic))
			t.Log(strings.TrimSpace(string(raw)))
			checkAgainstKeras(t, dir, c.fold, c.loss, c.opts)
		})
	}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func checkAgainstKeras(t *testing.T, dir string, fold bool, loss string, lossOpts losses.Options) {
	lm, err := modelio.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x := readNPY(t, filepath.Join(dir, "input.npy"))
	opts := training.Options{Append: splice.Options{Loss: loss, LossOptions: lossOpts, KeepOutputs: true}}
	tm, rep, err := training.Build(lm.Proto, opts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := rep.Append.Config; cfg.Layout != param.NHWC || cfg.Classes != 3 {
		t.Fatalf("inferred layout %s with %d classes from the Keras model, want nhwc with 3 (notes: %s)",
			cfg.Layout, cfg.Classes, strings.Join(rep.Append.Notes, "; "))
	}
	bn := false
	for _, n := range tm.GetGraph().GetNode() {
		bn = bn || n.GetOpType() == "BatchNormalization"
	}
	if bn == fold {
		t.Fatalf("exported with fold=%v, the model has BatchNormalization: %v", fold, bn)
	}
	r := rand.New(rand.NewPCG(3, 4))
	n, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	lab := make([]int64, n*h*w)
	for i := range lab {
		lab[i] = int64(r.IntN(3))
	}
	feeds := map[string]*tensor.Tensor{"image": x, rep.Append.Target: tensor.FromInt64([]int{n, h, w}, lab)}
	// The training graph's own d loss / d logits, which its backward pass
	// starts from, becomes an output too: the Keras model back-propagates it.
	tm.Graph.Output = append(tm.Graph.Output, &onnxpb.ValueInfoProto{Name: proto.String(rep.Append.GradOutput)})
	out, err := openModel(t, tm).Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	writeNPY(t, filepath.Join(dir, "logits_grad.npy"), out[rep.Append.GradOutput])
	writeNPY(t, filepath.Join(dir, "output.npy"), out[rep.Append.Output])
	for i, p := range rep.Params {
		writeNPY(t, filepath.Join(dir, fmt.Sprintf("grad_%d.npy", i)), out[training.GradName(p)])
	}
	names, _ := json.Marshal(map[string]any{"names": rep.Params})
	if err := os.WriteFile(filepath.Join(dir, "grads.json"), names, 0o644); err != nil {
		t.Fatal(err)
	}
	raw := testutil.RunVenvScript(t, "tf", "keras_train_grads.py", "check", dir)
	var res struct {
		Errors map[string]struct {
			Keras string  `json:"keras"`
			Rel   float64 `json:"rel"`
			Rel64 float64 `json:"rel64"`
			TF32  float64 `json:"tf32"`
			Max   float64 `json:"max"`
		} `json:"errors"`
		Unmatched      []string `json:"unmatched"`
		KerasUnmatched []string `json:"keras_unmatched"`
		KerasParams    int      `json:"keras_params"`
		Folded         bool     `json:"folded"`
		Output         float64  `json:"output"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("reading the script's result: %v\n%s", err, raw)
	}
	if res.Folded != fold {
		t.Errorf("the script compared with the Keras model folded=%v, want %v", res.Folded, fold)
	}
	if res.Output > 1e-5 {
		t.Errorf("the model's output differs from Keras's by %.3g of its largest entry", res.Output)
	}
	if len(res.Unmatched) > 0 {
		t.Errorf("%d ONNX parameters match no Keras weight: %s", len(res.Unmatched), strings.Join(res.Unmatched[:min(5, len(res.Unmatched))], ", "))
	}
	if len(res.KerasUnmatched) > 0 {
		t.Errorf("%d trainable Keras weights match no ONNX parameter: %s", len(res.KerasUnmatched), strings.Join(res.KerasUnmatched, ", "))
	}
	checks := map[string]gradCheck{}
	for name, e := range res.Errors {
		checks[name] = gradCheck{Peer: e.Keras, Rel: e.Rel, Rel64: e.Rel64, Peer32: e.TF32, Max: e.Max}
	}
	t.Logf("%d parameters (%d trainable Keras weights): %s", len(res.Errors), res.KerasParams, judgeGradients(t, "TensorFlow", checks))
}
