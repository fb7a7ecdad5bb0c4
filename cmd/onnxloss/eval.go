package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/onnxloss/onnxloss/internal/atomicfile"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
	"github.com/onnxloss/onnxloss/verify"
)

func init() {
	register(&command{
		name:    "eval",
		summary: "compute a loss on .npy files with ONNX Runtime and the Go reference",
		usage:   "LOSS --input X.npy --target Y.npy [--extra NAME=FILE.npy] [loss options]",
		help: `Builds the loss for the given options, runs it in ONNX Runtime on the given
tensors, computes the same loss with the Go reference implementation, and
prints both side by side with their difference. The input's dtype must match
--dtype (float32 by default); the target is int64 labels or a float map, as
'onnxloss describe LOSS' shows. Exit status 1 when the two disagree beyond
the verification budget.

With --grad or --grad-out the graph also computes input_grad, which is
compared with central finite differences of the reference (float64, step
1e-4 in logit units; at most 2000 entries, chosen at random, for larger
inputs; multiclass probabilities along the simplex Σ_c p_c = 1 only):
the largest difference relative to the gradient's scale is
printed, with the share of the verification budget it uses. The scale is
the largest gradient entry at these inputs or at the same target with
random logits, whichever is larger: where confident logits make every
entry tiny, the float32 rounding of the terms that cancel to give them
is judged at the size of those terms. Entries where
the reference has a kink within the step (a tie in a selection) are
judged by their one-sided derivatives and counted.

Examples:
  onnxloss eval cross-entropy --classes 3 --input logits.npy --target labels.npy
  onnxloss eval dice --mode multiclass --input logits.npy --target labels.npy --grad-out grad.npy`,
		flags: []flagDef{
			{name: "input", value: "FILE", doc: "the input tensor (.npy)"},
			{name: "target", value: "FILE", doc: "the target tensor (.npy)"},
			{name: "target-form", value: "FORM", doc: "the loss option --target (labels or onehot), renamed here because --target names the file"},
			{name: "extra", value: "NAME=FILE", doc: "an extra input the loss needs (repeatable)", repeat: true},
			{name: "out", value: "FILE", doc: "also save ONNX Runtime's loss as .npy"},
			{name: "grad-out", value: "FILE", doc: "also compute input_grad (d loss / d input, as --grad), save it as .npy and compare it with finite differences of the Go reference"},
			{name: "provider", value: "NAME", doc: "cpu (default) or cuda"},
			{name: "threads", value: "N", doc: "ONNX Runtime intra-op threads (0: its default)"},
		},
		lossOptions: true,
		run:         runEval,
	})
}

func runEval(e *env, a *args) error {
	s, err := needLoss("eval", a)
	if err != nil {
		return err
	}
	if v, ok := a.flag("target-form"); ok {
		a.lossOpts["target"] = v
	}
	gradOut, wantGradFile := a.flag("grad-out")
	if wantGradFile {
		a.lossOpts["grad"] = "true"
	}
	inPath, ok1 := a.flag("input")
	tgtPath, ok2 := a.flag("target")
	if !ok1 || !ok2 {
		return usagef("--input and --target are required")
	}
	cfg, err := losses.Resolve(s, a.lossOpts)
	if err != nil {
		return err
	}
	rt, err := runtimeOptions(a)
	if err != nil {
		return err
	}
	in := map[string]*tensor.Tensor{}
	if in["input"], err = tensor.LoadNPY(inPath); err != nil {
		return err
	}
	if in["target"], err = tensor.LoadNPY(tgtPath); err != nil {
		return err
	}
	for _, kv := range a.flags["extra"] {
		name, path, ok := strings.Cut(kv, "=")
		if !ok {
			return usagef("--extra wants NAME=FILE, got %q", kv)
		}
		if in[name], err = tensor.LoadNPY(path); err != nil {
			return err
		}
	}
	if err := checkEvalOutputs(a, gradOut, wantGradFile, inPath, tgtPath); err != nil {
		return err
	}
	for _, x := range s.ExtraInputs(cfg) {
		if in[x.Name] == nil {
			return usagef("%s needs --extra %s=FILE.npy (%s)", s.Name, x.Name, x.Doc)
		}
	}
	sess, err := losssession.OpenConfig(s, cfg, rt)
	if err != nil {
		return err
	}
	defer sess.Close()
	got, err := sess.Run(in)
	if err != nil {
		return err
	}
	ref, err := sess.Reference(in)
	if err != nil {
		return err
	}
	loss := got["loss"]
	if p, ok := a.flag("out"); ok {
		if err := tensor.SaveNPY(p, loss); err != nil {
			return err
		}
	}
	r := &verify.Runner{}
	budget, rel, cmpErr := r.Compare(loss, ref, s.Tolerance)
	fmt.Fprintf(e.stdout, "loss (ONNX Runtime): %s\n", tensorSummary(loss))
	fmt.Fprintf(e.stdout, "loss (Go reference): %s\n", tensorSummary(ref))
	if cmpErr != nil {
		return &failure{msg: "the graph and the reference disagree: " + cmpErr.Error()}
	}
	fmt.Fprintf(e.stdout, "max relative difference: %.3g (%.3g of the verification budget)\n", rel, budget)
	if budget > 1 {
		return &failure{msg: "the graph and the reference disagree beyond the verification budget"}
	}
	if !cfg.Grad {
		return nil
	}
	grad := got["input_grad"]
	if wantGradFile {
		if err := tensor.SaveNPY(gradOut, grad); err != nil {
			return err
		}
	}
	return evalGrad(e, s, cfg, in, grad)
}

// evalGradEntries is the most input entries eval differentiates numerically.
const evalGradEntries = 2000

// evalGrad compares input_grad with finite differences of the reference
// and prints the result.
func evalGrad(e *env, s *losses.Spec, cfg *losses.Config, in map[string]*tensor.Tensor, grad *tensor.Tensor) error {
	r := &verify.GradRunner{Seed: 1, Sampled: evalGradEntries}
	res, err := r.CheckAt(s, cfg, in, grad)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "input_grad (ONNX Runtime): %s\n", tensorSummary(grad))
	if res.Err != nil {
		return &failure{msg: "input_grad: " + res.Err.Error()}
	}
	// Entries at a kink or at a probability of 0 or 1 are only checked
	// finite, so they do not count as compared.
	what := "every entry"
	if res.Checked < res.FD.Entries {
		what = fmt.Sprintf("%d of %d entries", res.Checked, res.FD.Entries)
	}
	fmt.Fprintf(e.stdout, "input_grad vs finite differences of the Go reference (%s): max difference %.3g of the gradient's scale %.3g (%.3g of the verification budget)\n",
		what, res.MaxRel, res.Scale, res.MaxErr)
	if cfg.Mode == losses.Multiclass && !cfg.FromLogits {
		fmt.Fprintln(e.stdout, "(probabilities are compared along the simplex Σ_c p_c = 1: each pixel's mean over classes is subtracted from both)")
	}
	if res.Kinks > 0 || res.Edges > 0 {
		fmt.Fprintf(e.stdout, "%d entries at a kink of the reference (one-sided derivatives disagree: checked finite), %d probabilities of exactly 0 or 1 (checked finite)\n", res.Kinks, res.Edges)
	}
	if !res.OK() {
		return &failure{msg: "input_grad and the finite differences disagree beyond the verification budget: " + res.Worst}
	}
	return nil
}

// tensorSummary prints a scalar's value, or a tensor's shape and statistics.
func tensorSummary(t *tensor.Tensor) string {
	v := t.Float64s()
	if len(t.Shape) == 0 && len(v) == 1 {
		return fmt.Sprintf("%.9g", v[0])
	}
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, x := range v {
		lo, hi, sum = math.Min(lo, x), math.Max(hi, x), sum+x
	}
	mean := 0.0
	if len(v) > 0 {
		mean = sum / float64(len(v))
	}
	return fmt.Sprintf("%v shape %v: min %.6g, mean %.6g, max %.6g, sum %.9g", t.DType, t.Shape, lo, mean, hi, sum)
}

// runtimeOptions reads --provider and --threads.
func runtimeOptions(a *args) (runtime.Options, error) {
	var o runtime.Options
	if p, ok := a.flag("provider"); ok {
		p = strings.ToLower(p)
		if p != runtime.ProviderCPU && p != runtime.ProviderCUDA {
			return o, usagef("--provider %q: want cpu or cuda", p)
		}
		o.Provider = p
	}
	if t, ok := a.flag("threads"); ok {
		var n int
		if _, err := fmt.Sscanf(t, "%d", &n); err != nil || n < 0 {
			return o, usagef("--threads %q: want a non-negative integer", t)
		}
		o.Threads = n
	}
	return o, nil
}

// checkEvalOutputs refuses --out and --grad-out paths that name one of the
// files eval reads, or each other: writing one would replace the other.
func checkEvalOutputs(a *args, gradOut string, wantGradFile bool, inPath, tgtPath string) error {
	reads := [][2]string{{"--input", inPath}, {"--target", tgtPath}}
	for _, kv := range a.flags["extra"] {
		if _, path, ok := strings.Cut(kv, "="); ok {
			reads = append(reads, [2]string{"--extra", path})
		}
	}
	var writes [][2]string
	if p, ok := a.flag("out"); ok {
		writes = append(writes, [2]string{"--out", p})
	}
	if wantGradFile {
		writes = append(writes, [2]string{"--grad-out", gradOut})
	}
	for i, w := range writes {
		for _, r := range append(reads, writes[:i]...) {
			if atomicfile.Same(w[1], r[1]) {
				return usagef("%s %s is the same file as %s %s; write the result to another file", w[0], w[1], r[0], r[1])
			}
		}
	}
	return nil
}
