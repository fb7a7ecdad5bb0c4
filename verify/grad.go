package verify

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// Gradient verification compares input_grad, the gradient the exported
// graph computes in ONNX Runtime, with finite differences of the loss's Go
// reference in float64.
//
// Step. The differences are taken with a step h of 1e-4 in logit units:
// softmax and sigmoid bend on a scale of one logit whatever the logits'
// magnitude, so an absolute step suits logits of 1 and of 1e4 alike. For
// probability inputs the step is 1e-4·min(p, 1-p), so x ± 2h stays inside
// (0, 1) and on the same side of the clamp at 2^-126. The fourth-order
// central difference (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h))/12h has a
// truncation error near h⁴·f⁽⁵⁾/30, some 1e-14 of the gradient's scale, and
// a rounding error below 4ε·|f|/h (ε = 2^-52), which FDGradient.Noise
// records and the budget adds: 1e-12·|f|, at most about 1e-6 of the
// gradient for the largest losses verified (sums over logits of 1e4). The
// step is the one actually taken, (x + h) - x, so that x ± h and x ± 2h
// are exact. The differences are therefore far more accurate than the
// float32 graphs they check. Where the loss has large higher derivatives
// (saturated softmaxes in float64) the budget also adds |d+ - d-|, the
// disagreement of the one-sided derivatives below: it is of order h³·f⁗,
// an upper bound of the central difference's h⁴·f⁽⁵⁾/30 for any function
// analytic over more than a few steps.
//
// Tolerance. Entry i passes when
//
//	|graph - fd| <= Rel·|fd| + (Abs + Cond·max|x|)·scale + noise + |d+ - d-| + Floor + Unit·|f|/n
//
// with scale the gradient's scale at the case's geometry: the largest |fd|
// of the case and of the cases of the same geometry at logits of moderate
// size (random values, empty and full targets), entries at kinks left out. A
// float32 gradient's rounding follows the size of the cotangents flowing
// through the graph, not each entry's: an entry that is a difference of
// terms of the size of the scale (p - 1 for a confident softmax, the
// gradient of a masked or saturated pixel next to large ones) keeps only
// their absolute error, and saturated logits or an empty target do not
// shrink those terms even where they make the gradient itself vanish (2^-24,
// not 0, for a saturated softmax). Hence a part proportional to the scale
// next to one proportional to the entry; where the gradient vanishes at
// every point of a geometry (a one-pixel MCC), one rounding of the loss
// spread over the input's entries, Unit·|f|/n with Unit = 2^-24, stands in
// for it. Rel = GradRelTol = 1e-4 and Abs = GradAbsTol = 1e-5 allow a few
// float32 roundings (6e-8 each) through chains of some hundred ops: the
// largest float32 errors over every loss are 0.5 of the budget (a single-
// pixel region loss on probabilities) and below 0.2 for most losses, while
// the entries of a wrong gradient (scaled by 1.001, swapped, a small entry
// off by 1e-4 of the scale) exceed it. Cond·max|x| (Cond = 16·2^-24) covers
// inputs of large magnitude: a float32 logit of 1e4 is only known to 6e-4,
// and products with the large intermediates it makes (a pixel loss of 2e4)
// carry that into the gradient. float64 graphs are held to 1e-8 and 1e-8
// (Unit 2^-53); half-precision inputs, whose gradient is rounded to the
// input's type on output, add a unit in the last place of the type (2^-10 or
// 2^-7 relative; rounding to nearest needs half of it, some providers
// truncate) and, for float16, the spacing of its subnormal numbers.
// TestCompareGradDetects checks that the budget still fails a gradient
// scaled by 1.001, swapped entries, a small entry off by 1e-4 of the scale,
// and a NaN.
//
// Kinks. Losses defined through selections and clamps (TopK, OHEM's
// threshold, Lovász's sort, MaxPool, an L1 overlap |p - t|, the clamp of
// probabilities at 2^-126) are not differentiable everywhere. Where the
// step straddles such a kink the one-sided derivatives
// d- = (3f(x) - 4f(x-h) + f(x-2h))/2h and d+ = (-3f(x) + 4f(x+h) - f(x+2h))/2h
// disagree by more than the float32 budget. A smooth function with large
// higher derivatives (v^0.05 near v = 0 in ms-ssim) can do the same at h:
// such entries are differentiated again at h/10, where a smooth function's
// d+ - d- (of order h³·f⁗) shrinks a thousandfold and a kink's does not.
// At the edge cases with logits of ±1e4 (ties within a selection, a pixel
// exactly at a threshold) an entry on a kink or a jump is checked finite
// only: the gradient autodiff gives there is a convention (PyTorch's: the
// selection as made, the first of tied maxima, the permutation of the sort
// as computed), which one-sided derivatives cannot decide once ties feed
// several selections; the PyTorch fixtures check it. For losses with a
// MaxPool or a TopK on the path from input to loss (soft skeletons,
// erosions, top-k) those cases are checked finite only as a whole: ties
// fed to several windows can cancel in the one-sided derivatives too
// (max(a,b) - max(a,c) at a = b = c has d+ = d- = 0, autodiff's choice 1
// or 0), so even agreeing one-sided derivatives do not decide the entry. Random points are
// moved off kinks instead: the entries found on one are moved by
// 5h·(j+1)²·4^attempt (at least as many units in the last place of a
// half-precision input) and the case is run again (at most three times;
// GradResult.Moved counts them), so that the comparison stays the central
// difference at a point where it means something. A random point that
// cannot be moved off a kink fails. Probabilities of exactly 0 or 1 (edge
// cases only) sit at the clamp, closer to it than any step resolves: they
// are checked finite.
//
// Detached parts. Where a loss holds part of its formula fixed (cmssim's
// weights e), the reference computes that part at the point of
// differentiation (reference.DetachedInput), so the finite differences are
// those of the formula autodiff differentiates.
//
// Simplex. Multiclass probability inputs are compared along the simplex of
// each pixel only: see Project.
//
// Entries. A case differentiates every channel of at most GradSampled/C
// pixels, chosen at random with a fixed seed (all of them in smaller
// cases), because each entry costs four evaluations of the reference;
// every entry of input_grad is checked finite.
const (
	GradRelTol = 1e-4
	GradAbsTol = 1e-5
	// GradStep is the finite-difference step in logit units.
	GradStep = 1e-4
	// GradSampled is the most entries of a case compared with finite
	// differences.
	GradSampled = 32
)

// kinkKinds are the case kinds whose entries may sit on a kink.
var kinkKinds = map[string]bool{"saturated": true, "empty-pred": true}

// FDGradient is the finite-difference gradient of a reference at one
// point, at some of the input's entries.
type FDGradient struct {
	// Index lists the entries differentiated, in increasing order; the
	// other slices are parallel to it.
	Index []int
	// Grad holds the fourth-order central differences.
	Grad []float64
	// Lo and Hi are the one-sided second-order derivatives from the left
	// and from the right.
	Lo, Hi []float64
	// Step is the step h used.
	Step []float64
	// Noise bounds the rounding error of each difference: 4ε·|f|/h, f the
	// largest loss value met.
	Noise []float64
	// Edge marks probability entries of exactly 0 or 1, at the clamp: no
	// step resolves the derivative there.
	Edge []bool
	// Scale is the largest |Grad| off the edge; MaxAbsX the largest |input|.
	Scale, MaxAbsX float64
	// Loss is the reference's loss at the point; Entries the number of
	// entries of the input.
	Loss    float64
	Entries int
}

// FiniteDifferences differentiates the loss's reference with respect to the
// input entries listed in entries (every entry when nil) at the given
// inputs. The reference runs in float64 on the input's values as given; a
// loss that is not a scalar is summed.
func FiniteDifferences(s *losses.Spec, cfg *losses.Config, in reference.Inputs, entries []int) (*FDGradient, error) {
	return finiteDifferences(s, cfg, in, entries, 1)
}

// finiteDifferences is FiniteDifferences with the step scaled by shrink.
func finiteDifferences(s *losses.Spec, cfg *losses.Config, in reference.Inputs, entries []int, shrink float64) (*FDGradient, error) {
	base := in["input"]
	if base == nil {
		return nil, fmt.Errorf("no input")
	}
	x := base.Float64s()
	if entries == nil {
		entries = make([]int, len(x))
		for i := range entries {
			entries[i] = i
		}
	}
	rc := cfg.Reference()
	feed := reference.Inputs{}
	for k, v := range in {
		feed[k] = v
	}
	// Parts of a loss without gradient stay at the point (see
	// reference.DetachedInput).
	feed[reference.DetachedInput] = base
	buf := append([]float64{}, x...)
	eval := func() (float64, error) {
		feed["input"] = tensor.FromFloat64(base.Shape, buf)
		out, err := s.Reference(feed, rc)
		if err != nil {
			return 0, fmt.Errorf("reference: %w", err)
		}
		sum := 0.0
		for _, v := range out.Float64s() {
			sum += v
		}
		return sum, nil
	}
	f0, err := eval()
	if err != nil {
		return nil, err
	}
	n := len(entries)
	fd := &FDGradient{Index: append([]int{}, entries...), Grad: make([]float64, n), Lo: make([]float64, n),
		Hi: make([]float64, n), Step: make([]float64, n), Noise: make([]float64, n), Edge: make([]bool, n),
		Loss: f0, Entries: len(x)}
	for _, v := range x {
		fd.MaxAbsX = math.Max(fd.MaxAbsX, math.Abs(v))
	}
	var f [4]float64
	for k, i := range entries {
		xi := x[i]
		// The step actually taken: x + h rounds to a multiple of x's unit
		// in the last place (1.8e-12 at 1e4, a relative error of 2e-8 in
		// a step of 1e-4), and x ± h, x ± 2h are then exact.
		h := step(xi, cfg.FromLogits) * shrink
		h = (xi + h) - xi
		fd.Step[k] = h
		fd.Edge[k] = !cfg.FromLogits && (xi <= 0 || xi >= 1)
		big := math.Abs(f0)
		for j, m := range []float64{-2, -1, 1, 2} {
			buf[i] = xi + m*h
			if f[j], err = eval(); err != nil {
				return nil, err
			}
			big = math.Max(big, math.Abs(f[j]))
		}
		buf[i] = xi
		fm2, fm1, fp1, fp2 := f[0], f[1], f[2], f[3]
		fd.Grad[k] = (fm2 - 8*fm1 + 8*fp1 - fp2) / (12 * h)
		fd.Lo[k] = (3*f0 - 4*fm1 + fm2) / (2 * h)
		fd.Hi[k] = (-3*f0 + 4*fp1 - fp2) / (2 * h)
		fd.Noise[k] = 4 * 0x1p-52 * big / h
		if !fd.Edge[k] {
			fd.Scale = math.Max(fd.Scale, math.Abs(fd.Grad[k]))
		}
	}
	return fd, nil
}

// step is the finite-difference step at x.
func step(x float64, logits bool) float64 {
	if logits {
		return GradStep
	}
	m := math.Min(x, 1-x)
	if m <= 0 {
		return GradStep // at the domain's edge: see FDGradient.Edge
	}
	return GradStep * math.Min(m, 1)
}

// GradTolerance is the error budget of a gradient entry (see GradRelTol):
// Rel·|fd| + (Abs + Cond·max|x|)·scale + Floor, plus the finite
// differences' own rounding.
type GradTolerance struct {
	Rel, Abs float64
	// Cond is the precision of the arithmetic per unit of input magnitude.
	Cond float64
	// Floor is an absolute allowance: the spacing of the output type's
	// subnormal numbers.
	Floor float64
	// Unit is the rounding unit of the arithmetic: Unit·|loss|/entries,
	// one rounding of the loss spread over the input, is the budget of a
	// gradient that vanishes at every point of a geometry.
	Unit float64
}

// GradToleranceFor returns the budget for an input type: float32 arithmetic
// (float32, float16 and bfloat16 inputs compute in float32) or float64, plus
// the rounding of the gradient to a half-precision input type.
func GradToleranceFor(dt tensor.DType) GradTolerance {
	const cond32, cond64 = 16 * 0x1p-24, 16 * 0x1p-53
	switch dt {
	case tensor.Float64:
		return GradTolerance{Rel: 1e-8, Abs: 1e-8, Cond: cond64, Unit: 0x1p-53}
	case tensor.Float16:
		return GradTolerance{Rel: GradRelTol + 0x1p-10, Abs: GradAbsTol, Cond: cond32, Floor: 0x1p-24, Unit: 0x1p-24}
	case tensor.BFloat16:
		return GradTolerance{Rel: GradRelTol + 0x1p-7, Abs: GradAbsTol, Cond: cond32, Unit: 0x1p-24}
	}
	return GradTolerance{Rel: GradRelTol, Abs: GradAbsTol, Cond: cond32, Unit: 0x1p-24}
}

// GradResult compares input_grad with finite differences on one case.
type GradResult struct {
	Config, Case string
	// Graph is ONNX Runtime's input_grad; FD the finite differences.
	Graph *tensor.Tensor
	FD    *FDGradient
	// Checked is the number of entries compared with the central
	// difference; Kinks the number judged by their one-sided derivatives;
	// Edges the number of probabilities of exactly 0 or 1, checked finite.
	Checked, Kinks, Edges int
	// Moved is the number of entries of a random point moved off a kink.
	Moved int
	// FiniteOnly marks an edge case with logits of ±1e4 of a loss that
	// selects among entries (MaxPool, TopK): checked finite only (see
	// GradRelTol).
	FiniteOnly bool
	// MaxErr is the largest error as a fraction of its budget: at most 1
	// passes.
	MaxErr float64
	// MaxRel is the largest |graph - fd| / Scale, for reports.
	MaxRel float64
	// Scale is the gradient scale the budget used: the geometry's or the
	// case's own, whichever is larger.
	Scale float64
	// Worst describes the worst entry, for reports.
	Worst string
	Err   error
	// kinked lists the entries found on a kink at a random point.
	kinked []int
}

// OK reports whether the case passed.
func (r *GradResult) OK() bool { return r.Err == nil && r.MaxErr <= 1 }

// CompareGrad checks a graph's input_grad against finite differences of
// the reference at the same inputs. scale is the gradient scale of the
// case's geometry; the budget uses it or the largest |fd| of the case off
// kinks, whichever is larger (see GradRelTol). edgeCase says whether
// entries may sit on a kink, where they are checked finite only; elsewhere
// a kink is an error.
func CompareGrad(got *tensor.Tensor, fd *FDGradient, tol GradTolerance, scale float64, edgeCase bool) (res GradResult) {
	res.Graph, res.FD = got, fd
	if got == nil {
		res.Err = fmt.Errorf("no input_grad output")
		return res
	}
	g := got.Float64s()
	for i, v := range g {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			res.Err = fmt.Errorf("input_grad[%d] = %v is not finite", i, v)
			return res
		}
	}
	// The case's own scale counts only entries where the one-sided
	// derivatives agree: a jump's differences are no gradient.
	for k := range fd.Index {
		if !fd.Edge[k] && math.Abs(fd.Hi[k]-fd.Lo[k]) <= 1e-3*math.Max(math.Abs(fd.Hi[k]), math.Abs(fd.Lo[k])) {
			scale = math.Max(scale, math.Abs(fd.Grad[k]))
		}
	}
	res.Scale = scale
	tiny := 1e-30
	if fd.Entries > 0 {
		tiny += tol.Unit * math.Abs(fd.Loss) / float64(fd.Entries)
	}
	f32 := GradToleranceFor(tensor.Float32)
	for k, i := range fd.Index {
		if i >= len(g) {
			res.Err = fmt.Errorf("input_grad has %d entries, the input more", len(g))
			return res
		}
		if fd.Edge[k] {
			if !edgeCase {
				res.Err = fmt.Errorf("entry %d is a probability of %v, at the clamp: not a generic point", i, fd.Grad[k])
				return res
			}
			res.Edges++
			continue
		}
		abs := (tol.Abs+tol.Cond*fd.MaxAbsX)*scale + fd.Noise[k] + tol.Floor + tiny
		// |d+ - d-| bounds the central difference's own truncation error
		// from above (see GradRelTol).
		budget := tol.Rel*math.Abs(fd.Grad[k]) + abs + math.Abs(fd.Hi[k]-fd.Lo[k])
		// Kinks are told apart at the float32 budget whatever the type, but
		// for the part for large inputs, which is about the graph's
		// arithmetic, not the reference's: the one-sided derivatives of a
		// smooth function differ by about h³·f⁗/2, far below it, and a
		// kink smaller than it left in would make a float64 comparison
		// fail, not pass.
		kabs := f32.Abs*scale + fd.Noise[k] + tol.Floor + tiny
		kink := f32.Rel*math.Abs(fd.Grad[k]) + kabs
		var e float64
		if math.Abs(fd.Hi[k]-fd.Lo[k]) <= kink {
			res.Checked++
			e = math.Abs(g[i]-fd.Grad[k]) / budget
		} else {
			// At an edge case the one-sided derivatives do not decide the
			// gradient (see GradRelTol): the entry is checked finite.
			res.Kinks++
			if !edgeCase {
				res.kinked = append(res.kinked, i)
				res.Err = fmt.Errorf("entry %d sits on a kink of the reference (one-sided derivatives %.6g and %.6g) at a random point", i, fd.Lo[k], fd.Hi[k])
			}
			continue
		}
		if e > res.MaxErr {
			res.MaxErr = e
			res.Worst = fmt.Sprintf("entry %d: graph %.9g, finite differences %.9g (one-sided %.9g, %.9g)", i, g[i], fd.Grad[k], fd.Lo[k], fd.Hi[k])
		}
		if scale > 0 {
			res.MaxRel = math.Max(res.MaxRel, math.Abs(g[i]-fd.Grad[k])/scale)
		}
	}
	return res
}

// GradConfigs lists the option sets gradient verification covers for a
// loss: every configuration of Configs with grad set but those with
// reduction none (input_grad needs a scalar loss), and the first mode with
// float64, float16 and bfloat16 inputs.
func GradConfigs(s *losses.Spec) []Config {
	var out []Config
	for _, c := range Configs(s, losses.Options{"grad": "true"}) {
		if c.Options["reduction"] != "none" {
			out = append(out, c)
		}
	}
	mode := string(s.Modes[0])
	for _, dt := range []string{"float64", "float16", "bfloat16"} {
		out = append(out, Config{Spec: s, Label: mode + " dtype=" + dt,
			Options: losses.Options{"grad": "true", "mode": mode, "dtype": dt}})
	}
	return out
}

// GradRunner verifies input_grad on one ONNX Runtime provider.
type GradRunner struct {
	Runtime runtime.Options
	Seed    uint64
	// Sampled overrides GradSampled when positive; negative differentiates
	// every entry.
	Sampled int
}

// Run builds a configuration's graph with its gradient once, runs every
// case of Cases through it, and compares input_grad with finite differences
// of the reference. An error building or loading the graph is returned as a
// single failed result.
func (r *GradRunner) Run(c Config) []GradResult {
	fail := func(err error) []GradResult {
		return []GradResult{{Config: c.Label, Case: "build", Err: err}}
	}
	opts := losses.Options{}
	for k, v := range c.Options {
		opts[k] = v
	}
	opts["grad"] = "true"
	cfg, err := losses.Resolve(c.Spec, opts)
	if err != nil {
		return fail(err)
	}
	sess, err := losssession.OpenConfig(c.Spec, cfg, r.Runtime)
	if err != nil {
		return fail(err)
	}
	defer sess.Close()
	tol := GradToleranceFor(cfg.DType)
	ties, err := selectsAmongEntries(c.Spec, cfg)
	if err != nil {
		return fail(err)
	}
	// First every case is run and differentiated, so that each geometry's
	// scale is the largest gradient of its cases at logits of moderate
	// size (random values, empty and full targets), whichever comes first.
	cases := Cases(c.Spec, cfg, r.Seed)
	firsts := make([]*gradPoint, len(cases))
	scales := map[string]float64{} // geometry → scale
	for i, cs := range cases {
		kind, geometry, _ := strings.Cut(cs.Label, " ")
		p, err := r.point(c, cfg, sess, cs.Label, cs.Inputs)
		if err != nil {
			firsts[i] = &gradPoint{err: err}
			continue
		}
		firsts[i] = p
		if !kinkKinds[kind] {
			_, pfd := Project(cfg, p.got, p.fd)
			scales[geometry] = math.Max(scales[geometry], pfd.Scale)
		}
	}
	var out []GradResult
	for i, cs := range cases {
		kind, geometry, _ := strings.Cut(cs.Label, " ")
		res := r.check(c, cfg, sess, cs, tol, scales[geometry], kinkKinds[kind], firsts[i])
		if ties && kinkKinds[kind] && res.Err == nil {
			// Logits of ±1e4 make exact ties in a pooling window or a
			// top-k: see GradRelTol.
			res.FiniteOnly, res.MaxErr, res.MaxRel, res.Worst = true, 0, 0, ""
		}
		res.Config, res.Case = c.Label, cs.Label
		out = append(out, res)
	}
	return out
}

// CheckAt compares input_grad, computed by a graph at the inputs in, with
// finite differences of the reference at the same point, as `onnxloss eval`
// reports it: on the entries Entries picks, within the budget of the
// input's dtype, multiclass probabilities along the simplex (see Project).
// Every entry is judged as at an edge case: one on a kink of the reference
// is checked by its one-sided derivatives, not refused. The result's FD
// holds the differences before Project.
func (r *GradRunner) CheckAt(s *losses.Spec, cfg *losses.Config, in reference.Inputs, grad *tensor.Tensor) (GradResult, error) {
	entries := r.Entries(Case{Label: "eval", Inputs: in}, cfg)
	fd, err := FiniteDifferences(s, cfg, in, entries)
	if err != nil {
		return GradResult{}, err
	}
	// The geometry's scale, as Run takes it from the cases at logits of
	// moderate size: here the same target and extra inputs with random
	// logits. Without it, saturated logits, whose gradient entries are all
	// tiny, would be held to the rounding of those entries rather than of
	// the O(1) terms that cancel to give them.
	mfd, err := FiniteDifferences(s, cfg, moderate(cfg, in, r.Seed), entries)
	if err != nil {
		return GradResult{}, err
	}
	_, pm := Project(cfg, grad, mfd)
	pg, pfd := Project(cfg, grad, fd)
	res := CompareGrad(pg, pfd, GradToleranceFor(cfg.DType), pm.Scale, true)
	res.Graph, res.FD = grad, fd
	return res, nil
}

// moderate returns in with its input replaced by random logits of the same
// shape (N(0, 4), as the verification's random cases), or their
// probabilities when the configuration takes probabilities.
func moderate(cfg *losses.Config, in reference.Inputs, seed uint64) reference.Inputs {
	x := in["input"]
	n, c, spatial := splitShape(x.Shape, cfg.Layout)
	S := tensor.NumElements(spatial)
	rng := rand.New(rand.NewPCG(seed, 0x6d6f646572617465))
	v := make([]float64, n*c*S)
	for i := range v {
		v[i] = rng.NormFloat64() * 2
	}
	if !cfg.FromLogits {
		v = toProbabilities(v, n, c, S, cfg.Mode == losses.Multiclass)
	}
	out := reference.Inputs{}
	for k, t := range in {
		out[k] = t
	}
	out["input"] = layout(v, n, c, spatial, cfg.Layout, x.DType)
	return out
}

// selectsAmongEntries reports whether a selection among entries (MaxPool,
// TopK) lies on the path from input to loss.
func selectsAmongEntries(s *losses.Spec, cfg *losses.Config) (bool, error) {
	g, err := losses.Build(s, cfg)
	if err != nil {
		return false, err
	}
	for _, n := range builder.GradientPath(g.OutputValue("loss"), g.InputByName("input")) {
		if n.Op() == "MaxPool" || n.Op() == "TopK" {
			return true, nil
		}
	}
	return false, nil
}

// gradPoint is input_grad and the finite differences at one point.
type gradPoint struct {
	got *tensor.Tensor
	fd  *FDGradient
	err error
}

// point runs the graph and differentiates the reference at in.
func (r *GradRunner) point(c Config, cfg *losses.Config, sess *losssession.Session, label string, in reference.Inputs) (*gradPoint, error) {
	got, err := sess.Run(in)
	if err != nil {
		return nil, fmt.Errorf("onnx runtime: %w", err)
	}
	fd, err := FiniteDifferences(c.Spec, cfg, in, r.Entries(Case{Label: label, Inputs: in}, cfg))
	if err != nil {
		return nil, err
	}
	return &gradPoint{got: got["input_grad"], fd: fd}, nil
}

// check compares one case, given its first point when already computed,
// moving a random point off kinks (see GradRelTol).
func (r *GradRunner) check(c Config, cfg *losses.Config, sess *losssession.Session, cs Case, tol GradTolerance, scale float64, edgeCase bool, first *gradPoint) GradResult {
	in := cs.Inputs
	moved := 0
	for attempt := 0; ; attempt++ {
		p := first
		if attempt > 0 || p == nil {
			var err error
			if p, err = r.point(c, cfg, sess, cs.Label, in); err != nil {
				return GradResult{Err: err}
			}
		}
		if p.err != nil {
			return GradResult{Err: p.err}
		}
		got, fd := p.got, p.fd
		g, pfd := Project(cfg, got, fd)
		res := CompareGrad(g, pfd, tol, scale, edgeCase)
		res.Graph, res.FD = got, fd
		res.Moved = moved
		if len(res.kinked) > 0 {
			// A smooth function with large higher derivatives also has
			// one-sided derivatives that differ at the step h; at h/10 they
			// come 1000 times closer, a kink's stay apart.
			fine, err := finiteDifferences(c.Spec, cfg, in, res.kinked, 0.1)
			if err != nil {
				return GradResult{Err: err}
			}
			fd = refine(fd, fine)
			g, pfd = Project(cfg, got, fd)
			res = CompareGrad(g, pfd, tol, scale, edgeCase)
			res.Graph, res.FD = got, fd
			res.Moved = moved
		}
		if len(res.kinked) == 0 || attempt == 3 {
			return res
		}
		in = moveOff(in, p.fd, res.kinked, cfg.FromLogits, attempt)
		moved += len(res.kinked)
	}
}

// refine returns fd with the entries of fine, differences at a smaller
// step, in place of its own.
func refine(fd, fine *FDGradient) *FDGradient {
	out := *fd
	out.Grad, out.Lo, out.Hi = append([]float64{}, fd.Grad...), append([]float64{}, fd.Lo...), append([]float64{}, fd.Hi...)
	out.Step, out.Noise = append([]float64{}, fd.Step...), append([]float64{}, fd.Noise...)
	for j, i := range fine.Index {
		k := sort.SearchInts(fd.Index, i)
		out.Grad[k], out.Lo[k], out.Hi[k] = fine.Grad[j], fine.Lo[j], fine.Hi[j]
		out.Step[k], out.Noise[k] = fine.Step[j], fine.Noise[j]
	}
	out.Scale = 0
	for k, v := range out.Grad {
		if !out.Edge[k] {
			out.Scale = math.Max(out.Scale, math.Abs(v))
		}
	}
	return &out
}

// Entries picks the entries of a case to differentiate: every channel of
// up to GradSampled/C pixels (all pixels when that covers them), so that a
// pixel's gradient can be projected (see Project).
func (r *GradRunner) Entries(cs Case, cfg *losses.Config) []int {
	k := GradSampled
	if r.Sampled != 0 {
		k = r.Sampled
	}
	x := cs.Inputs["input"]
	n, c, spatial := splitShape(x.Shape, cfg.Layout)
	pixels := n * tensor.NumElements(spatial)
	want := max(k/c, 1)
	if k < 0 || pixels <= want {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(cs.Label))
	pick := rand.New(rand.NewPCG(r.Seed, h.Sum64())).Perm(pixels)[:want]
	return pixelEntries(x.Shape, cfg.Layout, pick)
}

// splitShape returns N, C and the spatial shape of an input in its layout.
func splitShape(shape []int, layout losses.Layout) (n, c int, spatial []int) {
	if layout == losses.NHWC {
		return shape[0], shape[len(shape)-1], shape[1 : len(shape)-1]
	}
	return shape[0], shape[1], shape[2:]
}

// pixelEntries lists, in increasing order, the entries of every channel of
// the given pixels (indices into N×spatial).
func pixelEntries(shape []int, layout losses.Layout, pixels []int) []int {
	_, c, spatial := splitShape(shape, layout)
	sz := tensor.NumElements(spatial)
	var out []int
	for _, p := range pixels {
		b, s := p/sz, p%sz
		for ch := 0; ch < c; ch++ {
			if layout == losses.NHWC {
				out = append(out, (b*sz+s)*c+ch)
			} else {
				out = append(out, (b*c+ch)*sz+s)
			}
		}
	}
	sort.Ints(out)
	return out
}

// Project prepares a comparison for multiclass probability inputs, which
// live on the simplex Σ_c p_c = 1 of each pixel. A loss written for such
// inputs has one gradient along the simplex but many off it: 1 - p_y and
// Σ_{c≠y} p_c are the same number there and differ off it, and a graph and
// a reference may well use one each. Only the gradient along the simplex
// means anything (it is what training through a softmax sees), so both are
// projected on it: each pixel's mean over its channels is subtracted. The
// finite differences must hold every channel of the pixels they sample
// (GradRunner.Entries does). Project returns the projected graph gradient
// and finite differences; other configurations are returned as they are.
func Project(cfg *losses.Config, got *tensor.Tensor, fd *FDGradient) (*tensor.Tensor, *FDGradient) {
	if cfg.Mode != losses.Multiclass || cfg.FromLogits || got == nil {
		return got, fd
	}
	n, c, spatial := splitShape(got.Shape, cfg.Layout)
	_ = n
	sz := tensor.NumElements(spatial)
	pixelOf := func(i int) int {
		if cfg.Layout == losses.NHWC {
			return i / c
		}
		b := i / (c * sz)
		return b*sz + i%sz
	}
	g := got.Float64s()
	out := &FDGradient{Index: fd.Index, Grad: append([]float64{}, fd.Grad...), Lo: append([]float64{}, fd.Lo...),
		Hi: append([]float64{}, fd.Hi...), Step: fd.Step, Noise: append([]float64{}, fd.Noise...),
		Edge: append([]bool{}, fd.Edge...), MaxAbsX: fd.MaxAbsX, Loss: fd.Loss, Entries: fd.Entries}
	groups := map[int][]int{} // pixel → positions in fd.Index
	for k, i := range fd.Index {
		groups[pixelOf(i)] = append(groups[pixelOf(i)], k)
	}
	for _, ks := range groups {
		if len(ks) != c {
			continue // not a whole pixel: left as is
		}
		var mg, mf, ml, mh, noise float64
		edge := false
		for _, k := range ks {
			mg += g[fd.Index[k]]
			mf += fd.Grad[k]
			ml += fd.Lo[k]
			mh += fd.Hi[k]
			noise = math.Max(noise, fd.Noise[k])
			edge = edge || fd.Edge[k]
		}
		fc := float64(c)
		for _, k := range ks {
			g[fd.Index[k]] -= mg / fc
			out.Grad[k] -= mf / fc
			out.Lo[k] -= ml / fc
			out.Hi[k] -= mh / fc
			out.Noise[k] = 2 * noise
			out.Edge[k] = edge
		}
	}
	for k := range out.Grad {
		if !out.Edge[k] {
			out.Scale = math.Max(out.Scale, math.Abs(out.Grad[k]))
		}
	}
	return tensor.FromFloat64(got.Shape, g), out
}

// moveOff returns the inputs with the given entries of input moved by five
// steps or more (in the input's type, and inside (0, 1) for probabilities),
// which takes them out of the window of ±2 steps in which a kink was seen.
func moveOff(in reference.Inputs, fd *FDGradient, entries []int, logits bool, attempt int) reference.Inputs {
	x := in["input"]
	v := x.Float64s()
	for j, i := range entries {
		k := sort.SearchInts(fd.Index, i)
		// Distances 5h·(j+1)²: distinct, and so are the differences of
		// any two pairs of them (but rare coincidences) by several steps,
		// so that entries tied with each other, or pixels whose losses
		// depend on differences of entries (two equal pixel losses in a
		// selection), do not stay tied or come within the ±2h window
		// again. Equal spacings would keep x₂ - x₀ = x₃ - x₁.
		// Each attempt moves four times as far: a kink whose position
		// moves slowly with the entry (a tie between two errors that
		// depend on it alike) is left behind too.
		d := float64(5*(j+1)*(j+1)) * fd.Step[k] * math.Pow(4, float64(attempt))
		// In a half-precision input five steps may be less than a unit in
		// the last place, where the input's quantisation also makes ties
		// common: move by as many units then.
		d = math.Max(d, float64((j+1)*(j+1))*ulp(v[i], x.DType))
		for _, d := range []float64{d, -d} {
			moved := tensor.FromFloat64([]int{1}, []float64{v[i] + d}).Convert(x.DType).Float64s()[0]
			if math.Abs(moved-v[i]) >= 5*fd.Step[k] && (logits || (moved > 0 && moved < 1)) {
				v[i] = moved
				break
			}
		}
	}
	out := reference.Inputs{}
	for k, t := range in {
		out[k] = t
	}
	out["input"] = tensor.FromFloat64(x.Shape, v).Convert(x.DType)
	return out
}

// ulp returns the spacing of the input type's values near x (normal
// numbers; 0 for float64, whose steps are always representable).
func ulp(x float64, dt tensor.DType) float64 {
	bits := 0
	switch dt {
	case tensor.Float32:
		bits = 23
	case tensor.Float16:
		bits = 10
	case tensor.BFloat16:
		bits = 7
	default:
		return 0
	}
	if x == 0 {
		return 0
	}
	_, e := math.Frexp(x) // |x| = m·2^e, m in [0.5, 1)
	return math.Ldexp(1, e-1-bits)
}

// SummarizeGrad folds results into counts, for reports: cases, failures,
// entries at kinks, entries moved off kinks, the worst error (of budget)
// and the failures, worst first.
func SummarizeGrad(results []GradResult) (cases, failed, kinks, moved int, worst float64, failures []GradResult) {
	for _, res := range results {
		cases++
		kinks += res.Kinks
		moved += res.Moved
		worst = math.Max(worst, res.MaxErr)
		if !res.OK() {
			failed++
			failures = append(failures, res)
		}
	}
	sort.SliceStable(failures, func(i, j int) bool { return failures[i].MaxErr > failures[j].MaxErr })
	return cases, failed, kinks, moved, worst, failures
}
