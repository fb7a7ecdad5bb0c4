package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// GeneralizedWassersteinDice is the parameter set of the generalized-wasserstein-dice loss.
type GeneralizedWassersteinDice = param.GeneralizedWassersteinDice

var generalizedWassersteinDice = Define(Spec{
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
	Citation:    "Fidon, Li, Garcia-Peraza-Herrera, Ekanayake, Kitchen, Ourselin & Vercauteren, Generalised Wasserstein Dice Score for Imbalanced Multi-class Segmentation using Holistic Convolutional Networks, BrainLes 2017.",
	Formula:     "loss = 1 - (2TP + smooth_nr) / max(den + smooth_dr, eps), wass_i = Σ_c M[y_i,c] p_ic, TP = Σ_i α_y_i (1 - wass_i)",
	Modes:       []Mode{Multiclass},
	IgnoreIndex: true,
	NoneShape:   "the per-sample loss [N]",
	Notes: []string{
		"MONAI GeneralizedWassersteinDiceLoss(dist_matrix) with its defaults (weighting_mode='default', smooth 1e-5) is --dist-matrix with the defaults; MONAI always applies the softmax itself, as onnxloss does from logits.",
		"The matrix is used as given: M[label, class]. Fidon et al. use a symmetric distance; a non-symmetric matrix is accepted.",
		"Multiclass only: the distance is between classes of one label map. Classes are needed in the graph when dist_matrix is given (a 1×1 convolution applies it).",
	},
	Variants: []Options{
		{"dist_matrix": "0,1,2,1,0,1.5,2,1.5,0"},
		{"dist_matrix": "0,0.5,1,1,0.5,0,1,1,1,1,0,0.2,1,1,0.2,0", "weighting": "gdl", "ignore_index": "3"},
		{"weighting": "gdl", "classes": "4"},
		{"dist_matrix": "0,1,1,0", "spatial_dims": "3", "reduction": "none"},
	},
}, Funcs[GeneralizedWassersteinDice]{
	Build:     buildGeneralizedWassersteinDice,
	Reference: reference.GeneralizedWassersteinDice,
	Validate: func(c *Config, p *GeneralizedWassersteinDice) error {
		if err := validateDistMatrix(c, p.DistMatrix); err != nil {
			return err
		}
		return validateOverlap(c, &p.Overlap)
	},
})

// buildGeneralizedWassersteinDice writes one loss per sample from the
// Wasserstein error of every pixel.
func buildGeneralizedWassersteinDice(c *Ctx, pr *GeneralizedWassersteinDice) *Value {
	o := &pr.Overlap
	p := c.Probs()
	y := Unsqueeze(c.Labels(), 1)
	var wass *Value
	if m := distMatrix(pr.DistMatrix); m != nil {
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
	if pr.Weighting == param.WassersteinGDL {
		alpha := StopGradient(Reciprocal(AddScalar(vol, 1)))
		tp = ReduceSum(Mul(alpha, tpc), false, 1)
		den = ReduceSum(Mul(alpha, Sub(MulScalar(vol, 2), wc)), false, 1)
	} else {
		tp = ReduceSum(Slice(tpc, []int64{1}, []int64{math.MaxInt64}, []int64{1}, nil), false, 1)
		den = Add(MulScalar(tp, 2), ReduceSum(wass, false, append([]int{1}, c.SpatialAxes()...)...))
	}
	num := MulScalar(tp, 2)
	if o.SmoothNr != 0 {
		num = AddScalar(num, o.SmoothNr)
	}
	if o.SmoothDr != 0 {
		den = AddScalar(den, o.SmoothDr)
	}
	if o.Eps > 0 {
		den = ClipMin(den, o.Eps)
	}
	return c.reduceRows(OneMinus(Div(num, den)))
}

// distMatrix returns GWDL's class distance matrix normalised by its maximum
// (nil for the default 1 - identity), row-major C×C.
func distMatrix(m []float64) []float64 {
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

// validateDistMatrix checks the distance matrix m and takes C from it.
func validateDistMatrix(c *Config, m []float64) error {
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
