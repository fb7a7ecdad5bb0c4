package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// The overlap (region) family compares a prediction with the target through
// a few sums per sample (or per batch) and class: the soft intersection I,
// Σp and Σt. Every loss of the family follows one pipeline:
//
//  1. probabilities p (sigmoid or softmax of the logits, or the input) and
//     the float target t, both zero where ignore_index masks an entry;
//  2. sums over the spatial axes, giving [N,C]; with per_image=false they are
//     summed over the batch as well, giving [1,C] (the rows);
//  3. the background column dropped (include_background=false) and, with
//     average=micro, the columns summed into one (class weights scaling each);
//  4. a score per entry, a loss per entry, the absent-class policy, and the
//     class-weighted reduction over rows and columns.
//
// Everything after step 2 works on [rows, classes] values, so the only passes
// over the data are the activation, p·t and a few ReduceSum.

var regionModes = []Mode{Binary, Multilabel, Multiclass}

const regionNone = "the per-entry loss [R,K]: R = N rows (1 with per_image=false), K = C classes (C-1 without the background, 1 with average=micro); class weights applied, 0 where a class is skipped"

// validateOverlap checks the smoothing of a loss that declares smooth_dr
// and eps, and the background.
func validateOverlap(c *Config, o *param.Overlap) error {
	if o.SmoothDr == 0 && o.Eps == 0 {
		return fmt.Errorf("smooth_dr and eps are both 0, so an empty class would divide 0 by 0: give one of them a positive value")
	}
	return validateBackground(c, o)
}

// validateBackground refuses include_background=false where no class would
// remain.
func validateBackground(c *Config, o *param.Overlap) error {
	if !o.IncludeBackground {
		if c.Mode == Binary {
			return fmt.Errorf("include_background=false needs a background channel; binary mode has only the foreground")
		}
		if c.Classes == 1 {
			return fmt.Errorf("include_background=false leaves no class with --classes 1")
		}
	}
	return nil
}

// overlapIndex is a score of the form
// (k·I + smooth_nr) / max(a·I + b·Σp + c·Σt + smooth_dr, eps).
type overlapIndex struct{ k, a, b, c float64 }

var (
	diceIndex    = overlapIndex{k: 2, a: 0, b: 1, c: 1}
	jaccardIndex = overlapIndex{k: 1, a: -1, b: 1, c: 1}
)

// tverskyIndex weighs false positives by alpha and false negatives by beta:
// I + α(Σp - I) + β(Σt - I).
func tverskyIndex(alpha, beta float64) overlapIndex {
	return overlapIndex{k: 1, a: 1 - alpha - beta, b: alpha, c: beta}
}

// overlapStats are the sums of one loss: I, S = Σp + Σt and St = Σt
// (squares when squared), all [R,K].
type overlapStats struct{ I, S, St *Value }

// regionP returns the probabilities, zero at ignored entries.
func (c *Ctx) regionP() *Value {
	return c.cached("region_p", func() *Value {
		if c.FromLogits && c.Mode != Multiclass {
			return Name(MulMaybe(c.sigmoid(false), c.Valid()), "probs_valid")
		}
		return Name(MulMaybe(c.Probs(), c.Valid()), "probs_valid")
	})
}

// sigmoid returns σ(x) (σ(-x) when neg) as v/(1 + v) and 1/(1 + v) with
// v = e^x, x clipped to [-80, 80] first: accurate to float32 rounding
// relative to the value (below x = -80, σ(x) is 1.8e-35 rather than
// smaller, and so is σ(-x) above x = 80). ONNX Runtime's Sigmoid kernel is
// accurate only in absolute terms (about 5e-8): at x = -8 its relative
// error is 2e-4 and below x = -17 it returns 0, which biases Σp over large
// backgrounds and decides near-empty Dice values. The clip keeps e^x
// finite, so the gradient is finite too. The gradients are given directly,
// σ(x)σ(-x) = σ(x)/(1 + v) and its negative, one pass each; they are those
// of the unclipped σ, which beyond ±80 differ from the clipped one's 0 by
// less than 2e-35.
func (c *Ctx) sigmoid(neg bool) *Value {
	v := c.cached("exp_x", func() *Value {
		x := c.X
		if c.unclamped != nil {
			// One clip instead of two: the clamp of huge logits changes
			// nothing here (the clip to ±80 covers it), and the gradient
			// rules below do not read x.
			x = c.unclamped
		}
		return Exp(Clip(x, -80, 80))
	})
	w := c.cached("one_plus_exp_x", func() *Value { return AddScalar(v, 1) })
	p := c.cached("sigmoid_pos", func() *Value {
		p := Div(v, w)
		return Name(withGradX(p, c.X, func(ct *Value) *Value { return Mul(ct, Div(p, w)) }), "probs")
	})
	if !neg {
		return p
	}
	return c.cached("sigmoid_neg", func() *Value {
		q := Reciprocal(w)
		return Name(withGradX(q, c.X, func(ct *Value) *Value { return Neg(Mul(ct, Div(p, w))) }), "complement_probs")
	})
}

// regionT returns the float target, floored at eps (t(1-eps)+eps) and zero
// at ignored entries.
func (c *Ctx) regionT(eps float64) *Value {
	t := c.Target()
	if eps == 0 {
		return t
	}
	return c.cached(fmt.Sprintf("region_t_%g", eps), func() *Value {
		return Name(MulMaybe(AddScalar(MulScalar(t, 1-eps), eps), c.Valid()), "target_floored")
	})
}

// classIDs returns 0..C-1 as int64 [1,C,1,...], broadcasting against
// canonical values.
func (c *Ctx) classIDs() *Value {
	return c.cached("class_ids", func() *Value {
		var ids *Value
		if c.Classes > 0 {
			v := make([]int64, c.Classes)
			for i := range v {
				v[i] = int64(i)
			}
			ids = Ints(c.G, v...)
		} else {
			ids = Range(Int(c.G, 0), ScalarOf(DimOf(c.X, 1)), Int(c.G, 1))
		}
		return ReshapeDims(ids, append([]int64{1, -1}, ones(c.SpatialDims)...)...)
	})
}

// complementProbs returns 1 - p [N,C,*] without the cancellation of
// subtracting a probability near 1: σ(-x) from logits in binary and
// multilabel mode; in multiclass mode, for the most likely class (the only
// one whose probability can exceed 1/2) the sum of the other classes'
// probabilities, and 1 - p elsewhere.
func (c *Ctx) complementProbs() *Value {
	return c.cached("complement_probs", func() *Value {
		switch {
		case !c.FromLogits:
			return OneMinus(c.X)
		case c.Mode != Multiclass:
			return c.sigmoid(true)
		}
		_, e, s := c.softmaxParts()
		top := Equal(ArgMax(c.X, 1, true), c.classIDs())
		others := ReduceSum(Where(top, ConstAs(e, 0), e), true, 1)
		return Name(Where(top, Div(others, s), OneMinus(c.Probs())), "complement_probs")
	})
}

// expNegAbs is exp(-|x|), in (0, 1].
func (c *Ctx) expNegAbs() *Value {
	return c.cached("exp_neg_abs", func() *Value { return Exp(Neg(c.absX())) })
}

// onePlusExpNegAbs is 1 + exp(-|x|).
func (c *Ctx) onePlusExpNegAbs() *Value {
	return c.cached("one_plus_exp_neg_abs", func() *Value { return AddScalar(c.expNegAbs(), 1) })
}

// log1p returns log(1 + u) accurately also where u is tiny, from u and
// w = 1 + u as computed: log(w)·u/(w - 1), or u where w rounds to 1. log w
// is floored at log(floor), as ClampedLog is. Every branch is finite, so
// the gradient is too.
func log1p(u, w *Value, floor float64) *Value {
	d := AddScalar(w, -1)
	one := Equal(d, ConstAs(d, 0))
	ratio := Div(u, Where(one, ConstAs(d, 1), d))
	return Where(one, u, Mul(Log(ClipMin(w, floor)), ratio))
}

// spatialSum sums a canonical [N,C,*] (or [N,1,*]) value over space.
func (c *Ctx) spatialSum(v *Value) *Value { return ReduceSum(v, false, c.SpatialAxes()...) }

// targetSum is spatialSum(t) for a target value t. Where t is the float
// target exactly as fed (no cast, no ignored entries, no floor), the sums
// are the ones the target-finite check computed, so that the target is
// read once for both.
func (c *Ctx) targetSum(t *Value) *Value {
	if s := c.checkedTargetSums(t); s != nil {
		return s
	}
	return c.spatialSum(t)
}

// checkedTargetSums returns the target-finite check's sums of the target
// over its spatial axes, [N,C], when t is the float target exactly as fed
// (no cast, no ignored entries, no floor); nil otherwise.
func (c *Ctx) checkedTargetSums(t *Value) *Value {
	if s := c.cache["checked_target_sums"]; s != nil && t == c.Target() && c.Valid() == nil &&
		c.RawTarget.DType() == c.ComputeType() {
		return s
	}
	return nil
}

// targetReduceSum is ReduceSum(t, keepDims, axes...) for a target value t
// and axes that hold every spatial axis (none: every axis), taken from the
// target-finite check's sums where checkedTargetSums gives them.
func (c *Ctx) targetReduceSum(t *Value, keepDims bool, axes ...int) *Value {
	s := c.checkedTargetSums(t)
	if s == nil {
		return ReduceSum(t, keepDims, axes...)
	}
	var rest []int // the axes among batch and channels
	if len(axes) == 0 {
		rest = []int{0, 1}
	} else {
		spatial := 0
		for _, a := range axes {
			if a < 2 {
				rest = append(rest, a)
			} else {
				spatial++
			}
		}
		if spatial != c.SpatialDims {
			return ReduceSum(t, keepDims, axes...)
		}
	}
	if len(rest) == 0 {
		if !keepDims {
			return s
		}
	} else {
		s = ReduceSum(s, keepDims, rest...)
	}
	if keepDims {
		s = Unsqueeze(s, c.SpatialAxes()...)
	}
	return s
}

// regionRows sums [N,K] values over the batch when statistics are per batch.
func regionRows(o *param.Overlap, v *Value) *Value {
	if o.PerImage || v == nil {
		return v
	}
	return ReduceSum(v, true, 0)
}

// dropBackground removes column 0 of [R,C] values when the background is
// excluded.
func dropBackground(o *param.Overlap, v *Value) *Value {
	if o.IncludeBackground || v == nil {
		return v
	}
	return Slice(v, []int64{1}, []int64{math.MaxInt64}, []int64{1}, nil)
}

// columnWeights returns the class weights of the columns that remain, or nil.
func (c *Ctx) columnWeights(o *param.Overlap) []float64 {
	w := c.ClassWeights
	if w == nil {
		return nil
	}
	if !o.IncludeBackground {
		w = w[1:]
	}
	return w
}

// weightRow returns weights as a [1,K] constant.
func (c *Ctx) weightRow(w []float64) *Value {
	return ReshapeDims(Floats(c.G, c.ComputeType(), w...), 1, -1)
}

// columns applies the column steps to [N,C] sums: rows, background, micro.
func (c *Ctx) columns(o *param.Overlap, v *Value) *Value {
	v = dropBackground(o, regionRows(o, v))
	if v == nil || o.Average != param.AverageMicro {
		return v
	}
	if w := c.columnWeights(o); w != nil {
		v = Mul(v, c.weightRow(w))
	}
	return ReduceSum(v, true, 1)
}

// overlapStats computes I, S and St. Each is one ReduceSum of a value the
// loss needs anyway (p·t, p, t), never of a sum made only to be reduced.
// They are sums over every pixel, blocked by the builder so that they stay
// accurate at any size; matrix-vector products of the one-hot labels with
// p (which avoid materialising p·t) add float32 terms one after the other
// and were off by 1e-5 at 2×4×128³.
func (c *Ctx) overlapStats(o *param.Overlap) overlapStats {
	p, t := c.regionP(), c.regionT(o.TargetEps)
	// Hard labels: min(p,t) = p·t, so the L1 intersection is the product.
	hard := c.Mode == Multiclass && c.TargetForm == TargetLabels && o.TargetEps == 0
	var in, st, s *Value
	switch {
	case o.Squared:
		in = Name(c.spatialSum(Mul(p, t)), "intersection")
		st = Name(c.spatialSum(Square(t)), "target_sum")
		s = Name(Add(Name(c.spatialSum(Square(p)), "probs_sum"), st), "cardinality")
	case o.Intersection == param.IntersectionL1 && !hard:
		// Σmin(p, t), not (S - Σ|p - t|)/2: the latter's gradient adds
		// the intersection's cotangent, up to 1/smooth_nr under
		// log_loss, to the sums' own and takes it off again through
		// |p - t|, which in float32 lost per cents of the gradient.
		st = Name(c.targetSum(t), "target_sum")
		s = Name(Add(Name(c.spatialSum(p), "probs_sum"), st), "cardinality")
		in = Name(c.spatialSum(Min(p, t)), "intersection")
	default:
		in = Name(c.spatialSum(Mul(p, t)), "intersection")
		st = Name(c.targetSum(t), "target_sum")
		s = Name(Add(Name(c.spatialSum(p), "probs_sum"), st), "cardinality")
	}
	return overlapStats{I: c.columns(o, in), S: c.columns(o, s), St: c.columns(o, st)}
}

// needsSt reports whether the index needs Σt apart from S.
func (ix overlapIndex) needsSt() bool { return ix.b != ix.c }

// score returns (k·I + smooth_nr) / max(den + smooth_dr, eps) per entry.
func (c *Ctx) overlapScore(o *param.Overlap, ix overlapIndex, st overlapStats) *Value {
	num := MulScalar(st.I, ix.k)
	if o.SmoothNr != 0 {
		num = AddScalar(num, o.SmoothNr)
	}
	// b·Σp + c·Σt = b·S + (c-b)·Σt with S = Σp + Σt.
	den := st.S
	if ix.b != 1 {
		den = MulScalar(st.S, ix.b)
	}
	if ix.a != 0 {
		den = Add(den, MulScalar(st.I, ix.a))
	}
	if ix.needsSt() {
		den = Add(den, MulScalar(st.St, ix.c-ix.b))
	}
	if o.SmoothDr != 0 {
		den = AddScalar(den, o.SmoothDr)
	}
	if o.Eps > 0 {
		den = ClipMin(den, o.Eps)
	}
	return Name(Div(Name(num, "numerator"), Name(den, "denominator")), "score")
}

// logFloor is the floor of a score under log_loss: eps, or 2^-126.
func logFloor(eps float64) float64 {
	if eps > 0 {
		return eps
	}
	return reference.ProbFloor
}

// scoreLoss turns scores into losses: 1 - score, or -log(max(score, eps)).
func scoreLoss(o *param.Overlap, score *Value) *Value {
	if o.LogLoss {
		return Name(Neg(Log(ClipMin(score, logFloor(o.Eps)))), "class_loss")
	}
	return Name(OneMinus(score), "class_loss")
}

// absentPolicy applies absent_classes to per-entry losses and returns them
// with the 0/1 mask of entries that count (nil: all).
func absentPolicy(o *param.Overlap, l, st *Value) (*Value, *Value) {
	if o.AbsentClasses == param.AbsentKeep || st == nil {
		return l, nil
	}
	absent := Name(Equal(st, ConstAs(st, 0)), "absent")
	if o.AbsentClasses == param.AbsentZero {
		return Name(Where(absent, ConstAs(l, 0), l), "class_loss_present"), nil
	}
	return l, Name(Cast(Not(absent), l.DType()), "counted")
}

// regionReduce reduces per-entry losses l [R,K]. counted masks the entries
// that count (nil: all); class weights apply per column in macro averaging
// unless noWeights.
func (c *Ctx) regionReduce(o *param.Overlap, l, counted *Value, noWeights bool) *Value {
	var w *Value
	if ws := c.columnWeights(o); ws != nil && o.Average != param.AverageMicro && !noWeights {
		w = c.weightRow(ws)
	}
	weighted := Name(MulMaybe(MulMaybe(l, counted), w), "class_loss_weighted")
	if o.AbsentClasses == param.AbsentSkipRow && counted != nil && c.Reduction != None {
		return c.rowMeans(o, weighted, counted, w)
	}
	switch c.Reduction {
	case None:
		return weighted
	case Sum:
		return ReduceSum(weighted, false)
	}
	var den *Value
	switch {
	case w != nil && o.ClassWeighting == param.ClassWeightingMean:
		den = ExpandAs(MulMaybe(w, counted), l)
	case counted != nil:
		den = counted
	default:
		return ReduceMean(weighted, false)
	}
	return SafeDiv(ReduceSum(weighted, false), ReduceSum(den, false))
}

// rowMeans reduces under absent_classes=skip-row: each row's counted
// entries are averaged (weighted by w under class_weighting=mean), a row with
// none counting as loss 1, and the rows are summed or averaged.
func (c *Ctx) rowMeans(o *param.Overlap, weighted, counted, w *Value) *Value {
	den := counted
	if w != nil && o.ClassWeighting == param.ClassWeightingMean {
		den = Mul(counted, w)
	}
	num, d := ReduceSum(weighted, false, 1), ReduceSum(den, false, 1)
	row := Where(Equal(d, ConstAs(d, 0)), ConstAs(num, 1), SafeDiv(num, d))
	if c.Reduction == Sum {
		return ReduceSum(row, false)
	}
	return ReduceMean(row, false)
}

// overlapPerSample reports whether overlapLoss under o is computed one
// sample at a time with its gradient (Spec.PerSample): it decomposes over the
// batch with statistics per sample and every sample holding the same number
// of entries of the mean (no ignored pixels, no absent classes left out of
// it, no class weights normalising across rows). Multiclass mode keeps the
// whole-batch graph: ONNX Runtime's reductions over the channel axis of one
// sample ([1,C,*], the softmax and the one-hot) run several times slower
// than over the batch, which outweighs what the cache saves.
func overlapPerSample(c *Config, o *param.Overlap) bool {
	return c.Mode != Multiclass && o.PerImage && c.IgnoreIndex == nil && c.ClassWeights == nil &&
		(o.AbsentClasses == param.AbsentKeep || o.AbsentClasses == param.AbsentZero)
}

// overlapLoss is the whole pipeline of an index-based loss under the
// conventions o; transform, when not nil, maps each entry's loss before the
// absent policy (focal exponent, log-cosh).
func (c *Ctx) overlapLoss(o *param.Overlap, ix overlapIndex, transform func(*Value) *Value) *Value {
	return c.overlapLossWith(o, ix, transform, false)
}

// overlapLossWith is overlapLoss; noWeights leaves class weights out of the
// class mean.
func (c *Ctx) overlapLossWith(o *param.Overlap, ix overlapIndex, transform func(*Value) *Value, noWeights bool) *Value {
	st := c.overlapStats(o)
	l := scoreLoss(o, c.overlapScore(o, ix, st))
	if transform != nil {
		l = transform(l)
	}
	l, counted := absentPolicy(o, l, st.St)
	return c.regionReduce(o, l, counted, noWeights)
}

// powFloor raises x to a constant power with x floored at 2^-126 first, so
// the value at 0 is 0 (to float32 precision) and the gradient stays finite
// for exponents below 1. The gradient of the power is given directly as
// γ·y/x from its value y, one division where differentiating Pow computes
// another power (ONNX Runtime's Pow takes about ten times a division).
func powFloor(x *Value, gamma float64) *Value { return powFloorWith(x, gamma, false) }

// powFloorMap is powFloor for maps of the input's size, computed as
// e^(γ·ln x): ONNX Runtime's Pow evaluates each entry with the C library's
// pow, about three times the vectorised Log and Exp together. Each entry is
// within 3e-6 of x^γ relative (γ·|ln x| float32 rounding steps; 2e-6 at
// the 2^-126 floor for γ = 0.3), and the errors of a mean cancel.
func powFloorMap(x *Value, gamma float64) *Value { return powFloorWith(x, gamma, true) }

func powFloorWith(x *Value, gamma float64, viaLog bool) *Value {
	if gamma == 1 {
		return x
	}
	xc := ClipMin(x, reference.ProbFloor)
	var y *Value
	if viaLog {
		y = Exp(MulScalar(Log(xc), gamma))
	} else {
		y = Pow(xc, gamma)
	}
	return withGradX(y, xc, func(ct *Value) *Value { return Mul(MulScalar(ct, gamma), Div(y, xc)) })
}

// reduceRows reduces a per-row loss [R] (generalized and Wasserstein Dice).
func (c *Ctx) reduceRows(l *Value) *Value {
	switch c.Reduction {
	case None:
		return l
	case Sum:
		return ReduceSum(l, false)
	}
	return ReduceMean(l, false)
}

// spatialCount returns the number of spatial positions per sample counted
// for each [N,C] entry: valid ones under ignore_index, all otherwise.
func (c *Ctx) spatialCount(like *Value) *Value {
	if v := c.Valid(); v != nil {
		return ExpandAs(c.spatialSum(v), like)
	}
	dims := Slice(ShapeOf(c.X), []int64{2}, []int64{math.MaxInt64}, []int64{0}, nil)
	return ExpandAs(Cast(ReduceProd(dims, false), c.ComputeType()), like)
}

// The compound losses add a cross-entropy-family term to an overlap term.
// They reuse the cross-entropy family's build functions and parameters, so
// both terms share the activations (one softmax or sigmoid per graph).

var compoundReductions = []string{"mean", "sum"}

const compoundReductionNote = "--reduction none is not offered: the two terms live on different shapes (per sample and class for the overlap term, per pixel for the cross-entropy term); MONAI's compound losses reject it too. sum adds the sum of each term."

const (
	emptyValueNote = "Empty target and empty prediction: every sum is 0, so the score is smooth_nr / max(smooth_dr, eps): 1 with the default smoothing (loss 0); 0 with no numerator smoothing (loss 1), which absent_classes=zero or skip removes. An empty target with a non-empty prediction gives a loss near 1, so false positives on empty images are penalised unless absent_classes is zero or skip."
	monaiActNote   = "MONAI applies no activation by default (sigmoid=False, softmax=False): its default numbers are those of --from-logits=false on probabilities; DiceLoss(softmax=True) or (sigmoid=True) on logits is the default --from-logits=true."
	smpHistoryNote = "segmentation_models_pytorch changed its smoothing in Oct 2024: it now computes (I + s)/clamp_min(I + ½fp + ½fn + s, eps) with the L1 intersection, i.e. (2I + 2s)/(Σp+Σt+2s), so smp's smooth s is --smooth-nr 2s --smooth-dr 2s; before, (2I + s)/clamp_min(Σp+Σt+s, eps) with the product intersection (geo-deep-learning's copy, smooth 1), i.e. --smooth-nr s --smooth-dr s --intersection product --eps 1e-7."
)
