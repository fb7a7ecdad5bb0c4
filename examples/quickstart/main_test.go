package main

import (
	"math"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
)

func TestQuickstart(t *testing.T) {
	testutil.RequireRuntime(t)
	graph, reference, err := compute()
	if err != nil {
		t.Fatal(err)
	}
	// Random logits over 3 classes give a cross-entropy near log 3.
	if math.Abs(graph-reference) > 1e-5*reference || graph < 0.5 || graph > 3 {
		t.Errorf("graph %v, reference %v", graph, reference)
	}
}
