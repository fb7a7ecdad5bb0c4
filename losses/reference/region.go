package reference

import (
	"math"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// counts are the soft confusion sums of one (row, column) entry.
type counts struct {
	tp, fp, fn float64
	// st is Σt, the size of the target; absent classes have st = 0.
	st float64
}

func (a counts) scaled(w float64) counts {
	return counts{tp: a.tp * w, fp: a.fp * w, fn: a.fn * w, st: a.st * w}
}

func (a counts) plus(b counts) counts {
	return counts{tp: a.tp + b.tp, fp: a.fp + b.fp, fn: a.fn + b.fn, st: a.st + b.st}
}

// grid holds one value per (row, column) entry of a region loss.
type grid struct {
	rows, cols int
	// classOf maps a column to its class, or -1 for the micro column.
	classOf []int
}

// confusion computes the soft true positives, false positives and false
// negatives of every entry, straight from their definitions:
//
//	product: tp = Σ p·t, fp = Σ p·(1-t), fn = Σ (1-p)·t
//	l1:      tp = Σ min(p,t), fp = Σ (p - min), fn = Σ (t - min)
//	squared: tp = Σ p·t, fp = Σ p² - tp, fn = Σ t² - tp (MONAI's ord 2)
//
// Rows are samples (or one row for the batch); columns are classes (without
// class 0 when the background is excluded), or one micro column that sums
// the classes' counts, each scaled by its class weight.
func confusion(p *Problem, c *Config, o *param.Overlap) ([][]counts, grid) {
	probs := p.Probs(c)
	rows := p.N
	if !o.PerImage {
		rows = 1
	}
	perClass := make([][]counts, rows)
	for r := range perClass {
		perClass[r] = make([]counts, p.C)
	}
	for n := 0; n < p.N; n++ {
		r := n
		if !o.PerImage {
			r = 0
		}
		for ch := 0; ch < p.C; ch++ {
			var sq counts // squared sums: fp holds Σp², fn Σt²
			for s := 0; s < p.S; s++ {
				if !p.Valid[n][ch][s] {
					continue
				}
				q, t := probs[n][ch][s], p.T[n][ch][s]
				if o.TargetEps > 0 {
					t = t*(1-o.TargetEps) + o.TargetEps
				}
				e := &perClass[r][ch]
				switch {
				case o.Squared:
					e.tp += q * t
					sq.fp += q * q
					sq.fn += t * t
					e.st += t
				case o.Intersection == param.IntersectionL1:
					m := math.Min(q, t)
					e.tp += m
					e.fp += q - m
					e.fn += t - m
					e.st += t
				default:
					e.tp += q * t
					e.fp += q * (1 - t)
					e.fn += (1 - q) * t
					e.st += t
				}
			}
			if o.Squared {
				// Σp² and Σt² accumulate per sample; tp is subtracted once
				// the whole row is known, below.
				perClass[r][ch].fp += sq.fp
				perClass[r][ch].fn += sq.fn
			}
		}
	}
	if o.Squared {
		for r := range perClass {
			for ch := range perClass[r] {
				perClass[r][ch].fp -= perClass[r][ch].tp
				perClass[r][ch].fn -= perClass[r][ch].tp
			}
		}
	}
	first := 0
	if !o.IncludeBackground {
		first = 1
	}
	g := grid{rows: rows}
	out := make([][]counts, rows)
	if o.Average == param.AverageMicro {
		g.cols, g.classOf = 1, []int{-1}
		for r := range out {
			var sum counts
			for ch := first; ch < p.C; ch++ {
				sum = sum.plus(perClass[r][ch].scaled(classWeight(c, ch)))
			}
			out[r] = []counts{sum}
		}
		return out, g
	}
	for ch := first; ch < p.C; ch++ {
		g.classOf = append(g.classOf, ch)
	}
	g.cols = len(g.classOf)
	for r := range out {
		out[r] = append([]counts{}, perClass[r][first:]...)
	}
	return out, g
}

// ratio divides with the denominator clamp of the overlap losses.
func ratio(o *param.Overlap, num, den float64) float64 {
	num += o.SmoothNr
	den += o.SmoothDr
	if o.Eps > 0 {
		den = math.Max(den, o.Eps)
	}
	return num / den
}

// scoreLoss turns a score into the loss of one entry.
func scoreLoss(o *param.Overlap, score float64) float64 {
	if o.LogLoss {
		floor := o.Eps
		if floor <= 0 {
			floor = ProbFloor
		}
		return -math.Log(math.Max(score, floor))
	}
	return 1 - score
}

// reduceGrid applies the absent-class policy, the class weights and the
// reduction to per-entry losses. counted marks entries that enter the mean.
func reduceGrid(c *Config, o *param.Overlap, g grid, l [][]float64, counted [][]bool, weighted bool) *tensor.Tensor {
	flat := make([]float64, 0, g.rows*g.cols)
	num, den := 0.0, 0.0
	rowSum := 0.0 // skip-row: the sum of the rows' means
	for r := 0; r < g.rows; r++ {
		rowNum, rowDen := 0.0, 0.0
		for k := 0; k < g.cols; k++ {
			w := 1.0
			if weighted && g.classOf[k] >= 0 && c.ClassWeights != nil {
				w = c.ClassWeights[g.classOf[k]]
			}
			v := 0.0
			if counted[r][k] {
				v = w * l[r][k]
				num += v
				d := 1.0
				if c.ClassWeights != nil && weighted && g.classOf[k] >= 0 && o.ClassWeighting == param.ClassWeightingMean {
					d = w
				}
				den += d
				rowNum += v
				rowDen += d
			}
			flat = append(flat, v)
		}
		if rowDen == 0 {
			rowSum++ // a row with no entry left: loss 1
		} else {
			rowSum += rowNum / rowDen
		}
	}
	if o.AbsentClasses == param.AbsentSkipRow {
		num, den = rowSum, float64(g.rows)
	}
	return reduce(c, func() *tensor.Tensor { return tensor.FromFloat64([]int{g.rows, g.cols}, flat) }, num, den)
}

// overlapLoss computes an index-based overlap loss under the conventions o:
// entry gives the loss of each (row, column) entry from its counts; then the
// absent-class policy and the reduction, with class weights unless
// unweighted.
func overlapLoss(in Inputs, c *Config, o *param.Overlap, entry func(counts) float64, unweighted bool) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	cnt, g := confusion(p, c, o)
	l := make([][]float64, g.rows)
	counted := make([][]bool, g.rows)
	for r := range cnt {
		l[r] = make([]float64, g.cols)
		counted[r] = make([]bool, g.cols)
		for k, e := range cnt[r] {
			v := entry(e)
			counted[r][k] = true
			if e.st == 0 {
				switch o.AbsentClasses {
				case param.AbsentZero:
					v = 0
				case param.AbsentSkip, param.AbsentSkipRow:
					counted[r][k] = false
				}
			}
			l[r][k] = v
		}
	}
	return reduceGrid(c, o, g, l, counted, !unweighted), nil
}

// diceScore is (2tp + smooth_nr) / max(2tp + fp + fn + smooth_dr, eps)
// (2tp + fp + fn = Σp + Σt).
func diceScore(o *param.Overlap, e counts) float64 { return ratio(o, 2*e.tp, 2*e.tp+e.fp+e.fn) }

// diceLoss is 1 - the Dice score per entry (or -log of it) under o.
func diceLoss(in Inputs, c *Config, o *param.Overlap) (*tensor.Tensor, error) {
	return overlapLoss(in, c, o, func(e counts) float64 { return scoreLoss(o, diceScore(o, e)) }, false)
}

// Dice is 1 - the Dice score per entry (or -log of it).
func Dice(in Inputs, c *Config, p *param.Dice) (*tensor.Tensor, error) {
	return diceLoss(in, c, &p.Overlap)
}

// Jaccard is 1 - (tp + smooth_nr) / max(tp + fp + fn + smooth_dr, eps).
func Jaccard(in Inputs, c *Config, p *param.Jaccard) (*tensor.Tensor, error) {
	o := &p.Overlap
	return overlapLoss(in, c, o, func(e counts) float64 { return scoreLoss(o, ratio(o, e.tp, e.tp+e.fp+e.fn)) }, false)
}

func tverskyScore(o *param.Overlap, w *param.TverskyWeights) func(counts) float64 {
	return func(e counts) float64 { return ratio(o, e.tp, e.tp+w.Alpha*e.fp+w.Beta*e.fn) }
}

// Tversky is 1 - (tp + smooth_nr) / max(tp + α·fp + β·fn + smooth_dr, eps).
func Tversky(in Inputs, c *Config, p *param.Tversky) (*tensor.Tensor, error) {
	o := &p.Overlap
	score := tverskyScore(o, &p.TverskyWeights)
	return overlapLoss(in, c, o, func(e counts) float64 { return scoreLoss(o, score(e)) }, false)
}

// FocalTversky raises each entry's Tversky loss to γ (gamma_on=class) or
// the mean loss (gamma_on=mean).
func FocalTversky(in Inputs, c *Config, p *param.FocalTversky) (*tensor.Tensor, error) {
	pow := func(v float64) float64 { return math.Pow(math.Max(v, 0), p.Gamma) }
	o := &p.Overlap
	score := tverskyScore(o, &p.TverskyWeights)
	if p.GammaOn == param.GammaOnMean {
		t, err := overlapLoss(in, c, o, func(e counts) float64 { return scoreLoss(o, score(e)) }, false)
		if err != nil {
			return nil, err
		}
		return Scalar(pow(t.Float64s()[0])), nil
	}
	return overlapLoss(in, c, o, func(e counts) float64 { return pow(scoreLoss(o, score(e))) }, false)
}

// LogCoshDice applies log(cosh(x)) to each entry's Dice loss.
func LogCoshDice(in Inputs, c *Config, p *param.LogCoshDice) (*tensor.Tensor, error) {
	o := &p.Overlap
	return overlapLoss(in, c, o, func(e counts) float64 { return math.Log(math.Cosh(1 - diceScore(o, e))) }, false)
}

// AsymmetricSimilarity is 1 - F_β with F_β = (1+β²)tp / ((1+β²)tp + β²fn + fp).
func AsymmetricSimilarity(in Inputs, c *Config, p *param.AsymmetricSimilarity) (*tensor.Tensor, error) {
	o := &p.Overlap
	b2 := p.Beta * p.Beta
	return overlapLoss(in, c, o, func(e counts) float64 {
		// Numerator and denominator divided by 1+β², so that the smoothing
		// enters as in the Tversky form.
		return scoreLoss(o, ratio(o, e.tp, e.tp+(b2*e.fn+e.fp)/(1+b2)))
	}, false)
}
