// Package reference computes every loss of the catalog in plain float64 Go,
// with loops written straight from the formulas. It imports nothing from the
// graph builder: the graphs and these functions are two independent
// derivations, and the tests check that they agree.
package reference

import (
	"fmt"
	"math"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// Config mirrors the resolved options of a loss (see losses.Config): the
// common options and the loss's typed parameters.
type Config struct {
	param.Common
	// P is the loss's typed parameter struct (a pointer), or nil.
	P param.Declarer
}

// Inputs holds the tensors fed to a loss, by graph input name.
type Inputs map[string]*tensor.Tensor

// DetachedInput names an optional entry of Inputs for losses with parts
// that carry no gradient (cmssim's weights e): those parts are computed
// from it instead of from "input". Differentiating the reference with it
// held at the point of differentiation gives the gradient with those parts
// held fixed, the one automatic differentiation gives. Other losses
// ignore it.
const DetachedInput = "detached:input"

// Problem is the canonical view of a call: batch N, channels C, S spatial
// positions (flattened), input values x[n][c][s], and the target in both
// forms: one-hot (or soft) t[n][c][s] and, in multiclass label mode, the
// labels y[n][s]. valid[n][s] (multiclass) or validC[n][c][s] says which
// entries are not ignored.
type Problem struct {
	N, C, S int
	Spatial []int
	X       [][][]float64
	T       [][][]float64
	Labels  [][]int64 // multiclass with label targets only
	Valid   [][][]bool
}

// Canon reads input and target in the layout of the configuration. It
// refuses, with an error, every input the exported graphs refuse (see
// checkInputs), and clamps logits to ±LogitBound as the graphs do.
func Canon(in Inputs, c *Config) (*Problem, error) {
	x, ok := in["input"]
	if !ok {
		return nil, fmt.Errorf("missing input")
	}
	t, ok := in["target"]
	if !ok {
		return nil, fmt.Errorf("missing target")
	}
	if err := checkInputs(in, c); err != nil {
		return nil, err
	}
	p := &Problem{}
	xs := x.Float64s()
	if c.FromLogits {
		for i, v := range xs {
			xs[i] = math.Max(-LogitBound, math.Min(v, LogitBound))
		}
	}
	p.N = x.Shape[0]
	if c.Layout == param.NHWC {
		p.C = x.Shape[len(x.Shape)-1]
		p.Spatial = append([]int{}, x.Shape[1:len(x.Shape)-1]...)
	} else {
		p.C = x.Shape[1]
		p.Spatial = append([]int{}, x.Shape[2:]...)
	}
	p.S = tensor.NumElements(p.Spatial)
	p.X = channelMajor(xs, p.N, p.C, p.S, c.Layout)
	p.Valid = make([][][]bool, p.N)
	for n := range p.Valid {
		p.Valid[n] = make([][]bool, p.C)
		for ch := range p.Valid[n] {
			p.Valid[n][ch] = make([]bool, p.S)
			for s := range p.Valid[n][ch] {
				p.Valid[n][ch][s] = true
			}
		}
	}
	if c.Mode == param.Multiclass && c.TargetForm == param.TargetLabels {
		ys := t.Int64s()
		if len(ys) != p.N*p.S {
			return nil, fmt.Errorf("label map has %d entries, want %d", len(ys), p.N*p.S)
		}
		p.Labels = make([][]int64, p.N)
		p.T = zeros3(p.N, p.C, p.S)
		for n := 0; n < p.N; n++ {
			p.Labels[n] = ys[n*p.S : (n+1)*p.S]
			for s, y := range p.Labels[n] {
				if c.IgnoreIndex != nil && y == *c.IgnoreIndex {
					for ch := 0; ch < p.C; ch++ {
						p.Valid[n][ch][s] = false
					}
					continue
				}
				p.T[n][y][s] = 1
			}
		}
		return p, nil
	}
	ts := t.Float64s()
	if len(ts) != p.N*p.C*p.S {
		return nil, fmt.Errorf("target has %d entries, want %d", len(ts), p.N*p.C*p.S)
	}
	p.T = channelMajor(ts, p.N, p.C, p.S, c.Layout)
	if c.IgnoreIndex != nil {
		k := float64(*c.IgnoreIndex)
		for n := range p.T {
			for ch := range p.T[n] {
				for s, v := range p.T[n][ch] {
					if v == k {
						p.Valid[n][ch][s] = false
						p.T[n][ch][s] = 0
					}
				}
			}
		}
	}
	return p, nil
}

func zeros3(a, b, c int) [][][]float64 {
	out := make([][][]float64, a)
	for i := range out {
		out[i] = make([][]float64, b)
		for j := range out[i] {
			out[i][j] = make([]float64, c)
		}
	}
	return out
}

// channelMajor rearranges a flat [N,C,S] or [N,S,C] array as x[n][c][s].
func channelMajor(flat []float64, n, c, s int, layout param.Layout) [][][]float64 {
	out := zeros3(n, c, s)
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			for k := 0; k < s; k++ {
				if layout == param.NHWC {
					out[i][j][k] = flat[(i*s+k)*c+j]
				} else {
					out[i][j][k] = flat[(i*c+j)*s+k]
				}
			}
		}
	}
	return out
}

// SpatialMap reads an extra input of shape [N,*spatial] as m[n][s].
func SpatialMap(t *tensor.Tensor, n, s int) ([][]float64, error) {
	f := t.Float64s()
	if len(f) != n*s {
		return nil, fmt.Errorf("map has %d entries, want %d", len(f), n*s)
	}
	out := make([][]float64, n)
	for i := range out {
		out[i] = f[i*s : (i+1)*s]
	}
	return out, nil
}

// Sigmoid is 1/(1+e^-x), computed without overflow.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// LogSigmoid is log(sigmoid(x)) = -log(1+e^-x), computed without overflow.
func LogSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// LogSoftmax returns log(softmax(v)).
func LogSoftmax(v []float64) []float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	sum := 0.0
	for _, x := range v {
		sum += math.Exp(x - m)
	}
	lse := m + math.Log(sum)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x - lse
	}
	return out
}

// LogitBound is where logits are clamped, to [-LogitBound, LogitBound],
// before any loss reads them, in the graphs and here: every loss is then
// finite for any finite float32 logits, sums over a whole tensor included.
// 1e12 lies far beyond any logit a network produces in training (a float32
// softmax saturates at a gap of about 100) and far enough below the float32
// maximum (3.4e38) that squares and sums of clamped values stay finite. The
// graphs' gradient passes through the clamp: beyond the bound it is the
// gradient at the bound.
const LogitBound = 1e12

// ProbFloor is where probabilities are clipped before a log when the input
// holds probabilities: 2^-126, the smallest normal float32.
const ProbFloor = 0x1p-126

// ClampedLog is log(max(p, ProbFloor)).
func ClampedLog(p float64) float64 {
	return math.Log(math.Max(p, ProbFloor))
}

// LogProbs returns, for every position of the problem, the log-probabilities
// of the classes: log-softmax of logits in multiclass mode, or the clamped
// log of the given probabilities.
func (p *Problem) LogProbs(c *Config) [][][]float64 {
	out := zeros3(p.N, p.C, p.S)
	col := make([]float64, p.C)
	for n := 0; n < p.N; n++ {
		for s := 0; s < p.S; s++ {
			for ch := 0; ch < p.C; ch++ {
				col[ch] = p.X[n][ch][s]
			}
			var lp []float64
			if c.FromLogits {
				lp = LogSoftmax(col)
			} else {
				lp = make([]float64, p.C)
				for ch, v := range col {
					lp[ch] = ClampedLog(v)
				}
			}
			for ch := 0; ch < p.C; ch++ {
				out[n][ch][s] = lp[ch]
			}
		}
	}
	return out
}

// Probs returns the probabilities: softmax over channels (multiclass),
// sigmoid per channel (binary, multilabel), or the input itself when it holds
// probabilities.
func (p *Problem) Probs(c *Config) [][][]float64 {
	if c.Mode == param.Multiclass && c.FromLogits {
		lp := p.LogProbs(c)
		for n := range lp {
			for ch := range lp[n] {
				for s := range lp[n][ch] {
					lp[n][ch][s] = math.Exp(lp[n][ch][s])
				}
			}
		}
		return lp
	}
	out := zeros3(p.N, p.C, p.S)
	for n := range out {
		for ch := range out[n] {
			for s := range out[n][ch] {
				if c.FromLogits {
					out[n][ch][s] = Sigmoid(p.X[n][ch][s])
				} else {
					out[n][ch][s] = p.X[n][ch][s]
				}
			}
		}
	}
	return out
}

// Scalar wraps a loss value as the float32 rank-0 tensor a graph returns.
func Scalar(v float64) *tensor.Tensor { return tensor.FromFloat64(nil, []float64{v}) }

// ElementwiseMap returns per-element values v[n][c][s] as a tensor in the
// input's layout: [N,C,*spatial] or [N,*spatial,C].
func (p *Problem) ElementwiseMap(v [][][]float64, c *Config) *tensor.Tensor {
	flat := make([]float64, p.N*p.C*p.S)
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			for s := 0; s < p.S; s++ {
				if c.Layout == param.NHWC {
					flat[(n*p.S+s)*p.C+ch] = v[n][ch][s]
				} else {
					flat[(n*p.C+ch)*p.S+s] = v[n][ch][s]
				}
			}
		}
	}
	var shape []int
	if c.Layout == param.NHWC {
		shape = append(append([]int{p.N}, p.Spatial...), p.C)
	} else {
		shape = append([]int{p.N, p.C}, p.Spatial...)
	}
	return tensor.FromFloat64(shape, flat)
}

// PixelMap returns per-pixel values v[n][s] as a tensor [N,*spatial].
func (p *Problem) PixelMap(v [][]float64) *tensor.Tensor {
	flat := make([]float64, 0, p.N*p.S)
	for n := range v {
		flat = append(flat, v[n]...)
	}
	return tensor.FromFloat64(append([]int{p.N}, p.Spatial...), flat)
}

// SafeDiv returns a/b, or 0 when b is 0: the documented value of a mean
// over an empty set (for example when every pixel is ignored).
func SafeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// reduce applies c's reduction to a loss given as its tensor for
// reduction none (made only then), its sum num, and the denominator den of
// its mean (a mean over nothing is 0).
func reduce(c *Config, none func() *tensor.Tensor, num, den float64) *tensor.Tensor {
	switch c.Reduction {
	case param.None:
		return none()
	case param.Sum:
		return Scalar(num)
	}
	return Scalar(SafeDiv(num, den))
}
