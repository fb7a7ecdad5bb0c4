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
		"and weigh most. The per-slice maximum and minimum are taken with MaxPool (a pyramid of windows of 16, " +
		"for symbolic sizes up to 65536 per axis), which ONNX Runtime differentiates, so the gradient is " +
		"kornia's, through the normalisation included; the division is guarded so a flat slice gives a " +
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

// Levels and window of the MaxPool pyramid that takes the maximum over a
// whole slice of symbolic size: each level keeps one value per window of 16
// (padding never wins), so 4 levels cover 65536 pixels per axis.
const (
	globalPoolWindow = 16
	globalPoolLevels = 4
)

// globalMax is the maximum of each [n,c] slice of x, [N,C,1,...], written with
// MaxPool so that it has a gradient (to the maximum's position) in every
// autodiff, where ReduceMax has none in ONNX Runtime.
func globalMax(x *Value, spatial int) *Value {
	k := make([]int64, spatial)
	pads := make([]int64, 2*spatial)
	for i := range k {
		k[i] = globalPoolWindow
		pads[spatial+i] = globalPoolWindow - 1
	}
	for l := 0; l < globalPoolLevels; l++ {
		x = MaxPool(x, Window{Kernel: k, Strides: k, Pads: pads})
	}
	dims := []int64{0, 0}
	for i := 0; i < spatial; i++ {
		dims = append(dims, 1)
	}
	return ReshapeDims(x, dims...)
}

func buildHausdorffER(c *Ctx, p *HausdorffER) *Value {
	probs, t := c.Probs(), c.Target()
	sd := c.SpatialDims
	// Slices become single-channel images [N·C,1,*], so one convolution
	// kernel serves any number of classes, fixed or not.
	flat := append([]int64{-1, 1}, make([]int64, sd)...)
	bound := ReshapeDims(Square(Sub(probs, t)), flat...)
	kshape := []int{1, 1}
	for i := 0; i < sd; i++ {
		kshape = append(kshape, 3)
	}
	kernel := tensor.New(tensor.Float64, kshape...)
	w := kernel.Data.([]float64)
	centre := tensor.NumElements(kshape) / 2
	w[centre] = 1
	stride := 1
	for a := sd - 1; a >= 0; a-- {
		w[centre-stride], w[centre+stride] = 1, 1
		stride *= 3
	}
	for i := range w {
		w[i] /= float64(2*sd + 1)
	}
	weights := ConstTensor(c.G, kernel.Convert(c.ComputeType()))
	ones := make([]int64, sd)
	for i := range ones {
		ones[i] = 1
	}
	same := Window{Pads: append(append([]int64{}, ones...), ones...)}
	var acc *Value
	for j := 1; j <= p.Erosions; j++ {
		ero := Relu(AddScalar(crossMean(bound, weights, same), -0.5))
		hi := globalMax(ero, sd)
		lo := Neg(globalMax(Neg(ero), sd))
		span := Sub(hi, lo)
		flatSlice := Less(span, ConstAs(span, reference.ErosionFlat))
		span = Where(flatSlice, ConstAs(span, 1), span)
		ero = Where(flatSlice, ero, Div(Sub(ero, lo), span))
		term := MulScalar(ero, math.Pow(float64(j), p.Alpha))
		if acc == nil {
			acc = term
		} else {
			acc = Add(acc, term)
		}
		bound = ero
	}
	l := Reshape(acc, ShapeOf(probs))
	return c.reduceMap(l)
}

// crossMean is the mean over the cross-shaped neighbourhood (the pixel and
// its 2·sd axis neighbours, zero outside the image) of x [M,1,*]: a Conv
// with the cross kernel, or, for float64, where ONNX Runtime has no Conv,
// the sum of shifted slices of x padded with one zero on each side.
func crossMean(x, kernel *Value, same Window) *Value {
	if x.DType() != tensor.Float64 {
		return Conv(x, kernel, nil, same, 1)
	}
	sd := x.Rank() - 2
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
