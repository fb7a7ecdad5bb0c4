package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// LogHausdorffDT is the parameter set of the log-hausdorff-dt loss.
type LogHausdorffDT = param.LogHausdorffDT

var logHausdorffDT = Define(Spec{
	Name:    "log-hausdorff-dt",
	Family:  "distance",
	Summary: "log(1 + hausdorff-dt): the Hausdorff distance-transform loss on a log scale.",
	Description: "The logarithm of the distance-transform Hausdorff loss plus one, as MONAI's " +
		"LogHausdorffDTLoss computes it: the same fields and options as hausdorff-dt, with log(1 + l) applied " +
		"to the reduced loss (to each entry with --reduction none), which compresses the large values of early " +
		"training.",
	Citation: "Karimi & Salcudean, Reducing the Hausdorff Distance in Medical Image Segmentation with Convolutional Neural Networks, IEEE Transactions on Medical Imaging 2020; log form as in MONAI's LogHausdorffDTLoss.",
	Formula:  "log(1 + hausdorff-dt)",
	Modes:    []Mode{Binary, Multilabel, Multiclass},
	Notes: []string{
		"MONAI LogHausdorffDTLoss: the settings of hausdorff-dt. With --reduction sum the log is of the sum, as MONAI's log(super().forward() + 1).",
	},
	Presets: []Preset{
		{Name: "monai", Doc: "MONAI LogHausdorffDTLoss() defaults: α 2, include_background false, per-image means (batch false), mean reduction; choose --mode multilabel for sigmoid=True and --mode multiclass for softmax=True, to_onehot_y=True. Exact.",
			Values: map[string]string{"alpha": "2", "include_background": "false", "batch": "false", "reduction": "mean"}},
	},
	NoneShape: hausdorffNone,
	Variants:  []Options{{"batch": "true", "include_background": "true", "mode": "multilabel", "reduction": "sum"}},
}, Funcs[LogHausdorffDT]{
	Build:     func(c *Ctx, p *LogHausdorffDT) *Value { return buildHausdorffDT(c, &p.HausdorffOptions, true) },
	Reference: reference.LogHausdorffDT,
	Validate: func(c *Config, p *LogHausdorffDT) error {
		if err := validateChannels(c, &p.DistanceBackground); err != nil {
			return err
		}
		return validateSpacing(c, p.Spacing)
	},
})
