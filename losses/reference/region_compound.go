package reference

import (
	"math"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// meanOrSum reduces a sum over count entries as the compound losses' terms
// are reduced.
func meanOrSum(c *Config, sum, count float64) float64 {
	if c.Reduction == param.Sum {
		return sum
	}
	return SafeDiv(sum, count)
}

// complementLogs returns log p and log(1-p) of every entry: log-sigmoid
// pairs in binary and multilabel mode; in multiclass mode log-softmax and
// the log of the other classes' summed probabilities (clamped at 2^-126),
// or clamped logs of given probabilities.
func complementLogs(p *Problem, c *Config) (logP, log1mP [][][]float64) {
	logP, log1mP = zeros3(p.N, p.C, p.S), zeros3(p.N, p.C, p.S)
	if c.Mode != param.Multiclass {
		for n := range logP {
			for ch := range logP[n] {
				for s := range logP[n][ch] {
					logP[n][ch][s], log1mP[n][ch][s] = logSigmoidPair(c, p.X[n][ch][s])
				}
			}
		}
		return logP, log1mP
	}
	logP = p.LogProbs(c)
	for n := range logP {
		for ch := range logP[n] {
			for s := range logP[n][ch] {
				if !c.FromLogits {
					log1mP[n][ch][s] = ClampedLog(1 - p.X[n][ch][s])
					continue
				}
				others := 0.0
				for k := 0; k < p.C; k++ {
					if k != ch {
						others += math.Exp(logP[n][k][s])
					}
				}
				log1mP[n][ch][s] = ClampedLog(others)
			}
		}
	}
	return logP, log1mP
}

// Combo is α·mean(-(β t log p + (1-β)(1-t) log(1-p))) + (1-α)·Dice loss.
func Combo(in Inputs, c *Config, cp *param.Combo) (*tensor.Tensor, error) {
	dice, err := diceLoss(in, c, &cp.Overlap)
	if err != nil {
		return nil, err
	}
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	alpha, beta := cp.Alpha, cp.Beta
	logP, log1mP := complementLogs(p, c)
	sum, count := 0.0, 0.0
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			for s := 0; s < p.S; s++ {
				if !p.Valid[n][ch][s] {
					continue
				}
				t := p.T[n][ch][s]
				sum += -(beta*t*logP[n][ch][s] + (1-beta)*(1-t)*log1mP[n][ch][s]) * classWeight(c, ch)
				count++
			}
		}
	}
	return Scalar(alpha*meanOrSum(c, sum, count) + (1-alpha)*dice.Float64s()[0]), nil
}

// ExpLog is w_dice·mean_c (-ln max(Dice_c, eps))^γ_dice + w_ce·mean w_y (-ln p_y)^γ_ce.
func ExpLog(in Inputs, c *Config, ep *param.ExpLog) (*tensor.Tensor, error) {
	o := &ep.Overlap
	gd, gc := ep.GammaDice, ep.GammaCE
	floor := o.Eps
	if floor <= 0 {
		floor = ProbFloor
	}
	dice, err := overlapLoss(in, c, o, func(e counts) float64 {
		return math.Pow(math.Max(-math.Log(math.Max(diceScore(o, e), floor)), 0), gd)
	}, true)
	if err != nil {
		return nil, err
	}
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	pow := func(v float64) float64 { return math.Pow(math.Max(v, 0), gc) }
	sum, count := 0.0, 0.0
	if c.Mode == param.Multiclass {
		lp := p.LogProbs(c)
		for n := 0; n < p.N; n++ {
			for s := 0; s < p.S; s++ {
				if !p.Valid[n][0][s] {
					continue
				}
				y := int(p.Labels[n][s])
				sum += classWeight(c, y) * pow(-lp[n][y][s])
				count++
			}
		}
	} else {
		for n := 0; n < p.N; n++ {
			for ch := 0; ch < p.C; ch++ {
				for s := 0; s < p.S; s++ {
					if !p.Valid[n][ch][s] {
						continue
					}
					t := p.T[n][ch][s]
					lp, l1p := logSigmoidPair(c, p.X[n][ch][s])
					sum += classWeight(c, ch) * pow(-(t*lp + (1-t)*l1p))
					count++
				}
			}
		}
	}
	return Scalar(ep.WDice*dice.Float64s()[0] + ep.WCE*meanOrSum(c, sum, count)), nil
}

// DiceCE is λ_dice·Dice loss + λ_ce·cross-entropy (softmax cross-entropy in
// multiclass mode, binary cross-entropy otherwise).
func DiceCE(in Inputs, c *Config, p *param.DiceCE) (*tensor.Tensor, error) {
	dc := c
	if p.DiceInput == param.DiceInputRaw {
		raw := *c
		raw.FromLogits = false
		dc = &raw
	}
	dice, err := diceLoss(in, dc, &p.Overlap)
	if err != nil {
		return nil, err
	}
	var t *tensor.Tensor
	if c.Mode == param.Multiclass {
		t, err = CrossEntropy(in, c, &param.CrossEntropy{LabelSmoothing: p.LabelSmoothing})
	} else {
		t, err = BCETerm(in, c, &p.BCETerm)
	}
	if err != nil {
		return nil, err
	}
	return Scalar(p.LambdaDice*dice.Float64s()[0] + p.LambdaCE*t.Float64s()[0]), nil
}

// DiceFocal is λ_dice·Dice loss + λ_focal·focal loss.
func DiceFocal(in Inputs, c *Config, p *param.DiceFocal) (*tensor.Tensor, error) {
	dice, err := diceLoss(in, c, &p.Overlap)
	if err != nil {
		return nil, err
	}
	f, err := FocalTerm(in, c, &p.FocalTerm)
	if err != nil {
		return nil, err
	}
	return Scalar(p.LambdaDice*dice.Float64s()[0] + p.LambdaFocal*f.Float64s()[0]), nil
}
