// Command quickstart exports a cross-entropy loss with onnxloss, runs it in
// ONNX Runtime on a small batch, and prints the loss next to the value of
// onnxloss's Go reference implementation.
package main

import (
	"fmt"
	"log"
	"math/rand/v2"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

func main() {
	graph, reference, err := compute()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("cross-entropy: ONNX Runtime %.6f, Go reference %.6f\n", graph, reference)
}

// compute returns the loss from ONNX Runtime and from the reference.
func compute() (graph, reference float64, err error) {
	sess, err := losssession.Open("cross-entropy", losses.Options{"classes": "3", "ignore_index": "255"},
		runtime.Options{}) // runtime.Options{Provider: "cuda"} for a GPU
	if err != nil {
		return 0, 0, err
	}
	defer sess.Close()

	// A batch of 2 images of 4×5 pixels: random logits over 3 classes and
	// random labels, a few of them ignored.
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 2*3*4*5)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int64, 2*4*5)
	for i := range y {
		y[i] = int64(rng.IntN(3))
		if i%7 == 0 {
			y[i] = 255
		}
	}
	inputs := map[string]*tensor.Tensor{
		"input":  tensor.FromFloat32([]int{2, 3, 4, 5}, x),
		"target": tensor.FromInt64([]int{2, 4, 5}, y),
	}
	out, err := sess.Run(inputs)
	if err != nil {
		return 0, 0, err
	}
	ref, err := sess.Reference(inputs)
	if err != nil {
		return 0, 0, err
	}
	return out["loss"].Float64s()[0], ref.Float64s()[0], nil
}
