package param

// Average says how the classes of an overlap loss are combined.
type Average string

// The averages.
const (
	// AverageMacro is one score per class, then the class mean.
	AverageMacro Average = "macro"
	// AverageMicro sums the statistics of all classes first: one score.
	AverageMicro Average = "micro"
)

// AbsentClasses is the policy for an entry whose target is empty (Σt = 0).
type AbsentClasses string

// The policies.
const (
	// AbsentKeep keeps the entry's smoothed loss (MONAI, kornia).
	AbsentKeep AbsentClasses = "keep"
	// AbsentZero sets it to 0 but counts it in the mean (segmentation_models_pytorch).
	AbsentZero AbsentClasses = "zero"
	// AbsentSkip leaves it out of the mean.
	AbsentSkip AbsentClasses = "skip"
	// AbsentSkipRow leaves it out of its row's class mean; the rows' means
	// are then averaged, a row with no entry left counting as loss 1 (kornia
	// 0.9's macro Dice and Tversky).
	AbsentSkipRow AbsentClasses = "skip-row"
)

// Intersection is the soft intersection of an overlap loss.
type Intersection string

// The intersections.
const (
	// IntersectionProduct is Σp·t.
	IntersectionProduct Intersection = "product"
	// IntersectionL1 is (Σp + Σt - Σ|p-t|)/2 = Σmin(p,t).
	IntersectionL1 Intersection = "l1"
)

// ClassWeighting says how class weights enter an overlap loss's class mean.
type ClassWeighting string

// The weightings.
const (
	// ClassWeightingMean gives Σw·l/Σw.
	ClassWeightingMean ClassWeighting = "mean"
	// ClassWeightingScale multiplies each class's loss and averages as without weights.
	ClassWeightingScale ClassWeighting = "scale"
)

// Overlap holds the conventions of the overlap (region) losses: how the
// sums I, Σp and Σt become a score and the score a loss. A loss that
// declares only some of them holds the others at the value that switches
// them off (OverlapOff): they are not parameters of that loss, so
// losses.ResolveTyped does not read them.
type Overlap struct {
	// SmoothNr is added to the numerator of the score.
	SmoothNr float64
	// SmoothDr is added to the denominator of the score.
	SmoothDr float64
	// Eps clamps the denominator from below (0: no clamp).
	Eps float64
	// Squared uses Σp² + Σt² as the denominator's sums.
	Squared bool
	// PerImage keeps statistics per sample (false: summed over the batch).
	PerImage bool
	Average  Average
	// AbsentClasses is the policy for entries with an empty target.
	AbsentClasses AbsentClasses
	// LogLoss is -log(max(score, eps)) instead of 1 - score.
	LogLoss      bool
	Intersection Intersection
	// IncludeBackground keeps channel 0.
	IncludeBackground bool
	// TargetEps floors the target at t(1-ε)+ε before the sums.
	TargetEps      float64
	ClassWeighting ClassWeighting
}

// OverlapOff returns the conventions with each one switched off: no
// smoothing and no clamp, plain denominators, per-sample macro statistics
// with the product intersection and the background, absent classes kept,
// 1 - score, and class weights as a weighted mean.
func OverlapOff() Overlap {
	return Overlap{PerImage: true, Average: AverageMacro, AbsentClasses: AbsentKeep, Intersection: IntersectionProduct,
		IncludeBackground: true, ClassWeighting: ClassWeightingMean}
}

// overlapOption names one convention of Overlap, for declaring a subset.
type overlapOption uint

const (
	ovSmoothNr overlapOption = 1 << iota
	ovSmoothDr
	ovEps
	ovSquared
	ovPerImage
	ovAverage
	ovAbsent
	ovLogLoss
	ovIntersection
	ovBackground
	ovTargetEps
	ovWeighting

	ovSmoothing = ovSmoothNr | ovSmoothDr | ovEps
	ovAll       = ovSmoothing | ovSquared | ovPerImage | ovAverage | ovAbsent | ovLogLoss | ovIntersection | ovBackground | ovTargetEps | ovWeighting
	ovAllButLog = ovAll &^ ovLogLoss
)

// Declare binds every convention.
func (o *Overlap) Declare(s *Set) { o.declare(s, ovAll) }

// declare sets every convention to its off value and then binds those in
// which, in the catalog's order.
func (o *Overlap) declare(s *Set, which overlapOption) {
	*o = OverlapOff()
	o.declareMore(s, which)
}

// declareMore binds the conventions in which without resetting the others
// (for a loss that declares some conventions itself, with its own defaults).
func (o *Overlap) declareMore(s *Set, which overlapOption) {
	c := s.Common()
	if which&ovSmoothNr != 0 {
		s.Float(&o.SmoothNr, "smooth_nr", 1e-5, "added to the numerator of the score (MONAI smooth_nr 1e-5; segmentation_models_pytorch 0; SemSegLoss 1)").AtLeast(0)
	}
	if which&ovSmoothDr != 0 {
		s.Float(&o.SmoothDr, "smooth_dr", 1e-5, "added to the denominator of the score (MONAI smooth_dr 1e-5; kornia's eps 1e-8; segmentation_models_pytorch 0; SemSegLoss 1)").AtLeast(0)
	}
	if which&ovEps != 0 {
		s.Float(&o.Eps, "eps", 1e-7, "the denominator is clamped from below, num / max(den, eps) (segmentation_models_pytorch's clamp_min(eps)); it also floors the score under log_loss. smooth_dr and eps cannot both be 0").AtLeast(0)
	}
	if which&ovSquared != 0 {
		s.Bool(&o.Squared, "squared", false, "V-Net denominators Σp² + Σt² instead of Σp + Σt (MONAI squared_pred=True); the intersection stays Σp·t")
	}
	if which&ovPerImage != 0 {
		s.Bool(&o.PerImage, "per_image", true, "statistics per sample (MONAI, kornia, SegLoss) or summed over the batch: false is segmentation_models_pytorch's batch Dice, MONAI batch=True, SemSegLoss's flattening")
	}
	if which&ovAverage != 0 {
		Enum(s, &o.Average, "average", AverageMacro, []Average{AverageMacro, AverageMicro},
			"macro: one score per class, then the class mean; micro: the statistics of all classes summed first, one score (kornia's default; SemSegLoss flattens channels too)").
			Matters("two or more classes, or --class-weights (with one class and no weights micro and macro agree)",
				func() bool { return !o.oneColumn(c) || c.ClassWeights != nil })
	}
	if which&ovAbsent != 0 {
		Enum(s, &o.AbsentClasses, "absent_classes", AbsentKeep, []AbsentClasses{AbsentKeep, AbsentZero, AbsentSkip, AbsentSkipRow},
			"an entry whose target is empty (Σt = 0): keep its smoothed loss (MONAI), set it to 0 but count it in the mean (segmentation_models_pytorch), skip it from the mean (0 when every entry is skipped), "+
				"or skip it from its row's class mean and average the rows, a row with nothing left counting as loss 1 (kornia 0.9; a row is a sample, or the batch with per_image=false)")
	}
	if which&ovLogLoss != 0 {
		s.Bool(&o.LogLoss, "log_loss", false, "loss -log(max(score, eps)) instead of 1 - score (segmentation_models_pytorch log_loss=True); eps 0 floors at 2^-126")
	}
	if which&ovIntersection != 0 {
		Enum(s, &o.Intersection, "intersection", IntersectionProduct, []Intersection{IntersectionProduct, IntersectionL1},
			"product: I = Σp·t (MONAI's default, kornia, SemSegLoss, segmentation_models_pytorch before Oct 2024); l1: I = (Σp + Σt - Σ|p-t|)/2 = Σmin(p,t), a true overlap for soft labels (segmentation_models_pytorch since Oct 2024, MONAI soft_label=True). Equal for hard labels; with squared the product is used").
			Matters(intersectionNeeds(which), func() bool {
				return !o.Squared && !(c.Mode == Multiclass && c.TargetForm == TargetLabels && o.TargetEps == 0)
			})
	}
	if which&ovBackground != 0 {
		s.Bool(&o.IncludeBackground, "include_background", true, "include channel 0 (MONAI include_background); false drops its column after the sums, so a softmax still spans every class, and uses class_weights[1:]. Not in binary mode").
			Matters("two or more classes (binary mode and --classes 1 have no background channel to drop)",
				func() bool { return c.Mode != Binary && c.Classes != 1 })
	}
	if which&ovTargetEps != 0 {
		s.Float(&o.TargetEps, "target_eps", 0, "targets become t(1-ε)+ε before the sums (kornia's one_hot uses ε = 1e-6); ignored entries stay 0").AtLeast(0).Below(1)
	}
	if which&ovWeighting != 0 {
		Enum(s, &o.ClassWeighting, "class_weighting", ClassWeightingMean, []ClassWeighting{ClassWeightingMean, ClassWeightingScale},
			"how class_weights enter the class mean: mean gives Σw·l/Σw (segmentation_models_pytorch, kornia macro); scale multiplies each class's loss and averages as without weights (MONAI's weight). With average=micro the weights scale each class's sums instead").
			Matters(weightingNeeds(which), func() bool {
				return c.ClassWeights != nil && o.Average != AverageMicro && c.Reduction == Mean
			})
	}
}

// oneColumn reports whether the conventions leave one class column.
func (o *Overlap) oneColumn(c *Common) bool {
	return c.Mode == Binary || c.Classes == 1 || (c.Classes == 2 && !o.IncludeBackground)
}

// intersectionNeeds says what makes the intersection matter, naming the
// options the loss declares.
func intersectionNeeds(which overlapOption) string {
	soft := "--mode binary or multilabel, or --target onehot"
	if which&ovTargetEps != 0 {
		soft = "--mode binary or multilabel, --target onehot or --target-eps above 0"
	}
	n := "soft targets (" + soft + ")"
	if which&ovSquared != 0 {
		n += " without --squared"
	}
	return n + ": for hard labels Σp·t = Σmin(p,t)"
}

// weightingNeeds says what makes class_weighting matter.
func weightingNeeds(which overlapOption) string {
	if which&ovAverage != 0 {
		return "--class-weights with --average macro and --reduction mean (the weighting is the denominator of the class mean)"
	}
	return "--class-weights and --reduction mean (the weighting is the denominator of the class mean)"
}

// termMatters narrows every parameter declared on s from index first on to
// where cond holds too: the options of a compound loss's term whose weight
// is 0 have no effect.
func termMatters(s *Set, first int, needs string, cond func() bool) {
	for _, p := range s.params[first:] {
		if own, ownNeeds := p.matters, p.needs; own != nil {
			p.Matters(ownNeeds+", and "+needs, func() bool { return cond() && own() })
		} else {
			p.Matters(needs, cond)
		}
	}
}

// Dice is the parameter set of the dice loss.
type Dice struct {
	Common
	Overlap
}

// Declare binds the parameters.
func (p *Dice) Declare(s *Set) { p.Overlap.Declare(s) }

// Jaccard is the parameter set of the jaccard loss.
type Jaccard struct {
	Common
	Overlap
}

// Declare binds the parameters.
func (p *Jaccard) Declare(s *Set) { p.Overlap.Declare(s) }

// TverskyWeights are the weights of false positives and false negatives in
// the Tversky index.
type TverskyWeights struct {
	// Alpha weighs false positives Σp(1-t).
	Alpha float64
	// Beta weighs false negatives Σ(1-p)t.
	Beta float64
}

// Declare binds the weights.
func (p *TverskyWeights) Declare(s *Set) {
	s.Float(&p.Alpha, "alpha", 0.3, "weight of false positives Σp(1-t) (Salehi et al.'s best 0.3; SegLoss and SemSegLoss 0.3; segmentation_models_pytorch and MONAI 0.5)").AtLeast(0)
	s.Float(&p.Beta, "beta", 0.7, "weight of false negatives Σ(1-p)t (Salehi et al.'s best 0.7; SegLoss and SemSegLoss 0.7; segmentation_models_pytorch and MONAI 0.5)").AtLeast(0)
}

// Tversky is the parameter set of the tversky loss.
type Tversky struct {
	Common
	Overlap
	TverskyWeights
}

// Declare binds the parameters.
func (p *Tversky) Declare(s *Set) {
	p.Overlap.Declare(s)
	p.TverskyWeights.Declare(s)
}

// GammaOn says what focal-tversky raises to γ.
type GammaOn string

// The choices.
const (
	// GammaOnClass raises each class's loss (Abraham & Khan).
	GammaOnClass GammaOn = "class"
	// GammaOnMean raises the reduced mean loss.
	GammaOnMean GammaOn = "mean"
)

// FocalTversky is the parameter set of the focal-tversky loss.
type FocalTversky struct {
	Common
	Overlap
	TverskyWeights
	// Gamma is the exponent γ.
	Gamma   float64
	GammaOn GammaOn
}

// Declare binds the parameters.
func (p *FocalTversky) Declare(s *Set) {
	p.Overlap.Declare(s)
	p.TverskyWeights.Declare(s)
	s.Float(&p.Gamma, "gamma", 0.75, "exponent γ (Abraham & Khan 0.75, their 1/γ with γ = 4/3; SegLoss and SemSegLoss 0.75; segmentation_models_pytorch 1)").Above(0)
	Enum(s, &p.GammaOn, "gamma_on", GammaOnClass, []GammaOn{GammaOnClass, GammaOnMean},
		"class: (1 - TI_c)^γ for each class, then the mean (Abraham & Khan); mean: the reduced mean raised to γ (segmentation_models_pytorch TverskyLoss gamma, SegLoss FocalTversky_loss); mean needs --reduction mean").
		Matters("--gamma other than 1 (with γ = 1 both are the plain mean)", func() bool { return p.Gamma != 1 })
}

// LogCoshDice is the parameter set of the log-cosh-dice loss.
type LogCoshDice struct {
	Common
	Overlap
}

// Declare binds the parameters (every convention but log_loss).
func (p *LogCoshDice) Declare(s *Set) { p.Overlap.declare(s, ovAllButLog) }

// AsymmetricSimilarity is the parameter set of the asymmetric-similarity loss.
type AsymmetricSimilarity struct {
	Common
	Overlap
	// Beta is β of F_β.
	Beta float64
}

// Declare binds the parameters.
func (p *AsymmetricSimilarity) Declare(s *Set) {
	p.Overlap.Declare(s)
	s.Float(&p.Beta, "beta", 1.5, "β of F_β: weight of recall relative to precision (SegLoss's AsymLoss 1.5; 1 gives Dice)").AtLeast(0)
}

// WeightType is generalized-dice's class weight from the target size Σt.
type WeightType string

// The weights.
const (
	WeightSquare  WeightType = "square"
	WeightSimple  WeightType = "simple"
	WeightUniform WeightType = "uniform"
)

// AbsentWeight is generalized-dice's weight of a class absent from the target.
type AbsentWeight string

// The weights.
const (
	// AbsentWeightMax is the largest finite weight of the row (MONAI).
	AbsentWeightMax  AbsentWeight = "max"
	AbsentWeightZero AbsentWeight = "zero"
)

// GeneralizedDice is the parameter set of the generalized-dice loss.
type GeneralizedDice struct {
	Common
	Overlap
	WeightType   WeightType
	AbsentWeight AbsentWeight
}

// Declare binds the parameters.
func (p *GeneralizedDice) Declare(s *Set) {
	p.Overlap.declare(s, ovSmoothing|ovPerImage|ovIntersection|ovBackground)
	Enum(s, &p.WeightType, "weight_type", WeightSquare, []WeightType{WeightSquare, WeightSimple, WeightUniform},
		"class weights from the target size Σt: 1/(Σt)² (Sudre et al., MONAI w_type='square'), 1/Σt (simple) or 1 (uniform)")
	Enum(s, &p.AbsentWeight, "absent_weight", AbsentWeightMax, []AbsentWeight{AbsentWeightMax, AbsentWeightZero},
		"weight of a class absent from the target (whose weight would be infinite): the largest finite weight of the row (MONAI) or 0").
		Matters("--weight-type square or simple (uniform weights are never infinite)", func() bool { return p.WeightType != WeightUniform })
}

// WassersteinWeighting is generalized-wasserstein-dice's class weighting.
type WassersteinWeighting string

// The weightings.
const (
	// WassersteinDefault weighs the background 0 and the other classes 1.
	WassersteinDefault WassersteinWeighting = "default"
	// WassersteinGDL weighs class c by 1/(its volume + 1).
	WassersteinGDL WassersteinWeighting = "gdl"
)

// GeneralizedWassersteinDice is the parameter set of the
// generalized-wasserstein-dice loss.
type GeneralizedWassersteinDice struct {
	Common
	Overlap
	// DistMatrix is the C×C class distance matrix, row-major; nil: 0/1.
	DistMatrix []float64
	Weighting  WassersteinWeighting
}

// Declare binds the parameters.
func (p *GeneralizedWassersteinDice) Declare(s *Set) {
	p.Overlap.declare(s, ovSmoothing)
	s.Floats(&p.DistMatrix, "dist_matrix", nil, "class distances, C×C values row-major (sets --classes); non-negative, zero diagonal, not all zero; normalised by the maximum. Unset: 1 between every pair of classes").AtLeast(0)
	Enum(s, &p.Weighting, "weighting", WassersteinDefault, []WassersteinWeighting{WassersteinDefault, WassersteinGDL},
		"default: α = 0 for the background (class 0), 1 otherwise; gdl: α_c = 1/(volume of class c + 1) (MONAI weighting_mode)")
}

// SensitivitySpecificity is the parameter set of the
// sensitivity-specificity loss.
type SensitivitySpecificity struct {
	Common
	// R weighs the sensitivity (foreground) term; 1-R the specificity term.
	R float64
	// Smooth is added to both denominators.
	Smooth float64
	Overlap
}

// Declare binds the parameters.
func (p *SensitivitySpecificity) Declare(s *Set) {
	p.Overlap = OverlapOff()
	s.Float(&p.R, "r", 0.1, "weight of the sensitivity (foreground) term; 1-r weighs the specificity term (SegLoss's SSLoss 0.1)").AtLeast(0).AtMost(1)
	s.Float(&p.Smooth, "smooth", 1e-5, "added to both denominators (SegLoss 1); 0 is allowed: an empty part then contributes 0").AtLeast(0)
	p.Overlap.declareMore(s, ovPerImage|ovBackground|ovWeighting)
}

// MCC is the parameter set of the mcc loss. Its eps is added to each
// confusion count (it is Overlap's Eps, with its own default and meaning),
// and its statistics are over the batch by default.
type MCC struct {
	Common
	Overlap
}

// Declare binds the parameters.
func (p *MCC) Declare(s *Set) {
	p.Overlap = OverlapOff()
	s.Float(&p.Eps, "eps", 1e-5, "added to each of TP, TN, FP, FN (segmentation_models_pytorch MCCLoss eps 1e-5)").AtLeast(0)
	s.Bool(&p.PerImage, "per_image", false, "counts per sample, or over the whole batch (false: segmentation_models_pytorch)")
	p.Overlap.declareMore(s, ovBackground|ovWeighting)
}

// Combo is the parameter set of the combo loss.
type Combo struct {
	Common
	// Alpha weighs the cross-entropy term; 1-Alpha the Dice term.
	Alpha float64
	// Beta weighs the positive term inside the cross-entropy.
	Beta float64
	Overlap
}

// Declare binds the parameters.
func (p *Combo) Declare(s *Set) {
	s.Float(&p.Alpha, "alpha", 0.5, "weight α of the cross-entropy term; 1-α weighs the Dice term").AtLeast(0).AtMost(1)
	s.Float(&p.Beta, "beta", 0.5, "weight β of the positive term inside the cross-entropy; 1-β weighs the negative term (0.5: half the plain cross-entropy)").AtLeast(0).AtMost(1).
		Matters("--alpha above 0 (alpha 0 leaves out the cross-entropy term)", func() bool { return p.Alpha != 0 })
	first := len(s.params)
	p.Overlap.declare(s, ovAllButLog)
	termMatters(s, first, "--alpha below 1 (alpha 1 leaves out the Dice term)", func() bool { return p.Alpha != 1 })
}

// ExpLog is the parameter set of the exp-log loss.
type ExpLog struct {
	Common
	WDice, WCE         float64
	GammaDice, GammaCE float64
	Overlap
}

// Declare binds the parameters.
func (p *ExpLog) Declare(s *Set) {
	s.Float(&p.WDice, "w_dice", 0.8, "weight of the Dice term (Wong et al. 0.8)").AtLeast(0)
	s.Float(&p.WCE, "w_ce", 0.2, "weight of the cross-entropy term (Wong et al. 0.2)").AtLeast(0)
	diceTerm := func() bool { return p.WDice != 0 }
	const diceNeeds = "--w-dice above 0 (w_dice 0 leaves out the Dice term)"
	s.Float(&p.GammaDice, "gamma_dice", 0.3, "exponent of -ln Dice (Wong et al. 0.3)").Above(0).Matters(diceNeeds, diceTerm)
	s.Float(&p.GammaCE, "gamma_ce", 0.3, "exponent of the cross-entropy (Wong et al. 0.3)").Above(0).
		Matters("--w-ce above 0 (w_ce 0 leaves out the cross-entropy term)", func() bool { return p.WCE != 0 })
	first := len(s.params)
	p.Overlap.declare(s, ovAllButLog&^ovWeighting)
	termMatters(s, first, diceNeeds, diceTerm)
}

// lambda declares the weight of one term of a compound loss.
func lambda(s *Set, v *float64, name, term, who string) *Param {
	return s.Float(v, name, 1, "weight of the "+term+" term ("+who+")").AtLeast(0)
}

// DiceCE is the parameter set of the dice-ce loss. Its cross-entropy term
// is bce's (BCETerm) in binary and multilabel mode and cross-entropy's
// (with BCETerm's LabelSmoothing) in multiclass mode.
type DiceCE struct {
	Common
	LambdaDice, LambdaCE float64
	BCETerm
	Overlap
	// DiceInput is what the Dice term reads (the zero value is
	// DiceInputProbs).
	DiceInput DiceInput
}

// DiceInput is what dice-ce's Dice term reads.
type DiceInput string

// The Dice term's inputs.
const (
	// DiceInputProbs: the probabilities the activation gives, which the
	// cross-entropy term reads too.
	DiceInputProbs DiceInput = "probs"
	// DiceInputRaw: the input as fed, while the cross-entropy term still
	// reads it as logits (MONAI's DiceCELoss without sigmoid or softmax).
	DiceInputRaw DiceInput = "raw"
)

// Declare binds the parameters.
func (p *DiceCE) Declare(s *Set) {
	lambda(s, &p.LambdaDice, "lambda_dice", "Dice", "MONAI lambda_dice 1")
	lambda(s, &p.LambdaCE, "lambda_ce", "cross-entropy", "MONAI lambda_ce 1")
	c := s.Common()
	first := len(s.params)
	s.Float(&p.LabelSmoothing, "label_smoothing", 0, "label smoothing of the cross-entropy term: PyTorch's label_smoothing ε in multiclass mode (needs --classes), targets t(1-s)+(1-t)s in binary and multilabel mode").AtLeast(0).Below(1)
	s.Floats(&p.PosWeight, "pos_weight", nil, "binary and multilabel mode: weight of the positive term of the cross-entropy, one value or one per channel (PyTorch's pos_weight; MONAI's DiceCELoss passes its weight here for one-channel input)").AtLeast(0).
		Matters("--mode binary or multilabel (multiclass mode's cross-entropy takes --class-weights)", func() bool { return c.Mode != Multiclass })
	Enum(s, &p.MeanOver, "mean_over", MeanOverValid, []MeanOver{MeanOverValid, MeanOverAll},
		"binary and multilabel mode: denominator of the cross-entropy term's mean when entries are ignored, valid or all entries").
		Matters("--ignore-index in binary or multilabel mode (multiclass mode's cross-entropy divides by the valid pixels' weights)",
			func() bool { return c.Mode != Multiclass && c.IgnoreIndex != nil })
	termMatters(s, first, "--lambda-ce above 0 (lambda_ce 0 leaves out the cross-entropy term)", func() bool { return p.LambdaCE != 0 })
	first = len(s.params)
	p.Overlap.Declare(s)
	Enum(s, &p.DiceInput, "dice_input", DiceInputProbs, []DiceInput{DiceInputProbs, DiceInputRaw},
		"what the Dice term reads: the probabilities of the activation, as the cross-entropy term does (probs), or the input as fed "+
			"while the cross-entropy term reads it as logits (raw: MONAI's DiceCELoss without sigmoid=True or softmax=True)").
		Matters("--from-logits (on probabilities both terms read the input as fed)", func() bool { return c.FromLogits })
	termMatters(s, first, "--lambda-dice above 0 (lambda_dice 0 leaves out the Dice term)", func() bool { return p.LambdaDice != 0 })
}

// DiceFocal is the parameter set of the dice-focal loss.
type DiceFocal struct {
	Common
	LambdaDice, LambdaFocal float64
	FocalTerm
	Overlap
}

// Declare binds the parameters.
func (p *DiceFocal) Declare(s *Set) {
	lambda(s, &p.LambdaDice, "lambda_dice", "Dice", "MONAI lambda_dice 1")
	lambda(s, &p.LambdaFocal, "lambda_focal", "focal", "MONAI lambda_focal 1")
	first := len(s.params)
	p.FocalTerm.Declare(s)
	termMatters(s, first, "--lambda-focal above 0 (lambda_focal 0 leaves out the focal term)", func() bool { return p.LambdaFocal != 0 })
	first = len(s.params)
	p.Overlap.Declare(s)
	termMatters(s, first, "--lambda-dice above 0 (lambda_dice 0 leaves out the Dice term)", func() bool { return p.LambdaDice != 0 })
}
