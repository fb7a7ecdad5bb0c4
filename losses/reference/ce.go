package reference

import (
	"math"
	"sort"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// reduceElements applies a reduction to per-element losses l[n][c][s]
// (already weighted and zero where invalid). mean divides by the number of
// valid entries, or by every entry when meanOverAll.
func reduceElements(p *Problem, c *Config, l [][][]float64, meanOverAll bool) *tensor.Tensor {
	switch c.Reduction {
	case param.None:
		return p.ElementwiseMap(l, c)
	case param.Sum:
		return Scalar(sum3(l))
	}
	count := 0.0
	for n := range l {
		for ch := range l[n] {
			for s := range l[n][ch] {
				if meanOverAll || p.Valid[n][ch][s] {
					count++
				}
			}
		}
	}
	return Scalar(SafeDiv(sum3(l), count))
}

func sum3(l [][][]float64) float64 {
	t := 0.0
	for n := range l {
		for ch := range l[n] {
			for _, v := range l[n][ch] {
				t += v
			}
		}
	}
	return t
}

// logSigmoidPair returns log p and log(1-p) of one entry.
func logSigmoidPair(c *Config, x float64) (float64, float64) {
	if c.FromLogits {
		return LogSigmoid(x), LogSigmoid(-x)
	}
	return ClampedLog(x), ClampedLog(1 - x)
}

// probClipBounds returns ε and 1-ε rounded to the compute precision
// (float32 unless the input is float64), as Keras rounds its clip bounds.
func probClipBounds(c *Config, eps float64) (lo, hi float64) {
	if c.DType == tensor.Float64 {
		return eps, 1 - eps
	}
	return float64(float32(eps)), float64(float32(1 - eps))
}

// clippedLogPair returns log q and log(1-q) for q = p clipped to
// prob_clip's bounds, p a probability.
func clippedLogPair(c *Config, eps, p float64) (float64, float64) {
	lo, hi := probClipBounds(c, eps)
	q := math.Min(math.Max(p, lo), hi)
	return math.Log(q), math.Log(1 - q)
}

// clippedLogProbs returns Keras's log-probabilities of probability inputs
// under prob_clip: log clip(p_c) - log Σ_k clip(p_k) for label targets, log
// clip(p_c / Σ_k p_k) for one-hot targets.
func clippedLogProbs(p *Problem, c *Config, eps float64) [][][]float64 {
	lo, hi := probClipBounds(c, eps)
	out := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for s := 0; s < p.S; s++ {
			sum, sumClipped := 0.0, 0.0
			for ch := 0; ch < p.C; ch++ {
				sum += p.X[n][ch][s]
				sumClipped += math.Min(math.Max(p.X[n][ch][s], lo), hi)
			}
			for ch := 0; ch < p.C; ch++ {
				if c.TargetForm == param.TargetOneHot {
					out[n][ch][s] = math.Log(math.Min(math.Max(p.X[n][ch][s]/sum, lo), hi))
				} else {
					out[n][ch][s] = math.Log(math.Min(math.Max(p.X[n][ch][s], lo), hi)) - math.Log(sumClipped)
				}
			}
		}
	}
	return out
}

func classWeight(c *Config, ch int) float64 {
	if c.ClassWeights == nil {
		return 1
	}
	return c.ClassWeights[ch]
}

// BCE is binary cross-entropy per entry: -(pw·t·log p + (1-t)·log(1-p)),
// with smp-style label smoothing t(1-s)+(1-t)s.
func BCE(in Inputs, c *Config, p *param.BCE) (*tensor.Tensor, error) {
	return BCETerm(in, c, &p.BCETerm)
}

// BCETerm is BCE with the term's options, for compound losses too.
func BCETerm(in Inputs, c *Config, b *param.BCETerm) (*tensor.Tensor, error) {
	pw := b.PosWeight
	clip := 0.0
	if !c.FromLogits {
		clip = b.ProbClip
	}
	return weightedBCE(in, c, b.LabelSmoothing, clip, b.MeanOver, func(ch int) float64 {
		switch {
		case pw == nil:
			return 1
		case len(pw) > 1:
			return pw[ch]
		}
		return pw[0]
	})
}

// WeightedBCE is -(β·t·log p + (1-t)·log(1-p)).
func WeightedBCE(in Inputs, c *Config, p *param.WeightedBCE) (*tensor.Tensor, error) {
	return weightedBCE(in, c, 0, 0, p.MeanOver, func(int) float64 { return p.Beta })
}

// weightedBCE is -(w_c·t·log p + (1-t)·log(1-p)) per entry, times the
// class weight, with targets smoothed to t(1-s)+(1-t)s when s > 0 and p
// clipped to prob_clip's bounds when clip > 0.
func weightedBCE(in Inputs, c *Config, s, clip float64, meanOver param.MeanOver, posWeight func(ch int) float64) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	l := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			w := posWeight(ch)
			for i := 0; i < p.S; i++ {
				if !p.Valid[n][ch][i] {
					continue
				}
				t := p.T[n][ch][i]
				if s > 0 {
					t = t*(1-s) + (1-t)*s
				}
				lp, l1p := logSigmoidPair(c, p.X[n][ch][i])
				if clip > 0 {
					lp, l1p = clippedLogPair(c, clip, p.X[n][ch][i])
				}
				l[n][ch][i] = -(w*t*lp + (1-t)*l1p) * classWeight(c, ch)
			}
		}
	}
	return reduceElements(p, c, l, meanOver == param.MeanOverAll), nil
}

// BalancedBCE is -(β·t·log p + (1-β)·(1-t)·log(1-p)) with β the fraction of
// negatives among valid entries (of the batch or of each image) or fixed.
func BalancedBCE(in Inputs, c *Config, bp *param.BalancedBCE) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	betaOf := func(images []int) float64 {
		count, pos := 0.0, 0.0
		for _, n := range images {
			for ch := 0; ch < p.C; ch++ {
				for i := 0; i < p.S; i++ {
					if p.Valid[n][ch][i] {
						count++
						pos += p.T[n][ch][i]
					}
				}
			}
		}
		return SafeDiv(count-pos, count)
	}
	beta := make([]float64, p.N)
	all := make([]int, p.N)
	for n := range all {
		all[n] = n
	}
	for n := range beta {
		switch bp.BetaFrom {
		case param.BetaFromFixed:
			beta[n] = bp.Beta
		case param.BetaFromImage:
			beta[n] = betaOf([]int{n})
		default:
			beta[n] = betaOf(all)
		}
	}
	l := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			for i := 0; i < p.S; i++ {
				if !p.Valid[n][ch][i] {
					continue
				}
				t := p.T[n][ch][i]
				lp, l1p := logSigmoidPair(c, p.X[n][ch][i])
				l[n][ch][i] = -(beta[n]*t*lp + (1-beta[n])*(1-t)*l1p) * classWeight(c, ch)
			}
		}
	}
	return reduceElements(p, c, l, bp.MeanOver == param.MeanOverAll), nil
}

// CrossEntropy follows PyTorch's F.cross_entropy: class weights, ignore
// index and label smoothing for label targets; probability-target rules for
// one-hot targets.
func CrossEntropy(in Inputs, c *Config, cp *param.CrossEntropy) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	lp := p.LogProbs(c)
	if cp.ProbClip > 0 && !c.FromLogits {
		lp = clippedLogProbs(p, c, cp.ProbClip)
	}
	eps := cp.LabelSmoothing
	pix := make([][]float64, p.N)
	num, den := 0.0, 0.0
	for n := 0; n < p.N; n++ {
		pix[n] = make([]float64, p.S)
		for s := 0; s < p.S; s++ {
			if c.TargetForm == param.TargetOneHot {
				v := 0.0
				for ch := 0; ch < p.C; ch++ {
					t := p.T[n][ch][s]*(1-eps) + eps/float64(p.C)
					v -= classWeight(c, ch) * t * lp[n][ch][s]
				}
				pix[n][s] = v
				num += v
				den++
				continue
			}
			if cp.MeanOver == param.MeanOverAll {
				den++
			}
			if !p.Valid[n][0][s] {
				continue
			}
			y := p.Labels[n][s]
			wy := classWeight(c, int(y))
			smooth := 0.0
			for ch := 0; ch < p.C; ch++ {
				smooth -= classWeight(c, ch) * lp[n][ch][s]
			}
			v := (1-eps)*wy*(-lp[n][y][s]) + eps/float64(p.C)*smooth
			pix[n][s] = v
			num += v
			if cp.MeanOver != param.MeanOverAll {
				den += wy
			}
		}
	}
	return reduce(c, func() *tensor.Tensor { return p.PixelMap(pix) }, num, den), nil
}

// log1mExp returns log(1 - e^a) for a ≤ 0 accurately.
func log1mExp(a float64) float64 {
	if a > -math.Ln2 {
		return math.Log(-math.Expm1(a))
	}
	return math.Log1p(-math.Exp(a))
}

// Focal is the focal loss: sigmoid form per entry in binary and multilabel
// mode (modulation σ(-x(2t-1))^γ from logits, (p+t-2pt)^γ from
// probabilities), softmax form -α_y (1-p_y)^γ log p_y per pixel in
// multiclass mode.
// include_background=false leaves channel 0 out in multilabel mode;
// mean_of=entries divides multiclass mode's mean by C as well.
func Focal(in Inputs, c *Config, f *param.Focal) (*tensor.Tensor, error) {
	return focalTerm(in, c, &f.FocalTerm, focalOwn{
		dropBackground: c.Mode == param.Multilabel && !f.IncludeBackground,
		meanOfEntries:  f.MeanOf == param.MeanOfEntries,
		targetEps:      f.TargetEps,
	})
}

// focalOwn holds the focal loss's own options, which compound losses with
// a focal term leave at their zero value.
type focalOwn struct {
	dropBackground, meanOfEntries bool
	targetEps                     float64
}

// FocalTerm is Focal with the term's options, for compound losses too.
func FocalTerm(in Inputs, c *Config, f *param.FocalTerm) (*tensor.Tensor, error) {
	return focalTerm(in, c, f, focalOwn{})
}

func focalTerm(in Inputs, c *Config, f *param.FocalTerm, own focalOwn) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	gamma, alpha, normalized := f.Gamma, f.Alpha, f.Normalized
	pow := func(logBase float64) float64 {
		if gamma == 0 {
			return 1
		}
		return math.Exp(gamma * math.Max(logBase, math.Log(ProbFloor)))
	}
	if c.Mode == param.Multiclass && (c.TargetForm == param.TargetOneHot || own.targetEps > 0) {
		return focalOneHot(p, c, f, pow, own), nil
	}
	if c.Mode == param.Multiclass {
		lp := p.LogProbs(c)
		pix := make([][]float64, p.N)
		modSum, num, den := 0.0, 0.0, 0.0
		for n := 0; n < p.N; n++ {
			pix[n] = make([]float64, p.S)
			for s := 0; s < p.S; s++ {
				if !p.Valid[n][0][s] {
					continue
				}
				y := int(p.Labels[n][s])
				var log1m float64
				lpy := lp[n][y][s]
				switch {
				case f.ProbClip > 0:
					// Keras: the probability of the label, normalised
					// and clipped.
					var q float64
					if c.FromLogits {
						q = math.Exp(lpy)
					} else {
						sum := 0.0
						for ch := 0; ch < p.C; ch++ {
							sum += p.X[n][ch][s]
						}
						q = p.X[n][y][s] / sum
					}
					lo, hi := probClipBounds(c, f.ProbClip)
					q = math.Min(math.Max(q, lo), hi)
					lpy, log1m = math.Log(q), math.Log(1-q)
				case c.FromLogits:
					log1m = log1mExp(math.Min(lpy, 0))
				default:
					log1m = ClampedLog(1 - p.X[n][y][s])
				}
				mod := pow(log1m)
				a := 1.0
				if alpha != nil {
					if len(alpha) > 1 {
						a = alpha[y]
					} else if y == 0 {
						a = 1 - alpha[0]
					} else {
						a = alpha[0]
					}
				}
				pix[n][s] = -a * classWeight(c, y) * mod * lpy
				if e := f.LabelSmoothing; e > 0 {
					pix[n][s] = (1-e)*pix[n][s] + e/float64(p.C)*focalSmoothed(p, c, f, lp, n, s)
				}
				modSum += mod
				num += pix[n][s]
				den++
			}
		}
		norm := 1.0
		if normalized && gamma != 0 {
			norm = math.Max(modSum, 1e-6)
		}
		switch c.Reduction {
		case param.None:
			for n := range pix {
				for s := range pix[n] {
					pix[n][s] /= norm
				}
			}
			return p.PixelMap(pix), nil
		case param.Sum:
			return Scalar(num / norm), nil
		}
		if f.MeanOver == param.MeanOverAll {
			den = float64(p.N * p.S)
		}
		if own.meanOfEntries {
			den *= float64(p.C)
		}
		return Scalar(SafeDiv(num/norm, den)), nil
	}
	first := 0
	if own.dropBackground {
		first = 1
	}
	l := zeros3(p.N, p.C, p.S)
	modSum := 0.0
	for n := 0; n < p.N; n++ {
		for ch := first; ch < p.C; ch++ {
			for i := 0; i < p.S; i++ {
				if !p.Valid[n][ch][i] {
					continue
				}
				x, t := p.X[n][ch][i], p.T[n][ch][i]
				if s := f.LabelSmoothing; s > 0 {
					t = t*(1-s) + (1-t)*s
				}
				lp, l1p := logSigmoidPair(c, x)
				if f.ProbClip > 0 && !c.FromLogits {
					lp, l1p = clippedLogPair(c, f.ProbClip, x)
				}
				ce := -(t*lp + (1-t)*l1p)
				var mod float64
				switch {
				case c.FromLogits && f.Modulation == param.ModulationProb:
					sx := 1 / (1 + math.Exp(-x))
					mod = pow(ClampedLog(sx + t - 2*sx*t))
				case c.FromLogits:
					mod = pow(LogSigmoid(-x * (2*t - 1)))
				default:
					mod = pow(ClampedLog(x + t - 2*x*t))
				}
				a := 1.0
				if alpha != nil {
					av := alpha[0]
					if len(alpha) > 1 {
						av = alpha[ch]
					}
					a = av*t + (1-av)*(1-t)
				}
				l[n][ch][i] = a * mod * ce * classWeight(c, ch)
				modSum += mod
			}
		}
	}
	if normalized && gamma != 0 {
		norm := math.Max(modSum, 1e-6)
		for n := range l {
			for ch := range l[n] {
				for i := range l[n][ch] {
					l[n][ch][i] /= norm
				}
			}
		}
	}
	if own.dropBackground {
		kept := *p
		kept.C--
		kept.Valid = make([][][]bool, p.N)
		for n := range l {
			l[n], kept.Valid[n] = l[n][1:], p.Valid[n][1:]
		}
		p = &kept
	}
	return reduceElements(p, c, l, f.MeanOver == param.MeanOverAll), nil
}

// focalSmoothed is Σ_c α_c·w_c·(1-q_c)^γ·(-log q_c) at pixel (n, s): the
// focal loss of every class, which label smoothing mixes in, with q_c the
// class's probability (normalised and clipped under prob_clip).
func focalSmoothed(p *Problem, c *Config, f *param.FocalTerm, lp [][][]float64, n, s int) float64 {
	sum := 0.0
	for ch := 0; ch < p.C; ch++ {
		sum += p.X[n][ch][s]
	}
	total := 0.0
	for ch := 0; ch < p.C; ch++ {
		var q float64
		switch {
		case c.FromLogits:
			q = math.Exp(lp[n][ch][s])
		case f.ProbClip > 0:
			q = p.X[n][ch][s] / sum
		default:
			q = p.X[n][ch][s]
		}
		logQ, log1m := ClampedLog(q), ClampedLog(1-q)
		if f.ProbClip > 0 {
			lo, hi := probClipBounds(c, f.ProbClip)
			q = math.Min(math.Max(q, lo), hi)
			logQ, log1m = math.Log(q), math.Log(1-q)
		} else if c.FromLogits {
			logQ, log1m = lp[n][ch][s], log1mExp(math.Min(lp[n][ch][s], 0))
		}
		mod := 1.0
		if f.Gamma != 0 {
			mod = math.Exp(f.Gamma * math.Max(log1m, math.Log(ProbFloor)))
		}
		a := 1.0
		if f.Alpha != nil {
			if len(f.Alpha) > 1 {
				a = f.Alpha[ch]
			} else if ch == 0 {
				a = 1 - f.Alpha[0]
			} else {
				a = f.Alpha[0]
			}
		}
		total += a * classWeight(c, ch) * mod * -logQ
	}
	return total
}

// focalOneHot is the softmax focal loss against one-hot or soft targets
// (label maps as one-hot, moved to t(1-ε)+ε on valid pixels by target_eps):
// -Σ_c α_c·w_c·t_c·(1-p_c)^γ·log p_c per pixel, averaged over the pixels
// (valid ones with mean_over=valid) and the classes with mean_of=entries.
func focalOneHot(p *Problem, c *Config, f *param.FocalTerm, pow func(float64) float64, own focalOwn) *tensor.Tensor {
	lp := p.LogProbs(c)
	pix := make([][]float64, p.N)
	num, den := 0.0, 0.0
	for n := 0; n < p.N; n++ {
		pix[n] = make([]float64, p.S)
		for s := 0; s < p.S; s++ {
			valid := p.Valid[n][0][s]
			if valid || f.MeanOver == param.MeanOverAll {
				den++
			}
			if !valid {
				continue
			}
			v := 0.0
			for ch := 0; ch < p.C; ch++ {
				a := 1.0
				switch {
				case len(f.Alpha) > 1:
					a = f.Alpha[ch]
				case len(f.Alpha) == 1 && ch == 0:
					a = 1 - f.Alpha[0]
				case len(f.Alpha) == 1:
					a = f.Alpha[0]
				}
				var log1m float64
				if c.FromLogits {
					log1m = log1mExp(math.Min(lp[n][ch][s], 0))
				} else {
					log1m = ClampedLog(1 - p.X[n][ch][s])
				}
				t := p.T[n][ch][s]
				if own.targetEps > 0 {
					t = t*(1-own.targetEps) + own.targetEps
				}
				v -= a * classWeight(c, ch) * t * pow(log1m) * lp[n][ch][s]
			}
			pix[n][s] = v
			num += v
		}
	}
	if own.meanOfEntries {
		den *= float64(p.C)
	}
	return reduce(c, func() *tensor.Tensor { return p.PixelMap(pix) }, num, den)
}

// pixelCE returns the class-weighted NLL of every valid pixel, in order.
func pixelCE(p *Problem, c *Config) [][]float64 {
	lp := p.LogProbs(c)
	out := make([][]float64, p.N)
	for n := range out {
		out[n] = make([]float64, p.S)
		for s := range out[n] {
			if p.Valid[n][0][s] {
				y := p.Labels[n][s]
				out[n][s] = -classWeight(c, int(y)) * lp[n][y][s]
			}
		}
	}
	return out
}

// TopKCE averages (or sums) the largest ⌈k/100·#valid⌉ (at least 1) pixel
// losses of the batch.
func TopKCE(in Inputs, c *Config, tp *param.TopKCE) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	pix := pixelCE(p, c)
	var vals []float64
	valid := 0
	for n := range pix {
		for s := range pix[n] {
			vals = append(vals, pix[n][s])
			if p.Valid[n][0][s] {
				valid++
			}
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(vals)))
	// The count is computed in float32 in the graph; mirror its rounding.
	kept := int(math.Max(math.Ceil(float64(float32(float32(valid)*float32(tp.K/100)))), 1))
	sum := 0.0
	for _, v := range vals[:kept] {
		sum += v
	}
	if c.Reduction == param.Sum {
		return Scalar(sum), nil
	}
	return Scalar(sum / float64(kept)), nil
}

// OHEMCE keeps valid pixels whose true-class probability is at most the
// threshold, raised to the min_kept-th smallest probability when larger, and
// averages their class-weighted cross-entropy.
func OHEMCE(in Inputs, c *Config, op *param.OHEMCE) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	lp := p.LogProbs(c)
	var probs []float64
	for n := 0; n < p.N; n++ {
		for s := 0; s < p.S; s++ {
			if p.Valid[n][0][s] {
				probs = append(probs, math.Exp(lp[n][p.Labels[n][s]][s]))
			}
		}
	}
	thr := op.Thresh
	if mk := op.MinKept; mk > 0 && len(probs) > 0 {
		sort.Float64s(probs)
		thr = math.Max(thr, probs[min(mk, len(probs))-1])
	}
	pix := make([][]float64, p.N)
	num, den := 0.0, 0.0
	for n := 0; n < p.N; n++ {
		pix[n] = make([]float64, p.S)
		for s := 0; s < p.S; s++ {
			if !p.Valid[n][0][s] {
				continue
			}
			y := p.Labels[n][s]
			if math.Exp(lp[n][y][s]) > thr {
				continue
			}
			w := classWeight(c, int(y))
			pix[n][s] = -w * lp[n][y][s]
			num += pix[n][s]
			den += w
		}
	}
	return reduce(c, func() *tensor.Tensor { return p.PixelMap(pix) }, num, den), nil
}

// WeightedCE multiplies cross-entropy (softmax in multiclass mode, binary per
// channel otherwise) by the pixel_weight map.
func WeightedCE(in Inputs, c *Config, wp *param.WeightedCE) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	pw, err := SpatialMap(in["pixel_weight"], p.N, p.S)
	if err != nil {
		return nil, err
	}
	byWeight := wp.Normalize == param.NormalizeWeights
	if c.Mode == param.Multiclass {
		ce := pixelCE(p, c)
		num, den := 0.0, 0.0
		for n := range ce {
			for s := range ce[n] {
				if !p.Valid[n][0][s] {
					continue
				}
				ce[n][s] *= pw[n][s]
				num += ce[n][s]
				if byWeight {
					den += pw[n][s] * classWeight(c, int(p.Labels[n][s]))
				} else {
					den++
				}
			}
		}
		return reduce(c, func() *tensor.Tensor { return p.PixelMap(ce) }, num, den), nil
	}
	l := zeros3(p.N, p.C, p.S)
	num, den := 0.0, 0.0
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			for i := 0; i < p.S; i++ {
				if !p.Valid[n][ch][i] {
					continue
				}
				t := p.T[n][ch][i]
				lpos, lneg := logSigmoidPair(c, p.X[n][ch][i])
				w := pw[n][i] * classWeight(c, ch)
				l[n][ch][i] = -(t*lpos + (1-t)*lneg) * w
				num += l[n][ch][i]
				if byWeight {
					den += w
				} else {
					den++
				}
			}
		}
	}
	return reduce(c, func() *tensor.Tensor { return p.ElementwiseMap(l, c) }, num, den), nil
}
