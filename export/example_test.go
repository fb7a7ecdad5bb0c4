package export_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/losses"
)

// A loss by name, with its options as the command line takes them.
func ExampleLoss() {
	m, cfg, err := export.Loss("cross-entropy", losses.Options{"classes": "21", "ignore_index": "255"})
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range m.Graph.Input {
		fmt.Println("input", in.GetName())
	}
	for _, out := range m.Graph.Output {
		fmt.Println("output", out.GetName())
	}
	fmt.Println(cfg.Mode, cfg.Classes, *cfg.IgnoreIndex)
	// Output:
	// input input
	// input target
	// output loss
	// multiclass 21 255
}

// The same loss family with typed parameters: a misspelled field does not
// compile, and the model is byte for byte the one the string form gives.
func ExampleLossOf() {
	d := losses.Defaults[losses.Dice]()
	d.Mode, d.Classes, d.SmoothNr, d.SmoothDr = losses.Multiclass, 3, 1, 1
	typed, _, err := export.LossOf(d)
	if err != nil {
		log.Fatal(err)
	}
	named, _, err := export.Loss("dice", losses.Options{"mode": "multiclass", "classes": "3", "smooth_nr": "1", "smooth_dr": "1"})
	if err != nil {
		log.Fatal(err)
	}
	a, _ := export.Marshal(typed)
	b, _ := export.Marshal(named)
	fmt.Println(string(a) == string(b))
	// Output: true
}

// A loss attached to a model exported by PyTorch: the result takes the
// model's input and the target, and outputs the loss first.
func ExampleAppendFile() {
	dir, err := os.MkdirTemp("", "onnxloss-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "train.onnx")
	rep, err := export.AppendFile(filepath.Join("..", "testdata", "onnx", "models", "fcn_small.onnx"), out,
		export.AppendOptions{Loss: "dice", LossOptions: losses.Options{"preset": "smp"}})
	if err != nil {
		log.Fatal(err)
	}
	lm, err := export.LoadModel(out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Config.Loss, rep.Config.Mode, rep.Config.Classes)
	fmt.Println("first output:", lm.Proto.Graph.Output[0].GetName())
	// Output:
	// dice multiclass 3
	// first output: loss
}
