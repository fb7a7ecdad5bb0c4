// Command splice attaches onnxloss's cross-entropy to a segmentation model
// exported by PyTorch and runs the result, image and target in, loss out, in
// ONNX Runtime.
//
// Usage:
//
//	/usr/bin/python3 examples/splice/export_model.py DIR   # model.onnx, image.npy, target.npy
//	go run ./examples/splice DIR                           # DIR/train.onnx and the loss
//
// The same splice on the command line is
//
//	onnxloss append --model DIR/model.onnx cross-entropy --ignore-index 255 --out DIR/train.onnx
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: splice DIR (a folder written by export_model.py)")
		os.Exit(2)
	}
	loss, rep, err := run(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range rep.Notes {
		fmt.Println(n)
	}
	fmt.Printf("outputs %v; loss %.6f\n", rep.Outputs, loss)
}

// run splices cross-entropy onto dir/model.onnx, writes dir/train.onnx and
// returns its loss on dir/image.npy and dir/target.npy.
func run(dir string) (float64, *export.AppendReport, error) {
	train := filepath.Join(dir, "train.onnx")
	rep, err := export.AppendFile(filepath.Join(dir, "model.onnx"), train, export.AppendOptions{
		Loss:        "cross-entropy",
		LossOptions: losses.Options{"ignore_index": "255"},
	})
	if err != nil {
		return 0, nil, err
	}
	image, err := tensor.LoadNPY(filepath.Join(dir, "image.npy"))
	if err != nil {
		return 0, nil, err
	}
	target, err := tensor.LoadNPY(filepath.Join(dir, "target.npy"))
	if err != nil {
		return 0, nil, err
	}
	sess, err := runtime.NewSessionFromFile(train, runtime.Options{})
	if err != nil {
		return 0, nil, err
	}
	defer sess.Close()
	out, err := sess.Run(map[string]*tensor.Tensor{"image": image, rep.Target: target})
	if err != nil {
		return 0, nil, err
	}
	return out[rep.LossOutput].Float64s()[0], rep, nil
}
