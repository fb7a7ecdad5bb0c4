package reference

import (
	"math"
	"sort"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// lovaszExtension returns Σ_i e_(i)·g_i over the entries sorted by
// decreasing error e, where g is the gradient of the Lovász extension of the
// Jaccard loss at the sorted ground truth (Berman et al., Alg. 1):
// J_i = 1 - (G - Σ_{j≤i} gt_j)/(G + Σ_{j≤i} (1 - gt_j)), g_1 = J_1,
// g_i = J_i - J_{i-1}. The entries are given as they are (ignored ones
// already removed); an empty set gives 0.
func lovaszExtension(errs, gt []float64) float64 {
	idx := make([]int, len(errs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return errs[idx[a]] > errs[idx[b]] })
	total := 0.0
	for _, v := range gt {
		total += v
	}
	loss, prev, cumGT, cumNeg := 0.0, 0.0, 0.0, 0.0
	for _, i := range idx {
		cumGT += gt[i]
		cumNeg += 1 - gt[i]
		jac := 1 - (total-cumGT)/(total+cumNeg)
		loss += errs[i] * (jac - prev)
		prev = jac
	}
	return loss
}

// LovaszHinge is the Lovász hinge of Berman et al. on logits: errors
// 1 - x·(2t - 1), clipped at 0, per image (per_image) or over the batch,
// with every channel in one problem (channels=joint, as
// segmentation_models_pytorch does in multilabel mode) or one problem per
// channel averaged (channels=separate). Ignored entries are left out.
// Probability inputs are turned into logits log p - log(1-p).
func LovaszHinge(in Inputs, c *Config, lp *param.LovaszHinge) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	perImage := lp.PerImage
	separate := lp.Channels == param.ChannelsSeparate
	images := []int{-1}
	if perImage {
		images = images[:0]
		for n := 0; n < p.N; n++ {
			images = append(images, n)
		}
	}
	groups := [][]int{nil}
	if separate {
		groups = groups[:0]
		for ch := 0; ch < p.C; ch++ {
			groups = append(groups, []int{ch})
		}
	}
	var losses []float64
	for _, img := range images {
		for _, grp := range groups {
			var errs, gt []float64
			for n := 0; n < p.N; n++ {
				if img >= 0 && n != img {
					continue
				}
				for ch := 0; ch < p.C; ch++ {
					if grp != nil && ch != grp[0] {
						continue
					}
					for s := 0; s < p.S; s++ {
						if !p.Valid[n][ch][s] {
							continue
						}
						x := p.X[n][ch][s]
						if !c.FromLogits {
							x = ClampedLog(x) - ClampedLog(1-x)
						}
						t := p.T[n][ch][s]
						errs = append(errs, math.Max(1-x*(2*t-1), 0))
						gt = append(gt, t)
					}
				}
			}
			losses = append(losses, lovaszExtension(errs, gt))
		}
	}
	return aggregate(c, losses), nil
}

// aggregate reduces the losses of problems (images×groups, or the sets of
// Lovász-Softmax): their sum or their mean (every image has as many
// groups). There is no reduction none.
func aggregate(c *Config, losses []float64) *tensor.Tensor {
	s := 0.0
	for _, v := range losses {
		s += v
	}
	return reduce(c, nil, s, float64(len(losses)))
}

// LovaszSoftmax is the Lovász-Softmax loss of Berman et al.: for each class c,
// the Lovász extension of the errors |fg_c - p_c| over the valid pixels of an
// image (per_image) or of the batch; classes=present skips classes absent
// from the target there. Class losses are averaged with the class weights
// (Σ w_c l_c / Σ w_c over the classes counted, 0 when none is), and images
// averaged.
// With class_weighting=scale the weighted sum is divided by the number of
// classes counted instead.
func LovaszSoftmax(in Inputs, c *Config, lp *param.LovaszSoftmax) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	scale := lp.ClassWeighting == param.ClassWeightingScale && c.ClassWeights != nil
	return aggregate(c, lovaszSoftmaxSets(p, c, &lp.LovaszSoftmaxTerm, p.Probs(c), scale)), nil
}

// LovaszSoftmaxTerm is LovaszSoftmax with the term's options, for duo too.
func LovaszSoftmaxTerm(in Inputs, c *Config, lp *param.LovaszSoftmaxTerm) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	return aggregate(c, lovaszSoftmaxSets(p, c, lp, p.Probs(c), false)), nil
}

// lovaszSoftmaxSets returns the loss of each image (per_image) or of the
// batch: the weighted mean of its class losses; with --reduction sum, their
// weighted sum.
func lovaszSoftmaxSets(p *Problem, c *Config, lp *param.LovaszSoftmaxTerm, probs [][][]float64, scale bool) []float64 {
	present := lp.ClassSet == param.ClassSetPresent
	images := [][]int{}
	if lp.PerImage {
		for n := 0; n < p.N; n++ {
			images = append(images, []int{n})
		}
	} else {
		all := make([]int, p.N)
		for n := range all {
			all[n] = n
		}
		images = append(images, all)
	}
	var out []float64
	for _, img := range images {
		num, den := 0.0, 0.0
		for ch := 0; ch < p.C; ch++ {
			var errs, fg []float64
			for _, n := range img {
				for s := 0; s < p.S; s++ {
					if !p.Valid[n][ch][s] {
						continue
					}
					t := p.T[n][ch][s]
					errs = append(errs, math.Abs(t-probs[n][ch][s]))
					fg = append(fg, t)
				}
			}
			sum := 0.0
			for _, v := range fg {
				sum += v
			}
			if present && sum == 0 {
				continue
			}
			w := classWeight(c, ch)
			num += w * lovaszExtension(errs, fg)
			if scale {
				den++
			} else {
				den += w
			}
		}
		if c.Reduction == param.Sum {
			out = append(out, num)
		} else {
			out = append(out, SafeDiv(num, den))
		}
	}
	return out
}
