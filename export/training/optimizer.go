package training

import (
	"math"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/tensor"
)

// Optimizer adds the update of every trainable parameter to the training
// graph, so that one run is one training step: parameters and optimizer
// state in, updated parameters and state out. The rules are PyTorch's
// torch.optim.SGD (with and without momentum) and torch.optim.AdamW.
//
// Names, for a parameter p:
//
//	input  LRName                  the learning rate, a float32 scalar (default LR)
//	input  StepName                AdamW: the step number t, a float32 scalar from 1 (default 1)
//	input  p + ".momentum"         momentum: the velocity (default zeros)
//	input  p + ".exp_avg"          AdamW: the first moment (default zeros)
//	input  p + ".exp_avg_sq"       AdamW: the second moment (default zeros)
//	output p + NextSuffix          the updated parameter (after the loss, in parameter order)
//	output s + NextSuffix          then each state s updated, in the same order
//	output StepName + NextSuffix   AdamW, last: t + 1
//
// Every input has an initializer holding its default, so a graph run
// without them takes the first step from the model's weights.
type Optimizer struct {
	// Kind is "sgd", "momentum" or "adamw".
	Kind string
	// LR is the default learning rate.
	LR float64
	// WeightDecay is added to the gradient as WeightDecay·p for sgd and
	// momentum (L2), and decoupled for adamw: p·(1 - LR·WeightDecay).
	WeightDecay float64
	// Momentum is momentum's μ (default 0.9).
	Momentum float64
	// Beta1, Beta2 and Eps are AdamW's (defaults 0.9, 0.999, 1e-8).
	Beta1, Beta2, Eps float64
}

// Names of the optimizer's inputs and outputs.
const (
	LRName     = "onnxloss.lr"
	StepName   = "onnxloss.step"
	NextSuffix = ".next"
)

// OptimizerKinds lists the optimizers, for help texts.
var OptimizerKinds = []string{"sgd", "momentum", "adamw"}

// States returns the suffixes of a parameter's optimizer state inputs.
func (o *Optimizer) States() []string {
	switch o.Kind {
	case "momentum":
		return []string{".momentum"}
	case "adamw":
		return []string{".exp_avg", ".exp_avg_sq"}
	}
	return nil
}

func (o *Optimizer) validate() error {
	switch o.Kind {
	case "sgd", "momentum", "adamw":
	default:
		return optionErr("--optimizer %q is not one of sgd, momentum, adamw", o.Kind)
	}
	if !(o.LR > 0) {
		return optionErr("--lr must be positive, got %v", o.LR)
	}
	if !(o.WeightDecay >= 0) {
		return optionErr("--weight-decay must be at least 0, got %v", o.WeightDecay)
	}
	if o.Kind == "momentum" && o.Momentum == 0 {
		o.Momentum = 0.9
	}
	if !(o.Momentum >= 0 && o.Momentum < 1) {
		return optionErr("--momentum must be in [0, 1), got %v", o.Momentum)
	}
	if o.Kind == "adamw" {
		if o.Beta1 == 0 {
			o.Beta1 = 0.9
		}
		if o.Beta2 == 0 {
			o.Beta2 = 0.999
		}
		if o.Eps == 0 {
			o.Eps = 1e-8
		}
		if !(o.Beta1 > 0 && o.Beta1 < 1 && o.Beta2 > 0 && o.Beta2 < 1 && o.Eps > 0) {
			return optionErr("AdamW needs betas in (0, 1) and a positive epsilon")
		}
	}
	return nil
}

// update adds the optimizer's nodes to b and declares its outputs, for the
// parameters w (external values) and their gradients g.
func (o *Optimizer) update(b *builder.Graph, names []string, w, g []*builder.Value) {
	lr := b.External(LRName, tensor.Float32, builder.Shape{}, nil)
	var t *builder.Value
	if o.Kind == "adamw" {
		t = b.External(StepName, tensor.Float32, builder.Shape{}, nil)
	}
	state := func(p string, suffix string, like *builder.Value) *builder.Value {
		return b.External(p+suffix, like.DType(), like.Shape(), nil)
	}
	var outs, stateOuts [][2]any
	for i, p := range names {
		wi, gi := w[i], g[i]
		lri := builder.Cast(lr, wi.DType())
		switch o.Kind {
		case "sgd", "momentum":
			d := gi
			if o.WeightDecay != 0 {
				d = builder.Add(d, builder.MulScalar(wi, o.WeightDecay))
			}
			if o.Kind == "momentum" {
				v := state(p, ".momentum", wi)
				d = builder.Add(builder.MulScalar(v, o.Momentum), d)
				stateOuts = append(stateOuts, [2]any{p + ".momentum" + NextSuffix, d})
			}
			outs = append(outs, [2]any{p + NextSuffix, builder.Sub(wi, builder.Mul(lri, d))})
		case "adamw":
			m, v := state(p, ".exp_avg", wi), state(p, ".exp_avg_sq", wi)
			tt := builder.Cast(t, wi.DType())
			m2 := builder.Add(builder.MulScalar(m, o.Beta1), builder.MulScalar(gi, 1-o.Beta1))
			v2 := builder.Add(builder.MulScalar(v, o.Beta2), builder.MulScalar(builder.Mul(gi, gi), 1-o.Beta2))
			// Bias corrections 1 - β^t, with β^t = exp(t·ln β).
			c1 := builder.OneMinus(builder.Exp(builder.MulScalar(tt, logOf(o.Beta1))))
			c2 := builder.OneMinus(builder.Exp(builder.MulScalar(tt, logOf(o.Beta2))))
			den := builder.AddScalar(builder.Sqrt(builder.Div(v2, c2)), o.Eps)
			step := builder.Div(builder.Div(m2, c1), den)
			decayed := wi
			if o.WeightDecay != 0 {
				decayed = builder.Mul(wi, builder.OneMinus(builder.MulScalar(lri, o.WeightDecay)))
			}
			outs = append(outs, [2]any{p + NextSuffix, builder.Sub(decayed, builder.Mul(lri, step))})
			stateOuts = append(stateOuts, [2]any{p + ".exp_avg" + NextSuffix, m2}, [2]any{p + ".exp_avg_sq" + NextSuffix, v2})
		}
	}
	for _, out := range append(outs, stateOuts...) {
		b.Output(out[0].(string), out[1].(*builder.Value))
	}
	if t != nil {
		b.Output(StepName+NextSuffix, builder.AddScalar(t, 1))
	}
}

func logOf(x float64) float64 { return math.Log(x) }
