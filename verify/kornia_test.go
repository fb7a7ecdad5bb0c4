package verify

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// peerFixtureCase finds a case of a peer fixture set by name and loads its inputs
// and the library's loss.
func peerFixtureCase(t *testing.T, lib, name string) (fixtureCase, map[string]*tensor.Tensor, float64) {
	t.Helper()
	dir := filepath.Join(testutil.Root(t), "testdata", "peers", lib)
	for _, c := range loadPeerSets(t)[lib].Cases {
		if c.Name != name {
			continue
		}
		in := map[string]*tensor.Tensor{}
		for k, file := range c.Inputs {
			v, err := tensor.LoadNPY(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			in[k] = v
		}
		want, err := tensor.LoadNPY(filepath.Join(dir, c.LossValue))
		if err != nil {
			t.Fatal(err)
		}
		return c, in, want.Float64s()[0]
	}
	t.Fatalf("testdata/peers/%s has no case %q: regenerate it with scripts/make_peer_fixtures.py", lib, name)
	return fixtureCase{}, nil, 0
}

// lossAndReference runs a loss's exported graph and its float64 reference
// on the same inputs.
func lossAndReference(t *testing.T, loss string, opts map[string]string, in map[string]*tensor.Tensor) (graph, ref float64) {
	t.Helper()
	o := losses.Options{}
	for k, v := range opts {
		o[k] = v
	}
	sess, err := losssession.Open(loss, o, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sess.Reference(in)
	if err != nil {
		t.Fatal(err)
	}
	return out["loss"].Float64s()[0], r.Float64s()[0]
}

func relDiff(a, b float64) float64 { return math.Abs(a-b) / math.Max(math.Abs(b), 1e-12) }

// TestKorniaLovaszSoftmaxDefectFixed checks kornia's Lovász-Softmax on an
// all-wrong prediction, where its defect before 0.9 shows: it built the
// Lovász gradient from the pixels' sorted class ids instead of each class's
// foreground, so a prediction that gets every pixel wrong scored about 0.72
// instead of the Jaccard loss 1. kornia 0.9 (the pinned release) sorts the
// foreground, and its value, onnxloss's graph (lovasz-softmax --class-set
// all --per-image) and the float64 reference written from Berman et al.'s
// formula agree, while the earlier form (korniaStyle, written from kornia's
// source before 0.9) is far from all three.
func TestKorniaLovaszSoftmaxDefectFixed(t *testing.T) {
	testutil.RequireRuntime(t)
	c, in, kornia := peerFixtureCase(t, "kornia", "kornia lovasz softmax all wrong")
	graph, ref := lossAndReference(t, c.Loss, c.Options, in)
	cfg := &reference.Config{Common: param.Common{Mode: "multiclass", Layout: "nchw", FromLogits: true, TargetForm: "labels"}}
	prob, err := reference.Canon(reference.Inputs{"input": in["input"], "target": in["target"]}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sh := in["input"].Shape
	old := korniaStyle(prob.Probs(cfg), in["target"].Int64s(), sh[0], sh[1], sh[2]*sh[3])
	t.Logf("all-wrong prediction: kornia 0.9 %.6f, onnxloss %.6f, reference %.6f, kornia before 0.9 %.6f", kornia, graph, ref, old)
	if relDiff(graph, ref) > 1e-5 {
		t.Errorf("onnxloss %v differs from the reference %v", graph, ref)
	}
	if relDiff(kornia, ref) > 1e-5 {
		t.Errorf("kornia %v differs from the reference %v: has the pinned kornia changed its Lovász-Softmax?", kornia, ref)
	}
	if ref < 0.99 {
		t.Errorf("reference %v: an all-wrong prediction should have Jaccard loss near 1", ref)
	}
	if ref-old < 0.2 {
		t.Errorf("kornia's form before 0.9 gives %v, reference %v: this input no longer shows the defect", old, ref)
	}
}

// TestKorniaTverskyAsymmetry checks that kornia's Tversky loss weighs false
// positives by α and false negatives by β. Before 0.9 kornia averaged the
// counts over all classes first (micro), where Σ FP = Σ FN, so only α+β
// mattered and swapping them changed nothing. kornia 0.9 (the pinned release)
// averages per class: its values for (α, β) = (0.2, 0.8) and (0.8, 0.2)
// differ, and the kornia preset matches both and the float64 reference;
// --average micro --absent-classes keep gives the earlier form, where the two
// coincide.
func TestKorniaTverskyAsymmetry(t *testing.T) {
	testutil.RequireRuntime(t)
	var kornia, micro [2]float64
	for i, name := range []string{"kornia tversky alpha 0.2 beta 0.8", "kornia tversky alpha 0.8 beta 0.2"} {
		c, in, want := peerFixtureCase(t, "kornia", name)
		graph, ref := lossAndReference(t, c.Loss, c.Options, in)
		if relDiff(graph, want) > 1e-5 || relDiff(ref, want) > 1e-5 {
			t.Errorf("%s: kornia %v, onnxloss %v, reference %v", name, want, graph, ref)
		}
		old := map[string]string{"average": "micro", "absent_classes": "keep"}
		for k, v := range c.Options {
			if _, set := old[k]; !set {
				old[k] = v
			}
		}
		micro[i], _ = lossAndReference(t, c.Loss, old, in)
		kornia[i] = want
	}
	t.Logf("kornia 0.9: %.6f and %.6f; micro form (kornia before 0.9): %.6f and %.6f", kornia[0], kornia[1], micro[0], micro[1])
	if relDiff(kornia[0], kornia[1]) < 1e-3 {
		t.Errorf("kornia gives %v for α 0.2 β 0.8 and %v for α 0.8 β 0.2: swapping α and β should change the loss", kornia[0], kornia[1])
	}
	if relDiff(micro[0], micro[1]) > 1e-6 {
		t.Errorf("the micro form gives %v and %v: with α+β fixed it should not depend on α and β separately", micro[0], micro[1])
	}
}
