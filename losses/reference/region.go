package reference

import (
	"math"

	"github.com/onnxloss/onnxloss/tensor"
)

// regionSettings are the convention parameters of the overlap losses, read
// with the value that switches each off when a loss does not declare it.
type regionSettings struct {
	smoothNr, smoothDr, eps, targetEps    float64
	squared, perImage, micro, logLoss, l1 bool
	background                            bool
	absent, weighting                     string
}

func regionSettingsOf(c *Config) regionSettings {
	f := func(k string) float64 {
		v, _ := c.Params[k].(float64)
		return v
	}
	b := func(k string, def bool) bool {
		if v, ok := c.Params[k].(bool); ok {
			return v
		}
		return def
	}
	s := func(k, def string) string {
		if v, ok := c.Params[k].(string); ok {
			return v
		}
		return def
	}
	return regionSettings{
		smoothNr: f("smooth_nr"), smoothDr: f("smooth_dr"), eps: f("eps"), targetEps: f("target_eps"),
		squared: b("squared", false), perImage: b("per_image", true), micro: s("average", "macro") == "micro",
		logLoss: b("log_loss", false), l1: s("intersection", "product") == "l1", background: b("include_background", true),
		absent: s("absent_classes", "keep"), weighting: s("class_weighting", "mean"),
	}
}

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
func confusion(p *Problem, c *Config, rs regionSettings) ([][]counts, grid) {
	probs := p.Probs(c)
	rows := p.N
	if !rs.perImage {
		rows = 1
	}
	perClass := make([][]counts, rows)
	for r := range perClass {
		perClass[r] = make([]counts, p.C)
	}
	for n := 0; n < p.N; n++ {
		r := n
		if !rs.perImage {
			r = 0
		}
		for ch := 0; ch < p.C; ch++ {
			var sq counts // squared sums: fp holds Σp², fn Σt²
			for s := 0; s < p.S; s++ {
				if !p.Valid[n][ch][s] {
					continue
				}
				q, t := probs[n][ch][s], p.T[n][ch][s]
				if rs.targetEps > 0 {
					t = t*(1-rs.targetEps) + rs.targetEps
				}
				e := &perClass[r][ch]
				switch {
				case rs.squared:
					e.tp += q * t
					sq.fp += q * q
					sq.fn += t * t
					e.st += t
				case rs.l1:
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
			if rs.squared {
				// Σp² and Σt² accumulate per sample; tp is subtracted once
				// the whole row is known, below.
				perClass[r][ch].fp += sq.fp
				perClass[r][ch].fn += sq.fn
			}
		}
	}
	if rs.squared {
		for r := range perClass {
			for ch := range perClass[r] {
				perClass[r][ch].fp -= perClass[r][ch].tp
				perClass[r][ch].fn -= perClass[r][ch].tp
			}
		}
	}
	first := 0
	if !rs.background {
		first = 1
	}
	g := grid{rows: rows}
	out := make([][]counts, rows)
	if rs.micro {
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
func (rs regionSettings) ratio(num, den float64) float64 {
	num += rs.smoothNr
	den += rs.smoothDr
	if rs.eps > 0 {
		den = math.Max(den, rs.eps)
	}
	return num / den
}

// loss turns a score into the loss of one entry.
func (rs regionSettings) loss(score float64) float64 {
	if rs.logLoss {
		floor := rs.eps
		if floor <= 0 {
			floor = ProbFloor
		}
		return -math.Log(math.Max(score, floor))
	}
	return 1 - score
}

// reduceGrid applies the absent-class policy, the class weights and the
// reduction to per-entry losses. counted marks entries that enter the mean.
func reduceGrid(c *Config, rs regionSettings, g grid, l [][]float64, counted [][]bool, weighted bool) *tensor.Tensor {
	flat := make([]float64, 0, g.rows*g.cols)
	num, den := 0.0, 0.0
	for r := 0; r < g.rows; r++ {
		for k := 0; k < g.cols; k++ {
			w := 1.0
			if weighted && g.classOf[k] >= 0 && c.ClassWeights != nil {
				w = c.ClassWeights[g.classOf[k]]
			}
			v := 0.0
			if counted[r][k] {
				v = w * l[r][k]
				num += v
				if c.ClassWeights != nil && weighted && g.classOf[k] >= 0 && rs.weighting == "mean" {
					den += w
				} else {
					den++
				}
			}
			flat = append(flat, v)
		}
	}
	switch c.Reduction {
	case "none":
		return tensor.FromFloat64([]int{g.rows, g.cols}, flat)
	case "sum":
		return Scalar(num)
	}
	return Scalar(SafeDiv(num, den))
}

// overlapLoss computes an index-based overlap loss: entry gives the loss of
// each (row, column) entry from its counts; then the absent-class policy and
// the reduction, with class weights unless unweighted.
func overlapLoss(in Inputs, c *Config, entry func(counts) float64, unweighted bool) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	rs := regionSettingsOf(c)
	cnt, g := confusion(p, c, rs)
	l := make([][]float64, g.rows)
	counted := make([][]bool, g.rows)
	for r := range cnt {
		l[r] = make([]float64, g.cols)
		counted[r] = make([]bool, g.cols)
		for k, e := range cnt[r] {
			v := entry(e)
			counted[r][k] = true
			if e.st == 0 {
				switch rs.absent {
				case "zero":
					v = 0
				case "skip":
					counted[r][k] = false
				}
			}
			l[r][k] = v
		}
	}
	return reduceGrid(c, rs, g, l, counted, !unweighted), nil
}

// diceScore is (2tp + smooth_nr) / max(2tp + fp + fn + smooth_dr, eps)
// (2tp + fp + fn = Σp + Σt).
func diceScore(rs regionSettings, e counts) float64 { return rs.ratio(2*e.tp, 2*e.tp+e.fp+e.fn) }

// Dice is 1 - the Dice score per entry (or -log of it).
func Dice(in Inputs, c *Config) (*tensor.Tensor, error) {
	rs := regionSettingsOf(c)
	return overlapLoss(in, c, func(e counts) float64 { return rs.loss(diceScore(rs, e)) }, false)
}

// Jaccard is 1 - (tp + smooth_nr) / max(tp + fp + fn + smooth_dr, eps).
func Jaccard(in Inputs, c *Config) (*tensor.Tensor, error) {
	rs := regionSettingsOf(c)
	return overlapLoss(in, c, func(e counts) float64 { return rs.loss(rs.ratio(e.tp, e.tp+e.fp+e.fn)) }, false)
}

func tverskyScore(rs regionSettings, alpha, beta float64) func(counts) float64 {
	return func(e counts) float64 { return rs.ratio(e.tp, e.tp+alpha*e.fp+beta*e.fn) }
}

// Tversky is 1 - (tp + smooth_nr) / max(tp + α·fp + β·fn + smooth_dr, eps).
func Tversky(in Inputs, c *Config) (*tensor.Tensor, error) {
	rs := regionSettingsOf(c)
	score := tverskyScore(rs, c.F("alpha"), c.F("beta"))
	return overlapLoss(in, c, func(e counts) float64 { return rs.loss(score(e)) }, false)
}

// FocalTversky raises each entry's Tversky loss to γ (gamma_on=class) or
// the mean loss (gamma_on=mean).
func FocalTversky(in Inputs, c *Config) (*tensor.Tensor, error) {
	gamma := c.F("gamma")
	pow := func(v float64) float64 { return math.Pow(math.Max(v, 0), gamma) }
	rs := regionSettingsOf(c)
	score := tverskyScore(rs, c.F("alpha"), c.F("beta"))
	if c.S("gamma_on") == "mean" {
		t, err := overlapLoss(in, c, func(e counts) float64 { return rs.loss(score(e)) }, false)
		if err != nil {
			return nil, err
		}
		return Scalar(pow(t.Float64s()[0])), nil
	}
	return overlapLoss(in, c, func(e counts) float64 { return pow(rs.loss(score(e))) }, false)
}

// LogCoshDice applies log(cosh(x)) to each entry's Dice loss.
func LogCoshDice(in Inputs, c *Config) (*tensor.Tensor, error) {
	rs := regionSettingsOf(c)
	return overlapLoss(in, c, func(e counts) float64 { return math.Log(math.Cosh(1 - diceScore(rs, e))) }, false)
}

// AsymmetricSimilarity is 1 - F_β with F_β = (1+β²)tp / ((1+β²)tp + β²fn + fp).
func AsymmetricSimilarity(in Inputs, c *Config) (*tensor.Tensor, error) {
	rs := regionSettingsOf(c)
	b2 := c.F("beta") * c.F("beta")
	return overlapLoss(in, c, func(e counts) float64 {
		// Numerator and denominator divided by 1+β², so that the smoothing
		// enters as in the Tversky form.
		return rs.loss(rs.ratio(e.tp, e.tp+(b2*e.fn+e.fp)/(1+b2)))
	}, false)
}
