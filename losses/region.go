package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
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

// The convention parameters of the overlap losses. Each Spec takes the ones
// that make sense for it.
var (
	smoothNrParam = Param{Name: "smooth_nr", Kind: KindFloat, Default: 1e-5, Min: fptr(0),
		Doc: "added to the numerator of the score (MONAI smooth_nr 1e-5; segmentation_models_pytorch 0; SemSegLoss 1)"}
	smoothDrParam = Param{Name: "smooth_dr", Kind: KindFloat, Default: 1e-5, Min: fptr(0),
		Doc: "added to the denominator of the score (MONAI smooth_dr 1e-5; kornia's eps 1e-8; segmentation_models_pytorch 0; SemSegLoss 1)"}
	epsParam = Param{Name: "eps", Kind: KindFloat, Default: 1e-7, Min: fptr(0),
		Doc: "the denominator is clamped from below, num / max(den, eps) (segmentation_models_pytorch's clamp_min(eps)); it also floors the score under log_loss. smooth_dr and eps cannot both be 0"}
	squaredParam = Param{Name: "squared", Kind: KindBool, Default: false,
		Doc: "V-Net denominators Σp² + Σt² instead of Σp + Σt (MONAI squared_pred=True); the intersection stays Σp·t"}
	perImageParam = Param{Name: "per_image", Kind: KindBool, Default: true,
		Doc: "statistics per sample (MONAI, kornia, SegLoss) or summed over the batch: false is segmentation_models_pytorch's batch Dice, MONAI batch=True, SemSegLoss's flattening"}
	averageParam = Param{Name: "average", Kind: KindEnum, Default: "macro", Choices: []string{"macro", "micro"},
		Doc: "macro: one score per class, then the class mean; micro: the statistics of all classes summed first, one score (kornia's default; SemSegLoss flattens channels too)"}
	absentParam = Param{Name: "absent_classes", Kind: KindEnum, Default: "keep", Choices: []string{"keep", "zero", "skip"},
		Doc: "an entry whose target is empty (Σt = 0): keep its smoothed loss (MONAI, kornia), set it to 0 but count it in the mean (segmentation_models_pytorch), or skip it from the mean (0 when every entry is skipped)"}
	logLossParam = Param{Name: "log_loss", Kind: KindBool, Default: false,
		Doc: "loss -log(max(score, eps)) instead of 1 - score (segmentation_models_pytorch log_loss=True); eps 0 floors at 2^-126"}
	intersectionParam = Param{Name: "intersection", Kind: KindEnum, Default: "product", Choices: []string{"product", "l1"},
		Doc: "product: I = Σp·t (MONAI's default, kornia, SemSegLoss, segmentation_models_pytorch before Oct 2024); l1: I = (Σp + Σt - Σ|p-t|)/2 = Σmin(p,t), a true overlap for soft labels (segmentation_models_pytorch since Oct 2024, MONAI soft_label=True). Equal for hard labels; with squared the product is used"}
	backgroundParam = Param{Name: "include_background", Kind: KindBool, Default: true,
		Doc: "include channel 0 (MONAI include_background); false drops its column after the sums, so a softmax still spans every class, and uses class_weights[1:]. Not in binary mode"}
	targetEpsParam = Param{Name: "target_eps", Kind: KindFloat, Default: 0.0, Min: fptr(0), Max: fptr(1), MaxExclusive: true,
		Doc: "targets become t(1-ε)+ε before the sums (kornia's one_hot uses ε = 1e-6); ignored entries stay 0"}
	weightingParam = Param{Name: "class_weighting", Kind: KindEnum, Default: "mean", Choices: []string{"mean", "scale"},
		Doc: "how class_weights enter the class mean: mean gives Σw·l/Σw (segmentation_models_pytorch, kornia macro); scale multiplies each class's loss and averages as without weights (MONAI's weight). With average=micro the weights scale each class's sums instead"}
)

// overlapParams are the parameters of Dice, Jaccard and Tversky.
func overlapParams(extra ...Param) []Param {
	ps := []Param{smoothNrParam, smoothDrParam, epsParam, squaredParam, perImageParam, averageParam, absentParam,
		logLossParam, intersectionParam, backgroundParam, targetEpsParam, weightingParam}
	return append(ps, extra...)
}

// regionConv is the resolved convention of an overlap loss. Parameters a
// loss does not declare take the value that switches them off.
type regionConv struct {
	smoothNr, smoothDr, eps, targetEps    float64
	squared, perImage, micro, logLoss, l1 bool
	background                            bool
	absent, weighting                     string
}

func regionConvOf(c *Config) regionConv {
	f := func(name string, def float64) float64 {
		if v, ok := c.Params[name].(float64); ok {
			return v
		}
		return def
	}
	b := func(name string, def bool) bool {
		if v, ok := c.Params[name].(bool); ok {
			return v
		}
		return def
	}
	s := func(name, def string) string {
		if v, ok := c.Params[name].(string); ok {
			return v
		}
		return def
	}
	return regionConv{
		smoothNr: f("smooth_nr", 0), smoothDr: f("smooth_dr", 0), eps: f("eps", 0), targetEps: f("target_eps", 0),
		squared: b("squared", false), perImage: b("per_image", true), micro: s("average", "macro") == "micro",
		logLoss: b("log_loss", false), l1: s("intersection", "product") == "l1", background: b("include_background", true),
		absent: s("absent_classes", "keep"), weighting: s("class_weighting", "mean"),
	}
}

// validateRegion checks the combinations every overlap loss shares.
func validateRegion(c *Config) error {
	rc := regionConvOf(c)
	_, hasDr := c.Params["smooth_dr"]
	_, hasEps := c.Params["eps"]
	if hasDr && hasEps && rc.smoothDr == 0 && rc.eps == 0 {
		return fmt.Errorf("smooth_dr and eps are both 0, so an empty class would divide 0 by 0: give one of them a positive value")
	}
	if !rc.background {
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
			return MulMaybe(c.sigmoid(false), c.Valid())
		}
		return MulMaybe(c.Probs(), c.Valid())
	})
}

// sigmoid returns σ(x) (σ(-x) when neg) as 1/(1 + e^-x) and e^-x/(1 + e^-x),
// with x clipped at -80 first, accurate to float32 rounding relative to the
// value (σ(x) below x = -80 is 1.8e-35 rather than smaller). ONNX Runtime's
// Sigmoid kernel is accurate only in absolute terms (about 5e-8): at x = -8
// its relative error is 2e-4 and below x = -17 it returns 0, which biases Σp
// over large backgrounds and decides near-empty Dice values. The clip keeps
// e^-x finite, so the gradient is finite too.
func (c *Ctx) sigmoid(neg bool) *Value {
	u := c.cached("exp_neg_x", func() *Value { return Exp(Neg(ClipMin(c.X, -80))) })
	p := c.cached("sigmoid_pos", func() *Value { return Reciprocal(AddScalar(u, 1)) })
	if !neg {
		return p
	}
	return c.cached("sigmoid_neg", func() *Value { return Mul(u, p) })
}

// regionT returns the float target, floored at eps (t(1-eps)+eps) and zero
// at ignored entries.
func (c *Ctx) regionT(eps float64) *Value {
	t := c.Target()
	if eps == 0 {
		return t
	}
	return c.cached(fmt.Sprintf("region_t_%g", eps), func() *Value {
		return MulMaybe(AddScalar(MulScalar(t, 1-eps), eps), c.Valid())
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
		return Where(top, Div(others, s), OneMinus(c.Probs()))
	})
}

// expNegAbs is exp(-|x|), in (0, 1].
func (c *Ctx) expNegAbs() *Value {
	return c.cached("exp_neg_abs", func() *Value { return Exp(Neg(Abs(c.X))) })
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

// regionRows sums [N,K] values over the batch when statistics are per batch.
func regionRows(rc regionConv, v *Value) *Value {
	if rc.perImage || v == nil {
		return v
	}
	return ReduceSum(v, true, 0)
}

// dropBackground removes column 0 of [R,C] values when the background is
// excluded.
func dropBackground(rc regionConv, v *Value) *Value {
	if rc.background || v == nil {
		return v
	}
	return Slice(v, []int64{1}, []int64{math.MaxInt64}, []int64{1}, nil)
}

// columnWeights returns the class weights of the columns that remain, or nil.
func (c *Ctx) columnWeights(rc regionConv) []float64 {
	w := c.ClassWeights
	if w == nil {
		return nil
	}
	if !rc.background {
		w = w[1:]
	}
	return w
}

// weightRow returns weights as a [1,K] constant.
func (c *Ctx) weightRow(w []float64) *Value {
	return ReshapeDims(Floats(c.G, c.ComputeType(), w...), 1, -1)
}

// columns applies the column steps to [N,C] sums: rows, background, micro.
func (c *Ctx) columns(rc regionConv, v *Value) *Value {
	v = dropBackground(rc, regionRows(rc, v))
	if v == nil || !rc.micro {
		return v
	}
	if w := c.columnWeights(rc); w != nil {
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
func (c *Ctx) overlapStats(rc regionConv) overlapStats {
	p, t := c.regionP(), c.regionT(rc.targetEps)
	// Hard labels: min(p,t) = p·t, so the L1 intersection is the product.
	hard := c.Mode == Multiclass && c.TargetForm == "labels" && rc.targetEps == 0
	var in, st, s *Value
	switch {
	case rc.squared:
		in = c.spatialSum(Mul(p, t))
		st = c.spatialSum(Square(t))
		s = Add(c.spatialSum(Square(p)), st)
	case rc.l1 && !hard:
		// Σmin(p, t), not (S - Σ|p - t|)/2: the latter's gradient adds
		// the intersection's cotangent, up to 1/smooth_nr under
		// log_loss, to the sums' own and takes it off again through
		// |p - t|, which in float32 lost per cents of the gradient.
		st = c.spatialSum(t)
		s = Add(c.spatialSum(p), st)
		in = c.spatialSum(Min(p, t))
	default:
		in = c.spatialSum(Mul(p, t))
		st = c.spatialSum(t)
		s = Add(c.spatialSum(p), st)
	}
	return overlapStats{I: c.columns(rc, in), S: c.columns(rc, s), St: c.columns(rc, st)}
}

// needsSt reports whether the index needs Σt apart from S.
func (ix overlapIndex) needsSt() bool { return ix.b != ix.c }

// score returns (k·I + smooth_nr) / max(den + smooth_dr, eps) per entry.
func (c *Ctx) overlapScore(rc regionConv, ix overlapIndex, st overlapStats) *Value {
	num := MulScalar(st.I, ix.k)
	if rc.smoothNr != 0 {
		num = AddScalar(num, rc.smoothNr)
	}
	// b·Σp + c·Σt = b·S + (c-b)·Σt with S = Σp + Σt.
	den := MulScalar(st.S, ix.b)
	if ix.b == 1 {
		den = st.S
	}
	if ix.a != 0 {
		den = Add(den, MulScalar(st.I, ix.a))
	}
	if ix.needsSt() {
		den = Add(den, MulScalar(st.St, ix.c-ix.b))
	}
	if rc.smoothDr != 0 {
		den = AddScalar(den, rc.smoothDr)
	}
	if rc.eps > 0 {
		den = ClipMin(den, rc.eps)
	}
	return Div(num, den)
}

// logFloor is the floor of a score under log_loss: eps, or 2^-126.
func logFloor(eps float64) float64 {
	if eps > 0 {
		return eps
	}
	return reference.ProbFloor
}

// scoreLoss turns scores into losses: 1 - score, or -log(max(score, eps)).
func scoreLoss(rc regionConv, score *Value) *Value {
	if rc.logLoss {
		return Neg(Log(ClipMin(score, logFloor(rc.eps))))
	}
	return OneMinus(score)
}

// absentPolicy applies absent_classes to per-entry losses and returns them
// with the 0/1 mask of entries that count (nil: all).
func absentPolicy(rc regionConv, l, st *Value) (*Value, *Value) {
	if rc.absent == "keep" || st == nil {
		return l, nil
	}
	absent := Equal(st, ConstAs(st, 0))
	if rc.absent == "zero" {
		return Where(absent, ConstAs(l, 0), l), nil
	}
	return l, Cast(Not(absent), l.DType())
}

// regionReduce reduces per-entry losses l [R,K]. counted masks the entries
// that count (nil: all); class weights apply per column in macro averaging
// unless noWeights.
func (c *Ctx) regionReduce(rc regionConv, l, counted *Value, noWeights bool) *Value {
	var w *Value
	if ws := c.columnWeights(rc); ws != nil && !rc.micro && !noWeights {
		w = c.weightRow(ws)
	}
	weighted := MulMaybe(MulMaybe(l, counted), w)
	switch c.Reduction {
	case "none":
		return weighted
	case "sum":
		return ReduceSum(weighted, false)
	}
	var den *Value
	switch {
	case w != nil && rc.weighting == "mean":
		den = ExpandAs(MulMaybe(w, counted), l)
	case counted != nil:
		den = counted
	default:
		return ReduceMean(weighted, false)
	}
	return SafeDiv(ReduceSum(weighted, false), ReduceSum(den, false))
}

// overlapLoss is the whole pipeline of an index-based loss; transform, when
// not nil, maps each entry's loss before the absent policy (focal exponent,
// log-cosh).
func (c *Ctx) overlapLoss(ix overlapIndex, transform func(*Value) *Value) *Value {
	return c.overlapLossWith(regionConvOf(c.Config), ix, transform, false)
}

// overlapLossWith is overlapLoss under an explicit convention; noWeights
// leaves class weights out of the class mean.
func (c *Ctx) overlapLossWith(rc regionConv, ix overlapIndex, transform func(*Value) *Value, noWeights bool) *Value {
	st := c.overlapStats(rc)
	l := scoreLoss(rc, c.overlapScore(rc, ix, st))
	if transform != nil {
		l = transform(l)
	}
	l, counted := absentPolicy(rc, l, st.St)
	return c.regionReduce(rc, l, counted, noWeights)
}

// powFloor raises x to a constant power with x floored at 2^-126 first, so
// the value at 0 is 0 (to float32 precision) and the gradient stays finite
// for exponents below 1.
func powFloor(x *Value, gamma float64) *Value {
	if gamma == 1 {
		return x
	}
	return Pow(ClipMin(x, reference.ProbFloor), gamma)
}

func validateTversky(c *Config) error {
	if c.Float("alpha")+c.Float("beta") == 0 {
		return fmt.Errorf("alpha + beta = 0 makes the score 1 whatever the prediction")
	}
	return validateRegion(c)
}

const (
	emptyValueNote = "Empty target and empty prediction: every sum is 0, so the score is smooth_nr / max(smooth_dr, eps): 1 with the default smoothing (loss 0); 0 with no numerator smoothing (loss 1), which absent_classes=zero or skip removes. An empty target with a non-empty prediction gives a loss near 1, so false positives on empty images are penalised unless absent_classes is zero or skip."
	monaiActNote   = "MONAI applies no activation by default (sigmoid=False, softmax=False): its default numbers are those of --from-logits=false on probabilities; DiceLoss(softmax=True) or (sigmoid=True) on logits is the default --from-logits=true."
	smpHistoryNote = "segmentation_models_pytorch changed its smoothing in Oct 2024: it now computes (I + s)/clamp_min(I + ½fp + ½fn + s, eps) with the L1 intersection, i.e. (2I + 2s)/(Σp+Σt+2s), so smp's smooth s is --smooth-nr 2s --smooth-dr 2s; before, (2I + s)/clamp_min(Σp+Σt+s, eps) with the product intersection (geo-deep-learning's copy, smooth 1), i.e. --smooth-nr s --smooth-dr s --intersection product --eps 1e-7."
)

func init() {
	Register(&Spec{
		Name:    "dice",
		Family:  "region",
		Summary: "Soft Dice loss with every convention as a parameter (smoothing, batch or per-sample, micro or macro, absent classes).",
		Description: "The soft Sørensen-Dice loss 1 - (2I + smooth_nr)/(Σp + Σt + smooth_dr) between the predicted " +
			"probabilities and the target, computed per sample and class by default and averaged. Every convention " +
			"that differs between libraries is a parameter: numerator and denominator smoothing and a denominator " +
			"clamp, squared (V-Net) denominators, per-sample or batch statistics, macro or micro averaging, what " +
			"happens to classes absent from the target, -log Dice, the soft-label-correct L1 intersection, the " +
			"background channel, class weights as a weighted mean or a multiplier. Presets reproduce " +
			"segmentation_models_pytorch, MONAI, kornia and SemSegLoss. With the default smoothing an empty target " +
			"with an empty prediction gives loss 0, and an empty target with false positives a loss near 1.",
		Citation: "Milletari, Navab & Ahmadi, V-Net: Fully Convolutional Neural Networks for Volumetric Medical Image Segmentation, 3DV 2016; Sudre et al., Generalised Dice overlap as a deep learning loss function, DLMIA 2017.",
		Formula:  "loss = 1 - (2I + smooth_nr) / max(Σp + Σt + smooth_dr, eps), I = Σp·t or Σmin(p,t); squared: Σp², Σt²; log_loss: -log max(score, eps)",
		Modes:    regionModes,
		Params:   overlapParams(),
		Presets: []Preset{
			{Name: "smp", Doc: "segmentation_models_pytorch DiceLoss(mode, smooth=0, eps=1e-7): batch Dice per class (sums over batch and space), L1 intersection, classes absent from the batch's target zeroed but counted in the class mean, class_weights as a weighted mean. smp clamps the halved denominator (Σp+Σt)/2 + smooth at 1e-7, hence eps 2e-7 here; the result is exact. log_loss=True is --log-loss; smp floors the score at 1e-7 and this preset at 2e-7, which matters only for scores below 2e-7.",
				Values: map[string]string{"per_image": "false", "average": "macro", "smooth_nr": "0", "smooth_dr": "0", "eps": "2e-07",
					"absent_classes": "zero", "intersection": "l1", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "mean"}},
			{Name: "monai", Doc: "MONAI DiceLoss() defaults: per sample and class, smooth_nr = smooth_dr = 1e-5, product intersection (soft_label=False), background included, mean over samples and classes, weight multiplying each class's loss. " + monaiActNote + " batch=True is --per-image=false, squared_pred=True --squared, soft_label=True --intersection l1, jaccard=True the jaccard loss's monai preset.",
				Values: map[string]string{"per_image": "true", "average": "macro", "smooth_nr": "1e-05", "smooth_dr": "1e-05", "eps": "0",
					"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "scale"}},
			{Name: "kornia", Doc: "kornia DiceLoss() (multiclass only): micro average per sample, eps 1e-8 added to the denominator only, one-hot targets floored at 1e-6 (t(1-1e-6)+1e-6), ignore_index -100, mean over the batch; average='macro' is --average macro (a weighted class mean). With class weights kornia's micro form multiplies both p and t by w, which counts w twice in the intersection; onnxloss scales each class's sums by w once.",
				Values: map[string]string{"per_image": "true", "average": "micro", "smooth_nr": "0", "smooth_dr": "1e-08", "eps": "0", "target_eps": "1e-06",
					"ignore_index": "-100", "absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "class_weighting": "mean"}},
			{Name: "semsegloss", Doc: "SemSegLoss dice_loss: everything flattened (batch, channels and space) into one score, smooth 1 in numerator and denominator. SemSegLoss takes probabilities (Keras y_pred): feed them with --from-logits=false, or logits and the graph applies the activation.",
				Values: map[string]string{"per_image": "false", "average": "micro", "smooth_nr": "1", "smooth_dr": "1", "eps": "0",
					"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0"}},
		},
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		NoneShape: regionNone,
		Notes: []string{
			emptyValueNote,
			smpHistoryNote,
			"segmentation_models_pytorch zeroes the loss of classes absent from the batch but still divides by every class, so the loss scale depends on how many classes are present, and an empty-target binary batch gets loss 0 and no gradient from false positives (absent_classes=zero reproduces it; keep or skip avoid it).",
			"segmentation_models_pytorch classes=[...] selects classes; onnxloss offers include_background=false (drop class 0) and class_weights (0 drops a class from a weighted mean).",
			monaiActNote,
			"kornia's DiceLoss is multiclass only and its micro form mixes classes; SemSegLoss flattens batch and channels, so both are presets rather than defaults. Some kornia versions leave classes absent from a sample's target out of the macro mean: --absent-classes skip.",
			"Probabilities come from the softmax (multiclass) or sigmoid (binary, multilabel) of the logits; segmentation_models_pytorch's exp(log_softmax) and exp(logsigmoid) are the same numbers.",
		},
		Validate:  validateRegion,
		Build:     func(c *Ctx) *Value { return c.overlapLoss(diceIndex, nil) },
		Reference: reference.Dice,
		Variants: []Options{
			{"preset": "smp"}, {"preset": "monai", "mode": "multiclass"}, {"preset": "kornia", "mode": "multiclass"}, {"preset": "semsegloss"},
			{"mode": "multiclass", "per_image": "false", "absent_classes": "zero", "classes": "4", "class_weights": "1,0,2,0.5"},
			{"mode": "multiclass", "absent_classes": "skip", "include_background": "false", "classes": "3", "class_weights": "1,2,0.5", "class_weighting": "scale", "ignore_index": "1"},
			{"mode": "multilabel", "squared": "true", "smooth_nr": "0", "eps": "1e-6", "log_loss": "true"},
			{"mode": "multilabel", "intersection": "l1", "average": "micro", "class_weights": "0.5,1,2", "target_eps": "0.01"},
			{"mode": "multiclass", "target": "onehot", "intersection": "l1", "per_image": "false"},
			{"mode": "binary", "log_loss": "true", "smooth_nr": "1", "smooth_dr": "1", "absent_classes": "skip", "reduction": "none"},
		},
	})
}
