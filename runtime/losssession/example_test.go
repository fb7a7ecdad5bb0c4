package losssession_test

import (
	"fmt"
	"log"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// A loss run in ONNX Runtime next to its float64 Go reference. It needs
// ONNX Runtime's shared library (scripts/install-onnxruntime.sh, or
// ONNXLOSS_ORT_LIB).
func ExampleOpen() {
	sess, err := losssession.Open("cross-entropy", losses.Options{"classes": "2"}, runtime.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	in := map[string]*tensor.Tensor{
		// Two pixels: logits (2, 0) with label 0, and (0, 0) with label 1:
		// (log(1 + e^-2) + log 2) / 2 = 0.41004.
		"input":  tensor.FromFloat32([]int{1, 2, 1, 2}, []float32{2, 0, 0, 0}),
		"target": tensor.FromInt64([]int{1, 1, 2}, []int64{0, 1}),
	}
	out, err := sess.Run(in)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := sess.Reference(in)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ONNX Runtime %.5f, reference %.5f\n", out["loss"].Float64s()[0], ref.Float64s()[0])
	// Output: ONNX Runtime 0.41004, reference 0.41004
}
