package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// reduceRows reduces a per-row loss [R] (generalized and Wasserstein Dice).
func (c *Ctx) reduceRows(l *Value) *Value {
	switch c.Reduction {
	case "none":
		return l
	case "sum":
		return ReduceSum(l, false)
	}
	return ReduceMean(l, false)
}

// gdlWeights returns the generalized Dice class weights [R,K] from the
// target sizes St: 1/St², 1/St or 1, with a class absent from the target
// (St = 0, an infinite weight) given 0 or the row's largest finite weight.
// They depend on the target only and carry no gradient.
func gdlWeights(c *Ctx, st *Value) *Value {
	kind := c.Enum("weight_type")
	if kind == "uniform" {
		return ExpandAs(ConstAs(st, 1), st)
	}
	absent := Equal(st, ConstAs(st, 0))
	safe := Where(absent, ConstAs(st, 1), st)
	if kind == "square" {
		safe = Mul(safe, safe)
	}
	w := Where(absent, ConstAs(st, 0), Reciprocal(safe))
	if c.Enum("absent_weight") == "max" {
		w = Where(absent, ReduceMax(w, true, 1), w)
	}
	return StopGradient(w)
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

// distMatrix returns GWDL's class distance matrix normalised by its maximum
// (nil for the default 1 - identity), row-major C×C.
func distMatrix(c *Config) []float64 {
	m := c.Floats("dist_matrix")
	if m == nil {
		return nil
	}
	mx := 0.0
	for _, v := range m {
		mx = math.Max(mx, v)
	}
	out := make([]float64, len(m))
	for i, v := range m {
		out[i] = v / mx
	}
	return out
}

func validateDistMatrix(c *Config) error {
	m := c.Floats("dist_matrix")
	if m == nil {
		return nil
	}
	k := int(math.Round(math.Sqrt(float64(len(m)))))
	if k*k != len(m) || k < 2 {
		return fmt.Errorf("dist_matrix has %d values: it must hold C×C values (row-major) for C ≥ 2 classes", len(m))
	}
	if c.Classes != 0 && c.Classes != k {
		return fmt.Errorf("dist_matrix is %d×%d but there are %d classes", k, k, c.Classes)
	}
	c.Classes = k
	mx := 0.0
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			v := m[i*k+j]
			if v < 0 {
				return fmt.Errorf("dist_matrix[%d][%d] = %v: distances must be non-negative", i, j, v)
			}
			if i == j && v != 0 {
				return fmt.Errorf("dist_matrix[%d][%d] = %v: a class is at distance 0 from itself", i, i, v)
			}
			mx = math.Max(mx, v)
		}
	}
	if mx == 0 {
		return fmt.Errorf("dist_matrix is all zeros")
	}
	return nil
}

func init() {
	Register(&Spec{
		Name:    "generalized-dice",
		Family:  "region",
		Summary: "Generalized Dice loss (Sudre): one Dice over classes weighted by inverse target size.",
		Description: "Sudre et al.'s generalized Dice loss sums the intersections and sizes of all classes with class " +
			"weights before the ratio, 1 - (2Σ_c w_c I_c + smooth_nr)/(Σ_c w_c(Σp_c + Σt_c) + smooth_dr), so that " +
			"small structures weigh as much as large ones. weight_type picks w_c = 1/(Σt_c)² (square, the paper's), " +
			"1/Σt_c (simple) or 1 (uniform). A class absent from the target would get an infinite weight: " +
			"absent_weight=max gives it the largest finite weight of its row, as MONAI does, so false positives on " +
			"it are still penalised; zero drops it. An empty target with an empty prediction gives " +
			"1 - smooth_nr/max(smooth_dr, eps): 0 with the default smoothing; never NaN or Inf.",
		Citation: "Sudre, Li, Vercauteren, Ourselin & Cardoso, Generalised Dice overlap as a deep learning loss function for highly unbalanced segmentations, DLMIA 2017.",
		Formula:  "loss = 1 - (2Σ_c w_c I_c + smooth_nr) / max(Σ_c w_c (Σp_c + Σt_c) + smooth_dr, eps), w_c = 1/(Σt_c)²",
		Modes:    regionModes,
		Params: []Param{smoothNrParam, smoothDrParam, epsParam, perImageParam, intersectionParam, backgroundParam,
			{Name: "weight_type", Kind: KindEnum, Default: "square", Choices: []string{"square", "simple", "uniform"},
				Doc: "class weights from the target size Σt: 1/(Σt)² (Sudre et al., MONAI w_type='square'), 1/Σt (simple) or 1 (uniform)"},
			{Name: "absent_weight", Kind: KindEnum, Default: "max", Choices: []string{"max", "zero"},
				Doc: "weight of a class absent from the target (whose weight would be infinite): the largest finite weight of the row (MONAI) or 0"},
		},
		IgnoreIndex: true, OneHotTarget: true,
		NoneShape: "the per-row loss [R]: R = N samples, 1 with per_image=false",
		Notes: []string{
			"MONAI GeneralizedDiceLoss() defaults are onnxloss's defaults (square weights, infinite weights replaced by the row maximum, smooth 1e-5, per sample, background included). " + monaiActNote,
			"MONAI sets infinite weights to 0 and then adds the maximum; a row whose classes are all absent gets weights 0 and loss 1 - smooth_nr/smooth_dr. The debate about this choice is why absent_weight=zero exists.",
			"SegLoss's GDiceLoss adds 1e-10 to Σt before squaring (weights near 1e20 for absent classes) and GDiceLossV2 clamps Σt² at the smoothing; neither is reproduced. SemSegLoss's generalized_dice_coefficient is plain Dice.",
			"Weights are computed in the graph's float type as 1/(Σt)², as MONAI does; soft targets whose class sum is below about 1e-19 overflow them.",
		},
		Validate: validateRegion,
		Build: func(c *Ctx) *Value {
			rc := regionConvOf(c.Config)
			st := c.overlapStats(rc)
			w := gdlWeights(c, st.St)
			num := MulScalar(ReduceSum(Mul(w, st.I), false, 1), 2)
			if rc.smoothNr != 0 {
				num = AddScalar(num, rc.smoothNr)
			}
			den := ReduceSum(Mul(w, st.S), false, 1)
			if rc.smoothDr != 0 {
				den = AddScalar(den, rc.smoothDr)
			}
			if rc.eps > 0 {
				den = ClipMin(den, rc.eps)
			}
			return c.reduceRows(OneMinus(Div(num, den)))
		},
		Reference: reference.GeneralizedDice,
		Variants: []Options{
			{"mode": "multiclass", "weight_type": "simple", "ignore_index": "0"},
			{"mode": "multiclass", "absent_weight": "zero", "per_image": "false", "include_background": "false", "classes": "4"},
			{"mode": "multilabel", "weight_type": "uniform", "intersection": "l1"},
			{"mode": "binary", "smooth_nr": "0", "eps": "1e-6", "reduction": "none"},
		},
	})

	Register(&Spec{
		Name:    "generalized-wasserstein-dice",
		Family:  "region",
		Summary: "Generalized Wasserstein Dice loss (Fidon): a Dice whose errors are weighted by a class distance matrix.",
		Description: "Fidon et al.'s generalized Wasserstein Dice loss measures each pixel's error as the Wasserstein " +
			"distance between the predicted class distribution and its label under a class distance matrix M " +
			"(normalised by its maximum): wass_i = Σ_c M[y_i, c]·p_ic, so confusing two similar classes costs less " +
			"than confusing distant ones. weighting=default counts true positives of the foreground classes only " +
			"(TP = Σ_i [y_i ≠ 0](1 - wass_i), denominator 2TP + Σ_i wass_i); weighting=gdl weights each label by " +
			"1/(its volume + 1) (denominator Σ_i α_y(2 - wass_i)). One loss per sample. dist_matrix unset is the " +
			"0/1 distance (1 off the diagonal), where wass_i = 1 - p_y. An empty foreground with a perfect " +
			"prediction gives 1 - smooth_nr/max(smooth_dr, eps) (0 by default); never NaN.",
		Citation: "Fidon, Li, Garcia-Peraza-Herrera, Ekanayake, Kitchen, Ourselin & Vercauteren, Generalised Wasserstein Dice Score for Imbalanced Multi-class Segmentation using Holistic Convolutional Networks, BrainLes 2017.",
		Formula:  "loss = 1 - (2TP + smooth_nr) / max(den + smooth_dr, eps), wass_i = Σ_c M[y_i,c] p_ic, TP = Σ_i α_y_i (1 - wass_i)",
		Modes:    []Mode{Multiclass},
		Params: []Param{smoothNrParam, smoothDrParam, epsParam,
			{Name: "dist_matrix", Kind: KindFloats, Min: fptr(0),
				Doc: "class distances, C×C values row-major (sets --classes); non-negative, zero diagonal, not all zero; normalised by the maximum. Unset: 1 between every pair of classes"},
			{Name: "weighting", Kind: KindEnum, Default: "default", Choices: []string{"default", "gdl"},
				Doc: "default: α = 0 for the background (class 0), 1 otherwise; gdl: α_c = 1/(volume of class c + 1) (MONAI weighting_mode)"},
		},
		IgnoreIndex: true,
		NoneShape:   "the per-sample loss [N]",
		Notes: []string{
			"MONAI GeneralizedWassersteinDiceLoss(dist_matrix) with its defaults (weighting_mode='default', smooth 1e-5) is --dist-matrix with the defaults; MONAI always applies the softmax itself, as onnxloss does from logits.",
			"The matrix is used as given: M[label, class]. Fidon et al. use a symmetric distance; a non-symmetric matrix is accepted.",
			"Multiclass only: the distance is between classes of one label map. Classes are needed in the graph when dist_matrix is given (a 1×1 convolution applies it).",
		},
		Validate: func(c *Config) error {
			if err := validateDistMatrix(c); err != nil {
				return err
			}
			return validateRegion(c)
		},
		Build: func(c *Ctx) *Value {
			rc := regionConvOf(c.Config)
			p := c.Probs()
			y := Unsqueeze(c.Labels(), 1)
			var wass *Value
			if m := distMatrix(c.Config); m != nil {
				k := c.Classes
				shape := append([]int{k, k}, make([]int, c.SpatialDims)...)
				for i := 2; i < len(shape); i++ {
					shape[i] = 1
				}
				w := ConstTensor(c.G, tensor.FromFloat64(shape, m).Convert(c.ComputeType()))
				wass = GatherElements(Conv(p, w, nil, Window{}, 1), y, 1)
			} else {
				wass = OneMinus(GatherElements(p, y, 1))
			}
			wass = MulMaybe(wass, c.Valid())
			t := c.Target()
			vol := c.spatialSum(t)           // [N,C]
			wc := c.spatialSum(Mul(t, wass)) // Σ_i t_ic wass_i
			tpc := Sub(vol, wc)              // Σ_{y_i=c} (1 - wass_i)
			var tp, den *Value
			if c.Enum("weighting") == "gdl" {
				alpha := StopGradient(Reciprocal(AddScalar(vol, 1)))
				tp = ReduceSum(Mul(alpha, tpc), false, 1)
				den = ReduceSum(Mul(alpha, Sub(MulScalar(vol, 2), wc)), false, 1)
			} else {
				tp = ReduceSum(Slice(tpc, []int64{1}, []int64{math.MaxInt64}, []int64{1}, nil), false, 1)
				den = Add(MulScalar(tp, 2), ReduceSum(wass, false, append([]int{1}, c.SpatialAxes()...)...))
			}
			num := MulScalar(tp, 2)
			if rc.smoothNr != 0 {
				num = AddScalar(num, rc.smoothNr)
			}
			if rc.smoothDr != 0 {
				den = AddScalar(den, rc.smoothDr)
			}
			if rc.eps > 0 {
				den = ClipMin(den, rc.eps)
			}
			return c.reduceRows(OneMinus(Div(num, den)))
		},
		Reference: reference.GeneralizedWassersteinDice,
		Variants: []Options{
			{"dist_matrix": "0,1,2,1,0,1.5,2,1.5,0"},
			{"dist_matrix": "0,0.5,1,1,0.5,0,1,1,1,1,0,0.2,1,1,0.2,0", "weighting": "gdl", "ignore_index": "3"},
			{"weighting": "gdl", "classes": "4"},
			{"dist_matrix": "0,1,1,0", "spatial_dims": "3", "reduction": "none"},
		},
	})

	Register(&Spec{
		Name:    "sensitivity-specificity",
		Family:  "region",
		Summary: "Sensitivity-specificity loss (Brosch): squared errors on the foreground and on the background, each normalised by its size.",
		Description: "Brosch et al.'s sensitivity-specificity loss averages the squared error (t - p)² separately over " +
			"the target's foreground and background and mixes the two: r·Σ(t-p)²t/(Σt + smooth) + " +
			"(1-r)·Σ(t-p)²(1-t)/(Σ(1-t) + smooth). The first term is the sensitivity error (missed foreground), the " +
			"second the specificity error (false positives); a small r counters the foreground's small size. Per " +
			"sample and class by default. An empty target with an empty prediction gives 0; a smoothing of 0 " +
			"divides an empty part by 0 and gives 0 for it, never NaN.",
		Citation: "Brosch, Yoo, Tang, Li, Traboulsee & Tam, Deep Convolutional Encoder Networks for Multiple Sclerosis Lesion Segmentation, MICCAI 2015.",
		Formula:  "loss = r·Σ(t-p)²t/(Σt + smooth) + (1-r)·Σ(t-p)²(1-t)/(Σ(1-t) + smooth)",
		Modes:    regionModes,
		Params: []Param{
			{Name: "r", Kind: KindFloat, Default: 0.1, Min: fptr(0), Max: fptr(1), Doc: "weight of the sensitivity (foreground) term; 1-r weighs the specificity term (SegLoss's SSLoss 0.1)"},
			{Name: "smooth", Kind: KindFloat, Default: 1e-5, Min: fptr(0), Doc: "added to both denominators (SegLoss 1); 0 is allowed: an empty part then contributes 0"},
			perImageParam, backgroundParam, weightingParam,
		},
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		NoneShape: regionNone,
		Notes: []string{
			"SegLoss's SSLoss names the foreground term specificity_part and the background term sensitivity_part; the formula is Brosch et al.'s and r weighs the foreground term in both.",
			"SemSegLoss lists this loss in its README but implements only thresholded sensitivity and specificity metrics.",
		},
		Validate: validateRegion,
		Build: func(c *Ctx) *Value {
			rc := regionConvOf(c.Config)
			r, s := c.Float("r"), c.Float("smooth")
			p, t := c.regionP(), c.Target()
			d2 := Square(Sub(t, p))
			stN := c.spatialSum(t)
			fg := c.columns(rc, c.spatialSum(Mul(d2, t)))
			// The background sum is its own reduction, not Σd² minus the
			// foreground's: with a small background part the two terms'
			// cotangents are ±(1-r)/(Σ(1-t) + smooth), up to 1e5, and their
			// difference would lose the foreground's gradient in float32.
			bg := c.columns(rc, c.spatialSum(Mul(d2, OneMinus(t))))
			count := c.columns(rc, c.spatialCount(stN))
			st := c.columns(rc, stN)
			div := func(a, b *Value) *Value {
				if s > 0 {
					return Div(a, AddScalar(b, s))
				}
				return SafeDiv(a, b)
			}
			l := Add(MulScalar(div(fg, st), r), MulScalar(div(bg, Sub(count, st)), 1-r))
			return c.regionReduce(rc, l, nil, false)
		},
		Reference: reference.SensitivitySpecificity,
		Variants: []Options{
			{"r": "0.5", "smooth": "0", "mode": "multiclass", "ignore_index": "1"},
			{"r": "0.05", "per_image": "false", "mode": "multilabel", "class_weights": "1,2,0", "include_background": "false"},
			{"smooth": "1", "mode": "binary", "reduction": "none"},
		},
	})

	Register(&Spec{
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
		Citation: "Abhishek & Hamarneh, Matthews Correlation Coefficient Loss for Deep Convolutional Networks: Application to Skin Lesion Segmentation, ISBI 2021.",
		Formula:  "loss = 1 - (TP·TN - FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN)), counts + eps",
		Modes:    regionModes,
		Params: []Param{
			{Name: "eps", Kind: KindFloat, Default: 1e-5, Min: fptr(0), Doc: "added to each of TP, TN, FP, FN (segmentation_models_pytorch MCCLoss eps 1e-5)"},
			{Name: "per_image", Kind: KindBool, Default: false, Doc: "counts per sample, or over the whole batch (false: segmentation_models_pytorch)"},
			backgroundParam, weightingParam,
		},
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		NoneShape: regionNone,
		Notes: []string{
			"segmentation_models_pytorch MCCLoss(eps=1e-5) is binary only and expects probabilities: --mode binary --from-logits=false (the defaults otherwise match). onnxloss adds multiclass and multilabel (one-vs-rest per class), ignore_index and class weights.",
			"MONAI added an MCCLoss after the version surveyed; it is not reproduced here.",
		},
		Validate: validateRegion,
		Build: func(c *Ctx) *Value {
			rc := regionConvOf(c.Config)
			eps := c.Float("eps")
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
			m := c.columns(rc, c.spatialCount(st))
			// FP = Σp(1-t) and TN = Σq(1-t) are sums of their own, not
			// Σp - TP and Σq - FN: where the background is small (a full
			// target) the numerator's cotangents are large, up to 1/eps,
			// and the differences' gradients lost the rest in float32.
			fpSum := c.spatialSum(Mul(p, OneMinus(t)))
			tnSum := c.spatialSum(Mul(q, OneMinus(t)))
			in, sp, st, fnSum, sq = c.columns(rc, in), c.columns(rc, sp), c.columns(rc, st), c.columns(rc, fnSum), c.columns(rc, sq)
			fpSum, tnSum = c.columns(rc, fpSum), c.columns(rc, tnSum)
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
			return c.regionReduce(rc, OneMinus(Div(num, den)), nil, false)
		},
		Reference: reference.MCC,
		Variants: []Options{
			{"per_image": "true", "mode": "multiclass", "ignore_index": "0"},
			{"eps": "0", "mode": "multilabel", "class_weights": "1,0.5,2"},
			{"eps": "0", "mode": "binary", "from_logits": "false"},
			{"eps": "1", "mode": "binary", "reduction": "none"},
			{"mode": "multiclass", "include_background": "false", "class_weighting": "scale", "class_weights": "1,1,3"},
		},
	})
}
