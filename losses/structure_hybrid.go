package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
)

// Shared pieces of the hybrid losses (unet3p-hybrid, basnet-hybrid): the
// term weights and the IoU term.

// validateTermWeights refuses term weights that are not three, or that
// leave every term out.
func validateTermWeights(h *param.HybridTerms) error {
	w := h.TermWeights
	if w == nil {
		return nil
	}
	if len(w) != 3 {
		return fmt.Errorf("term_weights needs 3 values, got %d", len(w))
	}
	if w[0] == 0 && w[1] == 0 && w[2] == 0 {
		return fmt.Errorf("term_weights 0,0,0 leaves every term out: give at least one weight above 0")
	}
	return nil
}

// A term weighted 0 is left out of the graph: it would add 0 (or carry a
// NaN of its own into the sum), and its options have no effect.

// scaleTerm returns w·v, or nil for a term left out (v nil).
func scaleTerm(v *Value, w float64) *Value {
	if v == nil {
		return nil
	}
	return MulScalar(v, w)
}

// addTerms adds the terms that are not left out.
func addTerms(a, b *Value) *Value {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return Add(a, b)
}

// iouLoss is the jaccard loss per (image, channel), averaged: 1 - (I + s)/(U + s)
// with I = Σ p·t and U = Σ p + Σ t - I.
func (c *Ctx) iouLoss(s float64) *Value {
	o := param.Overlap{SmoothNr: s, SmoothDr: s, PerImage: true, Average: param.AverageMacro, Intersection: param.IntersectionProduct, IncludeBackground: true, AbsentClasses: param.AbsentKeep, ClassWeighting: param.ClassWeightingMean}
	return c.overlapLossWith(&o, jaccardIndex, nil, true)
}
