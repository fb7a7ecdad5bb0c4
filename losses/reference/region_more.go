package reference

import (
	"math"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// rowLoss returns per-row losses reduced as the generalized Dice losses do:
// none gives [R].
func rowLoss(c *Config, l []float64) *tensor.Tensor {
	s := 0.0
	for _, v := range l {
		s += v
	}
	return reduce(c, func() *tensor.Tensor { return tensor.FromFloat64([]int{len(l)}, l) }, s, float64(len(l)))
}

// GeneralizedDice is 1 - (2Σ_c w_c tp_c + smooth_nr)/max(Σ_c w_c(2tp_c + fp_c + fn_c) + smooth_dr, eps)
// per row, with w_c = 1/st², 1/st or 1; an absent class (st = 0, infinite
// weight) gets the row's largest finite weight or 0.
func GeneralizedDice(in Inputs, c *Config, gp *param.GeneralizedDice) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	o := &gp.Overlap
	cnt, g := confusion(p, c, o)
	out := make([]float64, g.rows)
	for r := range cnt {
		w := make([]float64, g.cols)
		largest := 0.0
		for k, e := range cnt[r] {
			switch {
			case gp.WeightType == param.WeightUniform:
				w[k] = 1
			case e.st == 0:
				w[k] = math.Inf(1)
			case gp.WeightType == param.WeightSquare:
				w[k] = 1 / (e.st * e.st)
			default:
				w[k] = 1 / e.st
			}
			if !math.IsInf(w[k], 1) {
				largest = math.Max(largest, w[k])
			}
		}
		num, den := 0.0, 0.0
		for k, e := range cnt[r] {
			if math.IsInf(w[k], 1) {
				w[k] = 0
				if gp.AbsentWeight == param.AbsentWeightMax {
					w[k] = largest
				}
			}
			num += w[k] * 2 * e.tp
			den += w[k] * (2*e.tp + e.fp + e.fn)
		}
		out[r] = 1 - ratio(o, num, den)
	}
	return rowLoss(c, out), nil
}

// GeneralizedWassersteinDice follows Fidon et al. with MONAI's weightings:
// wass_i = Σ_c M[y_i][c]·p_ic with M divided by its largest entry (the 0/1
// distance when unset).
func GeneralizedWassersteinDice(in Inputs, c *Config, gp *param.GeneralizedWassersteinDice) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	probs := p.Probs(c)
	m := gp.DistMatrix
	dist := func(y, k int) float64 {
		if m == nil {
			if y == k {
				return 0
			}
			return 1
		}
		largest := 0.0
		for _, v := range m {
			largest = math.Max(largest, v)
		}
		return m[y*p.C+k] / largest
	}
	o := &gp.Overlap
	out := make([]float64, p.N)
	for n := 0; n < p.N; n++ {
		volume := make([]float64, p.C)
		for s := 0; s < p.S; s++ {
			if p.Valid[n][0][s] {
				volume[p.Labels[n][s]]++
			}
		}
		tp, den := 0.0, 0.0
		for s := 0; s < p.S; s++ {
			if !p.Valid[n][0][s] {
				continue
			}
			y := int(p.Labels[n][s])
			wass := 0.0
			for k := 0; k < p.C; k++ {
				wass += dist(y, k) * probs[n][k][s]
			}
			if gp.Weighting == param.WassersteinGDL {
				alpha := 1 / (volume[y] + 1)
				tp += alpha * (1 - wass)
				den += alpha * (2 - wass)
				continue
			}
			if y != 0 {
				tp += 1 - wass
			}
			den += wass
		}
		if gp.Weighting != param.WassersteinGDL {
			den += 2 * tp
		}
		out[n] = 1 - ratio(o, 2*tp, den)
	}
	return rowLoss(c, out), nil
}

// SensitivitySpecificity is r·Σ(t-p)²t/(Σt + s) + (1-r)·Σ(t-p)²(1-t)/(Σ(1-t) + s)
// per entry; a zero denominator gives 0.
func SensitivitySpecificity(in Inputs, c *Config, sp *param.SensitivitySpecificity) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	o := &sp.Overlap
	probs := p.Probs(c)
	r, smooth := sp.R, sp.Smooth
	rows := p.N
	if !o.PerImage {
		rows = 1
	}
	type sums struct{ fgErr, bgErr, fg, bg float64 }
	acc := make([][]sums, rows)
	for i := range acc {
		acc[i] = make([]sums, p.C)
	}
	for n := 0; n < p.N; n++ {
		row := n
		if !o.PerImage {
			row = 0
		}
		for ch := 0; ch < p.C; ch++ {
			for s := 0; s < p.S; s++ {
				if !p.Valid[n][ch][s] {
					continue
				}
				t := p.T[n][ch][s]
				d := t - probs[n][ch][s]
				e := &acc[row][ch]
				e.fgErr += d * d * t
				e.bgErr += d * d * (1 - t)
				e.fg += t
				e.bg += 1 - t
			}
		}
	}
	return gridLoss(c, o, p.C, rows, func(row, ch int) float64 {
		e := acc[row][ch]
		return r*SafeDiv(e.fgErr, e.fg+smooth) + (1-r)*SafeDiv(e.bgErr, e.bg+smooth)
	}), nil
}

// gridLoss evaluates a per-(row, class) loss over the classes that count
// (all, or all but class 0) and reduces it with the class weights.
func gridLoss(c *Config, o *param.Overlap, classes, rows int, entry func(row, ch int) float64) *tensor.Tensor {
	first := 0
	if !o.IncludeBackground {
		first = 1
	}
	g := grid{rows: rows}
	for ch := first; ch < classes; ch++ {
		g.classOf = append(g.classOf, ch)
	}
	g.cols = len(g.classOf)
	l := make([][]float64, rows)
	counted := make([][]bool, rows)
	for r := range l {
		for _, ch := range g.classOf {
			l[r] = append(l[r], entry(r, ch))
			counted[r] = append(counted[r], true)
		}
	}
	return reduceGrid(c, o, g, l, counted, true)
}

// MCC is 1 - (tp·tn - fp·fn)/√((tp+fp)(tp+fn)(tn+fp)(tn+fn)) per entry from
// soft counts plus eps; an undefined correlation (zero denominator) is 0.
func MCC(in Inputs, c *Config, mp *param.MCC) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	o := &mp.Overlap
	probs := p.Probs(c)
	eps := mp.Eps
	rows := p.N
	if !o.PerImage {
		rows = 1
	}
	type conf struct{ tp, fp, fn, tn float64 }
	acc := make([][]conf, rows)
	for i := range acc {
		acc[i] = make([]conf, p.C)
	}
	for n := 0; n < p.N; n++ {
		row := n
		if !o.PerImage {
			row = 0
		}
		for ch := 0; ch < p.C; ch++ {
			for s := 0; s < p.S; s++ {
				if !p.Valid[n][ch][s] {
					continue
				}
				q, t := probs[n][ch][s], p.T[n][ch][s]
				e := &acc[row][ch]
				e.tp += q * t
				e.fp += q * (1 - t)
				e.fn += (1 - q) * t
				e.tn += (1 - q) * (1 - t)
			}
		}
	}
	return gridLoss(c, o, p.C, rows, func(row, ch int) float64 {
		e := acc[row][ch]
		tp, fp, fn, tn := e.tp+eps, e.fp+eps, e.fn+eps, e.tn+eps
		den := math.Sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
		return 1 - SafeDiv(tp*tn-fp*fn, den)
	}), nil
}
