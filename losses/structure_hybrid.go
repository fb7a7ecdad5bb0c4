package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
)

// Shared pieces of the hybrid losses (unet3p-hybrid, basnet-hybrid): the
// term weights and the IoU term.

// validateTermWeights refuses term weights that are not three.
func validateTermWeights(h *param.HybridTerms) error {
	if w := h.TermWeights; w != nil && len(w) != 3 {
		return fmt.Errorf("term_weights needs 3 values, got %d", len(w))
	}
	return nil
}

// iouLoss is the jaccard loss per (image, channel), averaged: 1 - (I + s)/(U + s)
// with I = Σ p·t and U = Σ p + Σ t - I.
func (c *Ctx) iouLoss(s float64) *Value {
	rc := regionConv{smoothNr: s, smoothDr: s, perImage: true, background: true, absent: "keep", weighting: "mean"}
	return c.overlapLossWith(rc, jaccardIndex, nil, true)
}
