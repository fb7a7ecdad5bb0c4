package param

// MeanOver is the denominator of --reduction mean when entries are ignored.
type MeanOver string

// The denominators.
const (
	// MeanOverValid divides by the entries that are not ignored (PyTorch).
	MeanOverValid MeanOver = "valid"
	// MeanOverAll divides by every entry, ignored ones included
	// (segmentation_models_pytorch's SoftBCEWithLogitsLoss).
	MeanOverAll MeanOver = "all"
)

// declareMeanOver declares mean_over, which matters only with an ignore
// index.
func declareMeanOver(s *Set, v *MeanOver, doc string) *Param {
	c := s.Common()
	return Enum(s, v, "mean_over", MeanOverValid, []MeanOver{MeanOverValid, MeanOverAll}, doc).
		Matters("--ignore-index (without ignored entries every denominator is the same)", func() bool { return c.IgnoreIndex != nil })
}

// declareProbClip declares prob_clip. With multiclass set it matters in
// multiclass mode from logits too (the focal loss clips the softmax there,
// as Keras does); otherwise only with --from-logits=false.
func declareProbClip(s *Set, v *float64, multiclass bool) *Param {
	c := s.Common()
	needs := "--from-logits=false (from logits the cross-entropy needs no probabilities)"
	if multiclass {
		needs = "--from-logits=false or --mode multiclass (from logits the sigmoid cross-entropy needs no probabilities)"
	}
	return s.Float(v, "prob_clip", 0, "probabilities are clipped to [ε, 1-ε] before each log, both bounds rounded to the compute precision, as Keras does with backend.epsilon() 1e-7 (a cross-entropy term then costs at most about 16.1 in float32); 0: only the floor 2^-126").
		AtLeast(0).Below(0.5).
		Matters(needs, func() bool { return !c.FromLogits || (multiclass && c.Mode == Multiclass) })
}

const meanOverDoc = "denominator of --reduction mean when entries are ignored: valid entries (PyTorch) or all entries (segmentation_models_pytorch's SoftBCEWithLogitsLoss)"

// BCETerm holds the options of a binary cross-entropy term: bce's own, and
// the cross-entropy term of compound losses in binary and multilabel mode.
type BCETerm struct {
	// PosWeight weighs the positive term: one value, or one per channel; nil: 1.
	PosWeight []float64
	// LabelSmoothing moves hard targets to t(1-s) + (1-t)s.
	LabelSmoothing float64
	MeanOver       MeanOver
	// ProbClip clips probabilities to [ε, 1-ε] before the logs (0: off).
	// Only bce declares it; the compound losses keep 0.
	ProbClip float64
}

// Declare binds the term's options. meanOverDoc documents mean_over.
func (p *BCETerm) Declare(s *Set, meanOverDoc string) {
	s.Floats(&p.PosWeight, "pos_weight", nil, "weight of the positive term: one value, or one per channel (PyTorch's pos_weight)").AtLeast(0)
	s.Float(&p.LabelSmoothing, "label_smoothing", 0, "targets become t(1-s) + (1-t)s (segmentation_models_pytorch's smooth_factor)").AtLeast(0).Below(1)
	declareMeanOver(s, &p.MeanOver, meanOverDoc)
}

// BCE is the parameter set of the bce loss.
type BCE struct {
	Common
	BCETerm
}

// Declare binds the parameters.
func (p *BCE) Declare(s *Set) {
	p.BCETerm.Declare(s, meanOverDoc)
	declareProbClip(s, &p.ProbClip, false)
}

// WeightedBCE is the parameter set of the weighted-bce loss.
type WeightedBCE struct {
	Common
	// Beta weighs the positive term (1: plain BCE).
	Beta     float64
	MeanOver MeanOver
}

// Declare binds the parameters.
func (p *WeightedBCE) Declare(s *Set) {
	s.Float(&p.Beta, "beta", 1, "weight of the positive term (1: plain BCE)").AtLeast(0)
	declareMeanOver(s, &p.MeanOver, meanOverDoc)
}

// BetaFrom says where balanced-bce's β comes from.
type BetaFrom string

// The sources of β.
const (
	BetaFromBatch BetaFrom = "batch"
	BetaFromImage BetaFrom = "image"
	BetaFromFixed BetaFrom = "fixed"
)

// BalancedBCE is the parameter set of the balanced-bce loss.
type BalancedBCE struct {
	Common
	BetaFrom BetaFrom
	// Beta is β when BetaFrom is BetaFromFixed.
	Beta     float64
	MeanOver MeanOver
}

// Declare binds the parameters.
func (p *BalancedBCE) Declare(s *Set) {
	Enum(s, &p.BetaFrom, "beta_from", BetaFromBatch, []BetaFrom{BetaFromBatch, BetaFromImage, BetaFromFixed},
		"where β comes from: the batch's or each image's fraction of negatives, or the beta parameter")
	s.Float(&p.Beta, "beta", 0.5, "β when beta_from=fixed").AtLeast(0).AtMost(1).
		Matters("--beta-from fixed", func() bool { return p.BetaFrom == BetaFromFixed })
	declareMeanOver(s, &p.MeanOver, meanOverDoc)
}

// CrossEntropy is the parameter set of the cross-entropy loss.
type CrossEntropy struct {
	Common
	// LabelSmoothing is ε of label smoothing.
	LabelSmoothing float64
	// ProbClip clips probabilities to [ε, 1-ε] before the logs (0: off).
	ProbClip float64
	// MeanOver is the denominator of --reduction mean with ignored pixels
	// (the zero value is MeanOverValid).
	MeanOver MeanOver
}

// Declare binds the parameters.
func (p *CrossEntropy) Declare(s *Set) {
	s.Float(&p.LabelSmoothing, "label_smoothing", 0, "ε of label smoothing (PyTorch's label_smoothing)").AtLeast(0).AtMost(1)
	declareProbClip(s, &p.ProbClip, false)
	declareMeanOver(s, &p.MeanOver, "denominator of --reduction mean when pixels are ignored: the class weights of the valid pixels (PyTorch) "+
		"or the number of pixels, ignored ones included (segmentation_models_pytorch's SoftCrossEntropyLoss)")
}

// FocalTerm holds the options of the focal loss, shared by the compound
// losses with a focal term.
type FocalTerm struct {
	// Gamma is the focusing parameter γ (0: cross-entropy).
	Gamma float64
	// Alpha is the balance α: one value or one per class; nil: none.
	Alpha []float64
	// Normalized divides by the sum of the modulation factors.
	Normalized bool
	MeanOver   MeanOver
	// ProbClip clips probabilities to [ε, 1-ε] before the logs (0: off):
	// probability inputs, and the softmax in multiclass mode. Only focal
	// declares it; the compound losses keep 0.
	ProbClip float64
	// LabelSmoothing moves binary targets to t(1-s) + (1-t)s and one-hot
	// targets to t(1-s) + s/C. Only focal declares it; the compound losses
	// keep 0.
	LabelSmoothing float64
	// Modulation is the sigmoid form's modulation from logits. Only focal
	// declares it; the compound losses keep the zero value, ModulationLogit.
	Modulation Modulation
}

// Modulation is the form of the sigmoid focal modulation (1-p_t)^γ from
// logits; the forms agree for hard targets.
type Modulation string

// The forms.
const (
	// ModulationLogit is σ(-x(2t-1))^γ (MONAI), the zero value's meaning.
	ModulationLogit Modulation = "logit"
	// ModulationProb is (1 - p_t)^γ with p_t = t·p + (1-t)(1-p)
	// (torchvision, Keras).
	ModulationProb Modulation = "prob"
)

// Declare binds the term's options.
func (p *FocalTerm) Declare(s *Set) {
	s.Float(&p.Gamma, "gamma", 2, "focusing parameter γ (0: cross-entropy)").AtLeast(0)
	s.Floats(&p.Alpha, "alpha", nil, "balance α: one value or one per class (unset: no balancing; torchvision uses 0.25)").AtLeast(0)
	s.Bool(&p.Normalized, "normalized", false, "divide by the sum of the modulation factors (segmentation_models_pytorch's normalized=True)").
		Matters("--gamma above 0 (with γ = 0 every modulation factor is 1)", func() bool { return p.Gamma != 0 })
	declareMeanOver(s, &p.MeanOver, meanOverDoc)
}

// Focal is the parameter set of the focal loss.
type Focal struct {
	Common
	FocalTerm
	// IncludeBackground keeps channel 0 in multilabel mode.
	IncludeBackground bool
	// MeanOf is what multiclass mode's --reduction mean averages.
	MeanOf MeanOf
	// TargetEps moves multiclass targets to t(1-ε)+ε.
	TargetEps float64
}

// MeanOf is what the focal loss's multiclass mean averages.
type MeanOf string

// The averages.
const (
	// MeanOfPixels averages the per-pixel loss.
	MeanOfPixels MeanOf = "pixels"
	// MeanOfEntries averages the per-class map [N,C,*spatial]: 1/C of
	// MeanOfPixels (MONAI's FocalLoss(use_softmax=True), kornia's
	// FocalLoss).
	MeanOfEntries MeanOf = "entries"
)

// Declare binds the parameters.
func (p *Focal) Declare(s *Set) {
	p.FocalTerm.Declare(s)
	declareProbClip(s, &p.ProbClip, true)
	c := s.Common()
	s.Float(&p.LabelSmoothing, "label_smoothing", 0, "binary and multilabel targets become t(1-s) + (1-t)s (Keras's BinaryFocalCrossentropy label_smoothing s is s/2 here); in multiclass mode the one-hot target becomes t(1-s) + s/C over every class, each class with its own modulation (Keras's CategoricalFocalCrossentropy; needs --classes)").AtLeast(0).Below(1)
	Enum(s, &p.Modulation, "modulation", ModulationLogit, []Modulation{ModulationLogit, ModulationProb},
		"sigmoid modulation from logits: logit is σ(-x(2t-1))^γ (MONAI), prob is (1-p_t)^γ with p_t = t·p + (1-t)(1-p) (torchvision, Keras); equal for hard targets, and from probabilities always prob").
		Matters("--mode binary or multilabel, --from-logits=true and --gamma above 0", func() bool {
			return c.Mode != Multiclass && c.FromLogits && p.Gamma != 0
		})
	s.Bool(&p.IncludeBackground, "include_background", true, "multilabel mode: keep channel 0; false leaves it out of the loss and the mean "+
		"(MONAI's include_background=False), so --reduction none gives [N,C-1,*spatial]").
		Matters("--mode multilabel with two or more classes (--classes 1 has no background channel to drop)",
			func() bool { return c.Mode == Multilabel && c.Classes != 1 })
	Enum(s, &p.MeanOf, "mean_of", MeanOfPixels, []MeanOf{MeanOfPixels, MeanOfEntries},
		"multiclass mode: --reduction mean averages the per-pixel loss, the sum over classes (pixels), or every entry of the "+
			"per-class map [N,C,*spatial] (entries, 1/C of it: MONAI's FocalLoss(use_softmax=True), kornia's FocalLoss)").
		Matters("--mode multiclass and --reduction mean", func() bool { return c.Mode == Multiclass && c.Reduction == Mean })
	s.Float(&p.TargetEps, "target_eps", 0, "multiclass mode: targets become t(1-ε)+ε on every valid pixel, so each other class adds ε times "+
		"its own focal term (kornia's one_hot eps, 1e-6)").AtLeast(0).Below(1).
		Matters("--mode multiclass", func() bool { return c.Mode == Multiclass })
}

// TopKCE is the parameter set of the topk-ce loss.
type TopKCE struct {
	Common
	// K is the percentage of pixels kept.
	K float64
}

// Declare binds the parameters.
func (p *TopKCE) Declare(s *Set) {
	s.Float(&p.K, "k", 10, "percentage of pixels kept (SegLoss's TopKLoss uses 10)").Above(0).AtMost(100)
}

// OHEMCE is the parameter set of the ohem-ce loss.
type OHEMCE struct {
	Common
	// Thresh is the probability threshold θ.
	Thresh float64
	// MinKept keeps at least this many pixels.
	MinKept int
}

// Declare binds the parameters.
func (p *OHEMCE) Declare(s *Set) {
	s.Float(&p.Thresh, "thresh", 0.7, "probability threshold θ (mmsegmentation 0.7; geo-deep-learning 0.6)").AtLeast(0).AtMost(1)
	s.Int(&p.MinKept, "min_kept", 100000, "keep at least this many pixels (mmsegmentation 100000; geo-deep-learning 0)").AtLeast(0)
}

// Normalize is weighted-ce's denominator of --reduction mean.
type Normalize string

// The denominators.
const (
	NormalizePixels  Normalize = "pixels"
	NormalizeWeights Normalize = "weights"
)

// WeightedCE is the parameter set of the weighted-ce loss.
type WeightedCE struct {
	Common
	Normalize Normalize
}

// Declare binds the parameters.
func (p *WeightedCE) Declare(s *Set) {
	Enum(s, &p.Normalize, "normalize", NormalizePixels, []Normalize{NormalizePixels, NormalizeWeights},
		"denominator of --reduction mean: the number of valid entries, or the sum of the weights")
}
