package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// BalancedBCE is the parameter set of the balanced-bce loss.
type BalancedBCE = param.BalancedBCE

var balancedBCE = Define(Spec{
	Name:    "balanced-bce",
	Family:  "cross-entropy",
	Summary: "Class-balanced BCE: β on positives, 1-β on negatives, β fixed or from the target's balance.",
	Description: "Balanced cross-entropy weights the positive term by β and the negative term by 1-β. With " +
		"beta_from=batch (default) β is the fraction of negative entries in the batch's target (Xie & Tu's HED " +
		"uses β = |Y-|/|Y|), computed in the graph from the target only; image computes it per image; fixed " +
		"uses the beta parameter. Ignored entries are left out of the balance.",
	Citation:    "Xie & Tu, Holistically-Nested Edge Detection, ICCV 2015.",
	Formula:     "l = -(β·t·log σ(x) + (1-β)·(1-t)·log(1-σ(x))), β = Σ(1-t)/Σ1 over valid entries",
	Modes:       []Mode{Binary, Multilabel},
	IgnoreIndex: true, ClassWeights: true,
	NoneShape: elementwiseNone,
	Variants:  []Options{{"beta_from": "image"}, {"beta_from": "fixed", "beta": "0.8"}, {"ignore_index": "-1"}},
}, Funcs[BalancedBCE]{
	Build: func(c *Ctx, p *BalancedBCE) *Value {
		t := c.Target()
		beta := c.BatchValue("beta") // one sample of the per-sample form: the batch's β
		switch {
		case beta != nil:
		case p.BetaFrom == param.BetaFromFixed:
			beta = ConstAs(c.X, p.Beta)
		default:
			var axes []int
			if p.BetaFrom == param.BetaFromImage {
				axes = append([]int{1}, c.SpatialAxes()...)
			}
			count := countValid(c, axes)
			positives := c.targetReduceSum(t, true, axes...)
			beta = SafeDiv(Sub(count, positives), count)
		}
		at, bt := Mul(beta, t), Mul(OneMinus(beta), OneMinus(t))
		var l *Value
		if c.FromLogits {
			l = c.weightedLogistic(at, bt)
		} else {
			logP, log1mP := c.LogSigmoids()
			l = Neg(Add(Mul(at, logP), Mul(bt, log1mP)))
		}
		return reduceElementwise(c, MulMaybe(l, c.ClassWeightVec()), p.MeanOver)
	},
	Reference: reference.BalancedBCE,
	// With β from the whole batch, each sample's loss takes that β
	// (BatchValues) and the loss is again a mean over samples.
	PerSample: func(c *Config, p *BalancedBCE) bool { return elementwisePerSample(c) },
	BatchValues: func(c *Ctx, p *BalancedBCE) map[string]*Value {
		if p.BetaFrom != param.BetaFromBatch {
			return nil
		}
		count := Cast(ReduceProd(ShapeOf(c.RawTarget), false), c.ComputeType())
		positives := c.targetReduceSum(c.Target(), true)
		return map[string]*Value{"beta": SafeDiv(Sub(count, positives), count)}
	},
})
