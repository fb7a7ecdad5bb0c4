package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// DiceCE is the parameter set of the dice-ce loss.
type DiceCE = param.DiceCE

var diceCE = Define(Spec{
	Name:    "dice-ce",
	Family:  "region",
	Summary: "Dice + cross-entropy (nnU-Net, MONAI DiceCELoss): λ_dice·Dice loss + λ_ce·cross-entropy.",
	Description: "The sum used by nnU-Net and MONAI's DiceCELoss: λ_dice times the Dice loss plus λ_ce times the " +
		"cross-entropy. The Dice term is the dice loss with all its parameters; the cross-entropy term is onnxloss's " +
		"cross-entropy (PyTorch semantics: class weights, ignore_index, label smoothing, one-hot or soft targets) in " +
		"multiclass mode and bce (pos_weight, label smoothing) in binary and multilabel mode, computed from the " +
		"same activations. Class weights feed both terms, as MONAI's weight does. With the default smoothing an " +
		"empty target with an empty prediction gives a Dice term of 0; a batch whose pixels are all ignored gives 0.",
	Citation: "Isensee, Jaeger, Kohl, Petersen & Maier-Hein, nnU-Net: a self-configuring method for deep learning-based biomedical image segmentation, Nature Methods 2021; MONAI DiceCELoss.",
	Formula:  "loss = λ_dice·(1 - Dice) + λ_ce·CE",
	Modes:    regionModes,
	Presets: []Preset{
		{Name: "monai", Doc: "MONAI DiceCELoss() defaults: Dice as MONAI's DiceLoss (per sample and class, smooth 1e-5, background included, weight multiplying each class's loss) plus PyTorch's cross-entropy, λ 1 and 1. " + monaiActNote + " DiceCELoss() without sigmoid=True or softmax=True gives the input as it is to Dice and as logits to the cross-entropy: --dice-input raw. For one-channel input MONAI passes weight to BCEWithLogitsLoss as pos_weight: use --pos-weight there.",
			Values: map[string]string{"lambda_dice": "1", "lambda_ce": "1", "per_image": "true", "average": "macro", "smooth_nr": "1e-05", "smooth_dr": "1e-05", "eps": "0",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "scale"}},
	},
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	Reductions: compoundReductions,
	Notes: []string{
		compoundReductionNote,
		"nnU-Net (and SegLoss's DC_and_CE_loss) adds CE and the negative Dice score, CE - Dice, with the background excluded from Dice (--include-background=false) and batch or per-sample Dice by configuration (--per-image): onnxloss's 1 - Dice makes the value larger by λ_dice with the same gradient.",
		"MONAI's DiceCELoss has no ignore_index in the version surveyed; onnxloss masks ignored pixels in both terms.",
	},
	Variants: []Options{
		{"preset": "monai", "mode": "multiclass", "classes": "3", "class_weights": "1,2,0.5"},
		{"mode": "multiclass", "classes": "4", "label_smoothing": "0.1", "ignore_index": "255", "include_background": "false", "per_image": "false", "lambda_ce": "0.5"},
		{"mode": "binary", "pos_weight": "3", "label_smoothing": "0.05", "lambda_dice": "2"},
		{"mode": "multilabel", "ignore_index": "-1", "mean_over": "all", "reduction": "sum"},
		{"mode": "multiclass", "target": "onehot"},
		{"preset": "monai", "mode": "multiclass", "dice_input": "raw"},
		{"mode": "multilabel", "dice_input": "raw", "pos_weight": "0.5"},
	},
}, Funcs[DiceCE]{
	Build: func(c *Ctx, p *DiceCE) *Value {
		dc := c
		if p.DiceInput == param.DiceInputRaw {
			dc = c.asProbabilities()
		}
		dice := dc.overlapLoss(&p.Overlap, diceIndex, nil)
		var ce *Value
		if c.Mode == Multiclass {
			ce = buildCrossEntropy(c, &CrossEntropy{LabelSmoothing: p.LabelSmoothing})
		} else {
			ce = buildBCE(c, &p.BCETerm)
		}
		return Add(MulScalar(dice, p.LambdaDice), MulScalar(ce, p.LambdaCE))
	},
	Reference: reference.DiceCE,
	Validate:  validateDiceCE,
	PerSample: func(c *Config, p *DiceCE) bool { return overlapPerSample(c, &p.Overlap) },
})

// asProbabilities returns a context on the same graph and input that reads
// the input as probabilities: the activations it caches are its own.
func (c *Ctx) asProbabilities() *Ctx {
	cfg := *c.Config
	cfg.FromLogits = false
	d := *c
	d.Config = &cfg
	d.cache = map[string]*Value{}
	return &d
}

// validateDiceCE checks the cross-entropy term's options against the mode
// (pos_weight is refused in multiclass mode as a parameter that cannot
// matter), and the Dice term's conventions.
func validateDiceCE(c *Config, p *DiceCE) error {
	if c.Mode == Multiclass {
		if err := validateLabelSmoothing(c, p.LabelSmoothing); err != nil {
			return err
		}
	} else if err := validatePosWeight(c, p.PosWeight); err != nil {
		return err
	}
	return validateOverlap(c, &p.Overlap)
}
