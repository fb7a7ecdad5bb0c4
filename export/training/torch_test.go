package training_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// torchCase is one model, export setting and loss whose parameter
// gradients are compared with PyTorch's autograd.
type torchCase struct {
	model string
	opset int
	fold  bool
	loss  string
	opts  losses.Options
}

func (c torchCase) name() string {
	return fmt.Sprintf("%s/opset%d/fold=%v/%s", c.model, c.opset, c.fold, c.loss)
}

// TestParameterGradientsMatchPyTorch exports torchvision's segmentation
// models and a U-Net with random weights (scripts/torch_train_grads.py),
// builds their training graphs with a loss, and checks every parameter's
// gradient against PyTorch's autograd of the same model back-propagating
// the loss's gradient with respect to the logits: within 1e-4 of the
// largest |gradient| of each tensor, or, where PyTorch's float32 gradient
// is itself further than that from its float64 one, as close to the
// float64 gradient as PyTorch's float32 one (within a factor of 2). Every
// ONNX parameter must be matched to a PyTorch parameter.
func TestParameterGradientsMatchPyTorch(t *testing.T) {
	testutil.RequireRuntime(t)
	full := []string{"fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"}
	var cases []torchCase
	lossCases := []struct {
		loss string
		opts losses.Options
	}{
		{"cross-entropy", nil},
		{"dice", losses.Options{"preset": "smp"}},
		{"focal", nil},
		{"lovasz-softmax", nil},
		{"boundary-f1", nil},
	}
	for i, m := range full {
		for j, l := range lossCases {
			// Every loss on every model, at opset 17 with constant folding;
			// the other export settings rotate through the models.
			cases = append(cases, torchCase{m, 17, true, l.loss, l.opts})
			if j == i {
				cases = append(cases, torchCase{m, 13, false, l.loss, l.opts})
			}
		}
	}
	cases = append(cases, torchCase{"unet", 17, true, "cross-entropy", nil}, torchCase{"unet", 13, false, "dice", nil})
	// Cases of one export share the export and one run of the checking
	// script.
	var keys []string
	groups := map[string][]torchCase{}
	for _, c := range cases {
		key := fmt.Sprintf("%s-%d-%v", c.model, c.opset, c.fold)
		if groups[key] == nil {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], c)
	}
	root := t.TempDir()
	for _, key := range keys {
		group := groups[key]
		dir := filepath.Join(root, key)
		c0 := group[0]
		fold := "0"
		if c0.fold {
			fold = "1"
		}
		testutil.RunScript(t, "torch_train_grads.py", "export", dir, "--model", c0.model, "--opset", fmt.Sprint(c0.opset), "--fold", fold)
		var names []string
		for _, c := range group {
			t.Run(c.name()+"/graph", func(t *testing.T) {
				runTrainingGraph(t, dir, c)
				names = append(names, c.loss)
			})
		}
		if len(names) == 0 {
			continue // every case of the group was filtered out (-run)
		}
		raw := testutil.RunScript(t, "torch_train_grads.py", append([]string{"check", dir}, names...)...)
		var res map[string]torchResult
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("reading the script's result: %v\n%s", err, raw)
		}
		for _, c := range group {
			if !slices.Contains(names, c.loss) {
				continue
			}
			t.Run(c.name(), func(t *testing.T) {
				r, ok := res[c.loss]
				if !ok {
					t.Fatalf("no result for %s", c.loss)
				}
				r.judge(t)
			})
		}
	}
}

// torchResult is what the checking script prints for one case.
type torchResult struct {
	Errors map[string]struct {
		Torch   string  `json:"torch"`
		Rel     float64 `json:"rel"`
		Rel64   float64 `json:"rel64"`
		Torch32 float64 `json:"torch32"`
		Max     float64 `json:"max"`
	} `json:"errors"`
	Unmatched   []string `json:"unmatched"`
	TorchParams int      `json:"torch_params"`
	Output      float64  `json:"output"`
}

// runTrainingGraph builds and runs the training graph of a case and writes
// what the checking script reads into dir/<loss>.
func runTrainingGraph(t *testing.T, dir string, c torchCase) {
	lm, err := modelio.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x := readNPY(t, filepath.Join(dir, "input.npy"))
	opts := training.Options{Append: splice.Options{Loss: c.loss, LossOptions: c.opts, KeepOutputs: true}}
	tm, rep, err := training.Build(lm.Proto, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	lab := make([]int64, x.Shape[0]*x.Shape[2]*x.Shape[3])
	for i := range lab {
		lab[i] = int64(r.IntN(3))
	}
	feeds := map[string]*tensor.Tensor{"image": x, rep.Append.Target: tensor.FromInt64([]int{x.Shape[0], x.Shape[2], x.Shape[3]}, lab)}
	// The training graph's own d loss / d logits, which its backward pass
	// starts from, becomes an output too: PyTorch back-propagates it.
	tm.Graph.Output = append(tm.Graph.Output, &onnxpb.ValueInfoProto{Name: proto.String(rep.Append.GradOutput)})
	out, err := openModel(t, tm).Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	cdir := filepath.Join(dir, c.loss)
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeNPY(t, filepath.Join(cdir, "logits_grad.npy"), out[rep.Append.GradOutput])
	writeNPY(t, filepath.Join(cdir, "output.npy"), out["out"])
	for i, p := range rep.Params {
		writeNPY(t, filepath.Join(cdir, fmt.Sprintf("grad_%d.npy", i)), out[training.GradName(p)])
	}
	names, _ := json.Marshal(map[string]any{"names": rep.Params})
	if err := os.WriteFile(filepath.Join(cdir, "grads.json"), names, 0o644); err != nil {
		t.Fatal(err)
	}
}

// judge checks one case's result.
func (r torchResult) judge(t *testing.T) {
	if r.Output > 1e-5 {
		t.Errorf("the model's output differs from PyTorch's by %.3g of its largest entry", r.Output)
	}
	if len(r.Unmatched) > 0 {
		t.Errorf("%d ONNX parameters match no PyTorch parameter: %s", len(r.Unmatched), strings.Join(r.Unmatched[:min(5, len(r.Unmatched))], ", "))
	}
	checks := map[string]gradCheck{}
	for name, e := range r.Errors {
		checks[name] = gradCheck{Peer: e.Torch, Rel: e.Rel, Rel64: e.Rel64, Peer32: e.Torch32, Max: e.Max}
	}
	t.Logf("%d parameters (%d in PyTorch): %s", len(r.Errors), r.TorchParams, judgeGradients(t, "PyTorch", checks))
}

// gradCheck compares one parameter's gradient with a peer's (PyTorch,
// TensorFlow), as the checking scripts report it, over the largest
// |gradient| of the tensor in float64: Rel from the peer's float32
// gradient, Rel64 from its float64 one, Peer32 the peer's float32 from its
// float64.
type gradCheck struct {
	Peer                    string
	Rel, Rel64, Peer32, Max float64
}

// judgeGradients fails the test for every gradient that is further than
// 1e-4 from the peer's float32 one and, where the peer's own float32 result
// is further than that from its float64 one (a sum of terms that nearly
// cancel), not at least as close to the float64 gradient as the peer's
// float32 one within a factor of 2. It returns a summary of the largest
// differences.
func judgeGradients(t *testing.T, peer string, checks map[string]gradCheck) string {
	t.Helper()
	worst, worstName, worst64, worst32 := 0.0, "", 0.0, 0.0
	bad := 0
	for name, e := range checks {
		if e.Rel > worst {
			worst, worstName = e.Rel, name
		}
		worst64, worst32 = max(worst64, e.Rel64), max(worst32, e.Peer32)
		if e.Rel > 1e-4 && e.Rel64 > 2*max(e.Peer32, 5e-5) {
			bad++
			if bad <= 5 || testing.Verbose() {
				t.Errorf("%s (%s): gradient differs from %s's by %.3g of its largest entry %.3g (from float64: ours %.3g, %s's float32 %.3g)",
					name, e.Peer, peer, e.Rel, e.Max, e.Rel64, peer, e.Peer32)
			}
		}
	}
	return fmt.Sprintf("largest difference from %s's float32 gradients %.2g (%s); from float64 %.2g, %s's float32 from float64 %.2g",
		peer, worst, worstName, worst64, peer, worst32)
}

func readNPY(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := tensor.ReadNPY(f)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writeNPY(t *testing.T, path string, v *tensor.Tensor) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := tensor.WriteNPY(f, v); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
