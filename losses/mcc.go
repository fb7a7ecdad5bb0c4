package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// MCC is the parameter set of the mcc loss.
type MCC = param.MCC

var mcc = Define(Spec{
	Name:    "mcc",
	Family:  "region",
	Summary: "Matthews correlation coefficient loss, 1 - MCC from soft confusion counts, binary and per class.",
	Description: "One minus the Matthews correlation coefficient computed from soft confusion counts TP = Σp·t, " +
		"FP = Σp(1-t), FN = Σ(1-p)t, TN = Σ(1-p)(1-t), each plus eps: (TP·TN - FP·FN)/√((TP+FP)(TP+FN)(TN+FP)(TN+FN)). " +
		"Unlike Dice it rewards true negatives, so an all-background image still carries signal. Per class " +
		"(one-vs-rest) in multilabel and multiclass mode, then the class mean; over the whole batch by default, " +
		"as segmentation_models_pytorch's MCCLoss. The counts are divided by the number of entries before the " +
		"products, which changes nothing mathematically but keeps large volumes from overflowing float32. An " +
		"empty target with an empty prediction gives MCC ≈ 1/2 with eps > 0 (loss ≈ 0.5); where the correlation " +
		"is undefined (a zero factor and eps 0) it is taken as 0 (loss 1), never NaN.",
	Citation:    "Abhishek & Hamarneh, Matthews Correlation Coefficient Loss for Deep Convolutional Networks: Application to Skin Lesion Segmentation, ISBI 2021.",
	Formula:     "loss = 1 - (TP·TN - FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN)), counts + eps",
	Modes:       regionModes,
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: regionNone,
	Notes: []string{
		"segmentation_models_pytorch MCCLoss(eps=1e-5) is binary only and expects probabilities: --mode binary --from-logits=false (the defaults otherwise match). onnxloss adds multiclass and multilabel (one-vs-rest per class), ignore_index and class weights.",
		"MONAI added an MCCLoss after the version surveyed; it is not reproduced here.",
	},
	Variants: []Options{
		{"per_image": "true", "mode": "multiclass", "ignore_index": "0"},
		{"eps": "0", "mode": "multilabel", "class_weights": "1,0.5,2"},
		{"eps": "0", "mode": "binary", "from_logits": "false"},
		{"eps": "1", "mode": "binary", "reduction": "none"},
		{"mode": "multiclass", "include_background": "false", "class_weighting": "scale", "class_weights": "1,1,3"},
	},
}, Funcs[MCC]{
	Build:     buildMCC,
	Reference: reference.MCC,
	Validate:  func(c *Config, p *MCC) error { return validateBackground(c, &p.Overlap) },
})

// buildMCC writes 1 - MCC per entry from soft confusion counts.
func buildMCC(c *Ctx, pr *MCC) *Value {
	o := &pr.Overlap
	eps := pr.Eps
	p, t := c.regionP(), c.Target()
	q := MulMaybe(c.complementProbs(), c.Valid()) // 1 - p without cancellation
	// Each factor of the denominator is a sum of non-negative terms
	// (Σp, Σt, Σ(1-t), Σ(1-p)), never a difference, so a small
	// factor keeps its precision.
	in := c.spatialSum(Mul(p, t))
	sp := c.spatialSum(p)
	st := c.spatialSum(t)
	fnSum := c.spatialSum(Mul(q, t))
	sq := c.spatialSum(q)
	m := c.columns(o, c.spatialCount(st))
	// FP = Σp(1-t) and TN = Σq(1-t) are sums of their own, not
	// Σp - TP and Σq - FN: where the background is small (a full
	// target) the numerator's cotangents are large, up to 1/eps,
	// and the differences' gradients lost the rest in float32.
	fpSum := c.spatialSum(Mul(p, OneMinus(t)))
	tnSum := c.spatialSum(Mul(q, OneMinus(t)))
	in, sp, st, fnSum, sq = c.columns(o, in), c.columns(o, sp), c.columns(o, st), c.columns(o, fnSum), c.columns(o, sq)
	fpSum, tnSum = c.columns(o, fpSum), c.columns(o, tnSum)
	// Counts as fractions of the entries: the MCC is homogeneous of
	// degree 0 in them, and large volumes cannot overflow.
	scale := Reciprocal(ClipMin(m, 1))
	frac := func(v *Value, e float64) *Value {
		if e != 0 {
			v = AddScalar(v, e)
		}
		return Mul(v, scale)
	}
	tp := frac(in, eps)
	fp := frac(fpSum, eps)
	fn := frac(fnSum, eps)
	tn := frac(tnSum, eps)
	num := Sub(Mul(tp, tn), Mul(fp, fn))
	prod := func(a, b *Value) *Value { return Sqrt(ClipMin(Mul(a, b), reference.ProbFloor)) }
	den := Mul(prod(frac(sp, 2*eps), frac(st, 2*eps)), prod(frac(Sub(m, st), 2*eps), frac(sq, 2*eps)))
	return c.regionReduce(o, OneMinus(Div(num, den)), nil, false)
}
