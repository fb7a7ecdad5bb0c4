// Command finetune fine-tunes torchvision's LR-ASPP MobileNetV3-Large, as
// PyTorch exports it, on synthetic shapes with an onnxloss loss, every
// computation in ONNX Runtime:
//
//  1. scripts/export_models.py --set finetune exports the model with random
//     weights (PyTorch from /usr/bin/python3), its BatchNorms kept so that
//     its weights keep their PyTorch names;
//  2. train.Shapes draws discs (class 1) and squares (class 2) on noisy
//     backgrounds, written as .npy pairs;
//  3. train.Run builds the model's training graph with the loss and AdamW,
//     trains, scores the held-out split after every epoch and writes the
//     checkpoint, a plain ONNX model with the trained weights;
//  4. the program draws the loss and mIoU curves into curve.svg.
//
// load_in_pytorch.py loads the checkpoint back into torchvision's model
// with load_state_dict and checks its prediction against ONNX Runtime's.
//
//	go run ./examples/finetune -out finetune-out
//	go run ./examples/finetune -loss focal -epochs 12 -out finetune-out
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/train"
)

// Config says how to fine-tune.
type Config struct {
	// Model is the exported model; "" exports it into Out.
	Model string
	// Loss and LossOptions name the loss.
	Loss        string
	LossOptions losses.Options
	// Samples images of Size×Size pixels are drawn; a fifth is held out.
	Samples, Size int
	// Epochs, Batch and LR size the run (AdamW).
	Epochs, Batch int
	LR            float64
	// Out is the folder for the model, data, checkpoint and curve.
	Out string
	// Log receives the progress.
	Log io.Writer
}

// DefaultConfig is the run the README shows and the test checks: eight
// epochs of 64 training images, about a minute and a half on two cores.
func DefaultConfig() Config {
	return Config{Loss: "dice-ce", Samples: 80, Size: 64, Epochs: 8, Batch: 8, LR: 5e-3, Out: "finetune-out", Log: os.Stdout}
}

// Export writes the model into dir with scripts/export_models.py and
// returns its path.
func Export(root, dir string) (string, error) {
	cmd := exec.Command("/usr/bin/python3", filepath.Join(root, "scripts", "export_models.py"), dir, "--set", "finetune")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("exporting the model: %v\n%s", err, b)
	}
	return filepath.Join(dir, "lraspp_mobilenet_v3_large_unfused.onnx"), nil
}

// Run fine-tunes as cfg says and returns the result; root is the
// repository's folder (for the export script).
func Run(root string, cfg Config) (*train.Result, error) {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	if cfg.Model == "" {
		m, err := Export(root, cfg.Out)
		if err != nil {
			return nil, err
		}
		cfg.Model = m
	}
	data := filepath.Join(cfg.Out, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	if err := train.WriteDir(data, train.Shapes(cfg.Samples, cfg.Size, 1)); err != nil {
		return nil, err
	}
	res, err := train.Run(context.Background(), train.Config{
		Model: cfg.Model, Loss: cfg.Loss, LossOptions: cfg.LossOptions, Data: data,
		Epochs: cfg.Epochs, Batch: cfg.Batch, LR: cfg.LR, Out: filepath.Join(cfg.Out, "finetuned.onnx"), Seed: 1,
		Progress: func(e train.Event) {
			switch e.Kind {
			case "step":
				if e.Step == e.Steps {
					fmt.Fprintf(cfg.Log, "epoch %d/%d: loss %.4f (%.1f images/s)\n", e.Epoch, e.Epochs, e.Loss, e.ImagesPerSec)
				}
			case "eval":
				fmt.Fprintf(cfg.Log, "  held-out mIoU %.3f, Dice %.3f\n", e.Metrics.MIoU, e.Metrics.Dice)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	title := fmt.Sprintf("LR-ASPP MobileNetV3-Large fine-tuned with %s on synthetic shapes (%d×%d, batch %d, AdamW %g)",
		cfg.Loss, cfg.Size, cfg.Size, cfg.Batch, cfg.LR)
	if err := os.WriteFile(filepath.Join(cfg.Out, "curve.svg"), []byte(Curve(res, title)), 0o644); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(res, "", " ")
	if err := os.WriteFile(filepath.Join(cfg.Out, "result.json"), b, 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

func main() {
	cfg := DefaultConfig()
	flag.StringVar(&cfg.Model, "model", "", "the exported model (default: export torchvision's lraspp_mobilenet_v3_large into -out)")
	flag.StringVar(&cfg.Loss, "loss", cfg.Loss, "the onnxloss loss")
	flag.IntVar(&cfg.Samples, "samples", cfg.Samples, "synthetic images")
	flag.IntVar(&cfg.Size, "size", cfg.Size, "image size")
	flag.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "epochs")
	flag.IntVar(&cfg.Batch, "batch", cfg.Batch, "batch size")
	flag.Float64Var(&cfg.LR, "lr", cfg.LR, "AdamW's learning rate")
	flag.StringVar(&cfg.Out, "out", cfg.Out, "folder for the model, data, checkpoint and curve")
	opts := flag.String("opts", "", "loss options, key=value,key=value")
	flag.Parse()
	cfg.LossOptions = losses.Options{}
	for _, kv := range strings.Split(*opts, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			cfg.LossOptions[k] = v
		}
	}
	res, err := Run(".", cfg)
	if err != nil {
		log.Fatal(err)
	}
	first, last := res.Evals[0], res.Evals[len(res.Evals)-1]
	fmt.Printf("loss %.4f -> %.4f; held-out mIoU %.3f -> %.3f; wrote %s and %s\n", res.Loss[0], res.Loss[len(res.Loss)-1],
		first.MIoU, last.MIoU, res.Checkpoint, filepath.Join(cfg.Out, "curve.svg"))
}
