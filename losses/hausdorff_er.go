package losses

import (
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// HausdorffER is the parameter set of the hausdorff-er loss.
type HausdorffER = param.HausdorffER

var hausdorffER = Define(Spec{
	Name:    "hausdorff-er",
	Family:  "distance",
	Summary: "Hausdorff loss approximated by repeated soft erosions of the squared error (kornia's form), differentiable throughout.",
	Description: "Karimi & Salcudean's erosion-based Hausdorff loss, written as kornia's HausdorffERLoss computes " +
		"it and differentiable end to end: the squared error (p - y)² is repeatedly convolved with the " +
		"face-neighbour cross normalised to sum 1 (3×3 cross × 0.2 in 2-D, the 7-point cross ÷ 7 in 3-D; zero " +
		"padding), shifted by -0.5 and clamped at 0, and each result is min-max normalised per image and " +
		"channel (left as is where its maximum equals its minimum) and accumulated with weight j^α for " +
		"erosion j = 1..erosions. Errors that survive many erosions are thick, far from the target's boundary, " +
		"and weigh most. The per-slice maximum and minimum are read at the first position ArgMax finds (row-major) " +
		"with GatherElements, which ONNX Runtime differentiates, so the gradient is kornia's, through the " +
		"normalisation included (to the first of tied extremes); the division is guarded so a flat slice gives a " +
		"zero gradient instead of 0/0. A slice counts as flat when max - min < 1e-6 (kornia: max = min): a " +
		"spread that small is rounding noise of values sitting exactly on the 0.5 threshold (saturated or tied " +
		"probabilities), which kornia stretches to [0, 1], so that float32 and float64 disagree by whole units.",
	Citation: "Karimi & Salcudean, Reducing the Hausdorff Distance in Medical Image Segmentation with Convolutional Neural Networks, IEEE Transactions on Medical Imaging 2020; form of kornia.losses.HausdorffERLoss.",
	Formula:  "b_0 = (p - y)²; r_j = relu(K * b_{j-1} - 0.5); e_j = (r_j - min r_j)/(max r_j - min r_j) per slice (r_j if max - min < 1e-6); b_j = e_j; l = mean of Σ_j e_j·j^α",
	Modes:    []Mode{Multiclass, Binary, Multilabel},
	Presets: []Preset{
		{Name: "kornia", Doc: "kornia HausdorffERLoss(alpha=2, k=10) (HausdorffERLoss3D with --spatial-dims 3) on probabilities with a label map, comparing channel i with target == i for every channel. Exact, except that a slice whose erosion spreads less than 1e-6 is left unnormalised (kornia stretches it to [0, 1]).",
			Values: map[string]string{"mode": "multiclass", "from_logits": "false", "alpha": "2", "erosions": "10"}},
	},
	NoneShape: elementwiseNone,
	Notes: []string{
		"kornia HausdorffERLoss(alpha, k) / HausdorffERLoss3D with probabilities and a label map: --mode multiclass --from-logits false --erosions k (kornia compares channel i with target == i for every channel, background included, as here).",
		"kornia with a single-channel prediction compares it with target == 0; onnxloss's binary mode compares the channel with the foreground target.",
		"SegLoss's HausdorffERLoss runs in NumPy under no_grad and cannot train; this one has a gradient everywhere.",
	},
	Variants: []Options{
		{"alpha": "1", "erosions": "3"}, {"erosions": "1"}, {"mode": "binary", "erosions": "4"},
	},
}, Funcs[HausdorffER]{
	Build:     buildHausdorffER,
	Reference: reference.HausdorffER,
})

// sliceMax is the maximum of each [n,c] slice of x [N,C,*spatial], shaped
// [N,C,1,...]: per axis from the last, the first position of the maximum
// (ArgMax) and the value there (GatherElements), so the gradient reaches
// the first maximum in row-major order in every autodiff (ReduceMax has
// none in ONNX Runtime), and the backward pass keeps only the positions.
// With neg it is the minimum, the first position of the maximum of -x.
func sliceMax(x *Value, spatial int, neg bool) *Value {
	for a := spatial + 1; a >= 2; a-- {
		key := x
		if neg {
			key = Neg(x)
		}
		x = GatherElements(x, ArgMax(key, a, true), a)
	}
	return x
}

func buildHausdorffER(c *Ctx, p *HausdorffER) *Value {
	probs, t := c.Probs(), c.Target()
	sd := c.SpatialDims
	bound := Square(Sub(probs, t))
	var terms []*Value
	for j := 1; j <= p.Erosions; j++ {
		ero := Relu(AddScalar(crossMean(bound), -0.5))
		hi, lo := sliceMax(ero, sd, false), sliceMax(ero, sd, true)
		span := Sub(hi, lo)
		flatSlice := Less(span, ConstAs(span, reference.ErosionFlat))
		span = Where(flatSlice, ConstAs(span, 1), span)
		ero = Where(flatSlice, ero, Div(Sub(ero, lo), span))
		terms = append(terms, MulScalar(ero, math.Pow(float64(j), p.Alpha)))
		bound = ero
	}
	// The terms are added after they are all made: ONNX Runtime runs a
	// node's inputs last created first, so a running sum would compute
	// every erosion before the first addition and hold every term.
	acc := terms[0]
	for _, term := range terms[1:] {
		acc = Add(acc, term)
	}
	return c.reduceMap(acc)
}

// crossMean is the mean over the cross-shaped neighbourhood of x [N,C,*]
// (the pixel and its 2·sd axis neighbours, zero outside the image): the
// sums of 3-long windows along each axis, less the centre counted sd-1
// times too many, over 2·sd+1. In float32 the window sums are AveragePools
// (zero padding counted) times 3, which keeps the shape and needs no
// convolution kernel per channel: ONNX Runtime's CPU convolution would
// lay a single channel out in blocks of 8 or 16 channels, a tensor 8 to
// 16 times the size of the image. float64, for which ONNX Runtime has no
// AveragePool, sums shifted slices of x padded with one zero on each side.
func crossMean(x *Value) *Value {
	sd := x.Rank() - 2
	if x.DType() != tensor.Float64 {
		var sum *Value
		for a := 0; a < sd; a++ {
			k := make([]int64, sd)
			pads := make([]int64, 2*sd)
			for b := range k {
				k[b] = 1
			}
			k[a], pads[a], pads[sd+a] = 3, 1, 1
			s := MulScalar(AveragePool(x, Window{Kernel: k, Pads: pads}, true), 3)
			if sum == nil {
				sum = s
			} else {
				sum = Add(sum, s)
			}
		}
		if sd > 1 {
			sum = Sub(sum, MulScalar(x, float64(sd-1)))
		}
		return DivScalar(sum, float64(2*sd+1))
	}
	pads := make([]int64, 2*(sd+2))
	for a := 0; a < sd; a++ {
		pads[2+a], pads[sd+4+a] = 1, 1
	}
	padded := Pad(x, pads, "constant", 0)
	// centre(a, d) is the slice of padded shifted by d along axis a
	// (d in {-1, 0, 1}) and by 0 along the others.
	centre := func(a int, d int64) *Value {
		var starts, ends, axes []int64
		for b := 0; b < sd; b++ {
			off := int64(1)
			if b == a {
				off += d
			}
			end := off - 2 // the window ends 2 - off before the padded end
			if end == 0 {
				end = math.MaxInt64
			}
			starts, ends, axes = append(starts, off), append(ends, end), append(axes, int64(2+b))
		}
		return Slice(padded, starts, ends, axes, nil)
	}
	sum := centre(-1, 0)
	for a := 0; a < sd; a++ {
		sum = Add(Add(sum, centre(a, -1)), centre(a, 1))
	}
	return DivScalar(sum, float64(2*sd+1))
}
