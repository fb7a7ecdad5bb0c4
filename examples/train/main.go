// Command train fits a small per-pixel classifier to synthetic shapes, with
// every tensor computation in ONNX Runtime and every graph built by onnxloss.
//
// The model is one 3×3 convolution from a noisy grayscale image to the logits
// of three classes: background, discs (bright) and squares (dark). Each step
// runs two graphs:
//
//   - the model with an onnxloss loss attached by export.Append and the grad
//     option: it outputs the loss and d loss / d logits;
//   - a backward graph built with builder.Gradient: from the image and
//     d loss / d logits it gives d loss / d weight and d loss / d bias by the
//     chain rule through the convolution.
//
// Go only draws the images and applies Adam to the 30 parameters. The
// program prints the loss and the Dice score of the hard prediction as
// training goes:
//
//	go run ./examples/train
//	go run ./examples/train -loss lovasz-softmax -steps 200
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// The model's sizes: three classes from one input channel through a k×k
// kernel.
const (
	classes = 3
	kernel  = 3
)

// Config says what to train and how.
type Config struct {
	// Loss names an onnxloss loss with a multiclass mode.
	Loss string
	// LossOptions are the loss's options (mode and classes come from the model).
	LossOptions losses.Options
	// Steps is the number of optimiser steps, each on a fresh batch.
	Steps int
	// Batch and Size give each batch's shape: Batch images of Size×Size.
	Batch, Size int
	// LR is Adam's learning rate.
	LR float64
	// Seed fixes the images and the initial weights.
	Seed uint64
	// Provider is ONNX Runtime's execution provider: "cpu" or "cuda".
	Provider string
	// Log, when set, receives a progress line every LogEvery steps.
	Log      io.Writer
	LogEvery int
}

// Params are the model's parameters: Weight [classes, 1, kernel, kernel] and
// Bias [classes], as ONNX's Conv takes them.
type Params struct {
	Weight, Bias []float32
}

// Result is what training did.
type Result struct {
	// Initial and Final are the parameters before the first and after the
	// last step.
	Initial, Final Params
	// Loss and Dice hold, per step, the loss ONNX Runtime computed and the
	// mean Dice score of the argmax prediction over the foreground classes
	// on that step's batch, before the step's update.
	Loss, Dice []float64
}

func main() {
	cfg := Config{Log: os.Stdout, LogEvery: 10}
	flag.StringVar(&cfg.Loss, "loss", "dice-ce", "the onnxloss loss to train with (multiclass)")
	flag.IntVar(&cfg.Steps, "steps", 100, "optimiser steps")
	flag.IntVar(&cfg.Batch, "batch", 8, "images per batch")
	flag.IntVar(&cfg.Size, "size", 32, "image height and width")
	flag.Float64Var(&cfg.LR, "lr", 0.05, "Adam's learning rate")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	flag.StringVar(&cfg.Provider, "provider", "cpu", "ONNX Runtime execution provider: cpu or cuda")
	flag.Parse()
	res, err := Train(cfg)
	if err != nil {
		log.Fatal(err)
	}
	n := len(res.Loss)
	fmt.Printf("%s: loss %.4f -> %.4f, Dice %.3f -> %.3f over %d steps\n",
		cfg.Loss, res.Loss[0], res.Loss[n-1], res.Dice[0], res.Dice[n-1], n)
}

// Train runs cfg.Steps steps of Adam on fresh batches of synthetic shapes.
func Train(cfg Config) (*Result, error) {
	if cfg.Steps < 1 || cfg.Batch < 1 || cfg.Size < kernel {
		return nil, fmt.Errorf("train: need at least one step, one image and images of %d pixels or more", kernel)
	}
	m, err := NewModel(cfg.Loss, cfg.LossOptions, runtime.Options{Provider: cfg.Provider})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7261696e))
	p := InitParams(rng)
	res := &Result{Initial: p.clone()}
	opt := newAdam(cfg.LR, len(p.Weight), len(p.Bias))
	for step := 0; step < cfg.Steps; step++ {
		img, lab := Shapes(rng, cfg.Batch, cfg.Size)
		s, err := m.Step(p, img, lab, cfg.Batch, cfg.Size)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		dice := Dice(s.Logits, lab, cfg.Batch, cfg.Size*cfg.Size)
		opt.step(p.Weight, s.WeightGrad, p.Bias, s.BiasGrad)
		res.Loss = append(res.Loss, s.Loss)
		res.Dice = append(res.Dice, dice)
		if cfg.Log != nil && cfg.LogEvery > 0 && (step%cfg.LogEvery == 0 || step == cfg.Steps-1) {
			fmt.Fprintf(cfg.Log, "step %4d  loss %.4f  Dice %.3f\n", step, s.Loss, dice)
		}
	}
	res.Final = p.clone()
	return res, nil
}

// Model holds the two ONNX Runtime sessions of a training step.
type Model struct {
	fwd, bwd *runtime.Session
}

// StepResult is what one forward and backward pass computes.
type StepResult struct {
	// Loss is the loss; Logits the model's output [n, classes, size, size].
	Loss   float64
	Logits []float64
	// WeightGrad and BiasGrad are d Loss / d Params, laid out as Params.
	WeightGrad, BiasGrad []float64
}

// NewModel builds the model with the named loss attached and its backward
// graph, and loads both into ONNX Runtime.
func NewModel(loss string, lossOpts losses.Options, opts runtime.Options) (*Model, error) {
	fwd, err := modelWithLoss(loss, lossOpts)
	if err != nil {
		return nil, err
	}
	bwd, err := backwardModel()
	if err != nil {
		return nil, err
	}
	m := &Model{}
	if m.fwd, err = runtime.NewSession(fwd, opts); err != nil {
		return nil, err
	}
	if m.bwd, err = runtime.NewSession(bwd, opts); err != nil {
		m.fwd.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the sessions.
func (m *Model) Close() {
	m.fwd.Close()
	m.bwd.Close()
}

// Step computes the loss of parameters p on n images img [n,1,size,size]
// with labels lab [n,size,size], and its gradient with respect to p.
func (m *Model) Step(p Params, img []float32, lab []int64, n, size int) (*StepResult, error) {
	image := tensor.FromFloat32([]int{n, 1, size, size}, img)
	weight := tensor.FromFloat32([]int{classes, 1, kernel, kernel}, p.Weight)
	bias := tensor.FromFloat32([]int{classes}, p.Bias)
	out, err := m.fwd.Run(map[string]*tensor.Tensor{
		"image": image, "weight": weight, "bias": bias,
		"target": tensor.FromInt64([]int{n, size, size}, lab),
	})
	if err != nil {
		return nil, err
	}
	grads, err := m.bwd.Run(map[string]*tensor.Tensor{
		"image": image, "weight": weight, "bias": bias, "logits_grad": out["logits_grad"],
	})
	if err != nil {
		return nil, err
	}
	return &StepResult{
		Loss:       out["loss"].Float64s()[0],
		Logits:     out["logits"].Float64s(),
		WeightGrad: grads["weight_grad"].Float64s(),
		BiasGrad:   grads["bias_grad"].Float64s(),
	}, nil
}

// modelWithLoss builds the model, logits = Conv(image, weight) + bias, and
// attaches the loss with its gradient with respect to the logits. The
// spliced model's outputs are loss, logits_grad and logits.
func modelWithLoss(loss string, lossOpts losses.Options) ([]byte, error) {
	g, image, weight, bias := modelInputs()
	w := builder.Window{Kernel: []int64{kernel, kernel}, Pads: builder.SamePads(kernel, kernel)}
	g.Output("logits", builder.Conv(image, weight, bias, w, 1))
	m, err := export.Model(g, "per-pixel classifier", nil)
	if err != nil {
		return nil, err
	}
	o := losses.Options{"grad": "true"}
	for k, v := range lossOpts {
		o[k] = v
	}
	spliced, rep, err := export.Append(m, export.AppendOptions{Loss: loss, LossOptions: o, KeepOutputs: true})
	if err != nil {
		return nil, err
	}
	if rep.GradOutput != "logits_grad" {
		return nil, fmt.Errorf("train: the gradient output is %q, want logits_grad", rep.GradOutput)
	}
	return export.Marshal(spliced)
}

// backwardModel builds the chain rule through the convolution: given the
// image and g = d loss / d logits, the gradient of Σ g·Conv(image, weight,
// bias) with respect to weight and bias is d loss / d weight and d loss / d
// bias.
func backwardModel() ([]byte, error) {
	g, image, weight, bias := modelInputs()
	w := builder.Window{Kernel: []int64{kernel, kernel}, Pads: builder.SamePads(kernel, kernel)}
	logits := builder.Conv(image, weight, bias, w, 1)
	up := g.Input("logits_grad", tensor.Float32, logits.Shape())
	grads := builder.Gradient(builder.ReduceSum(builder.Mul(logits, up), false), weight, bias)
	g.Output("weight_grad", grads[0])
	g.Output("bias_grad", grads[1])
	m, err := export.Model(g, "per-pixel classifier: parameter gradients", nil)
	if err != nil {
		return nil, err
	}
	return export.Marshal(m)
}

func modelInputs() (g *builder.Graph, image, weight, bias *builder.Value) {
	g = builder.NewGraph("per_pixel_classifier", 17)
	n, h, w := builder.Sym("N"), builder.Sym("H"), builder.Sym("W")
	image = g.Input("image", tensor.Float32, builder.Shape{n, builder.Fixed(1), h, w})
	weight = g.Input("weight", tensor.Float32, builder.Dims(classes, 1, kernel, kernel))
	bias = g.Input("bias", tensor.Float32, builder.Dims(classes))
	return g, image, weight, bias
}

// InitParams draws small random weights and zero biases.
func InitParams(rng *rand.Rand) Params {
	p := Params{Weight: make([]float32, classes*kernel*kernel), Bias: make([]float32, classes)}
	for i := range p.Weight {
		p.Weight[i] = float32(0.1 * rng.NormFloat64())
	}
	return p
}

func (p Params) clone() Params {
	return Params{Weight: append([]float32(nil), p.Weight...), Bias: append([]float32(nil), p.Bias...)}
}

// Shapes draws n noisy Size×Size images [n,1,size,size] and their label maps
// [n,size,size]: on a background of 0 (class 0), one to three discs of
// brightness +1 (class 1) and squares of brightness -1 (class 2), later
// shapes over earlier ones, plus Gaussian noise of standard deviation 0.6.
// Telling the classes apart pixel by pixel needs the neighbourhood: the
// noise is as large as the contrast.
func Shapes(rng *rand.Rand, n, size int) ([]float32, []int64) {
	img := make([]float32, n*size*size)
	lab := make([]int64, n*size*size)
	for b := 0; b < n; b++ {
		l := lab[b*size*size : (b+1)*size*size]
		for k := 1 + rng.IntN(3); k > 0; k-- {
			cls := int64(1 + rng.IntN(2))
			r := float64(size) * (0.12 + 0.15*rng.Float64())
			cy, cx := rng.Float64()*float64(size), rng.Float64()*float64(size)
			for y := 0; y < size; y++ {
				for x := 0; x < size; x++ {
					dy, dx := float64(y)+0.5-cy, float64(x)+0.5-cx
					in := dy*dy+dx*dx <= r*r // disc
					if cls == 2 {
						in = math.Abs(dy) <= r && math.Abs(dx) <= r // square
					}
					if in {
						l[y*size+x] = cls
					}
				}
			}
		}
		for i, c := range l {
			v := [classes]float64{0, 1, -1}[c]
			img[b*size*size+i] = float32(v + 0.6*rng.NormFloat64())
		}
	}
	return img, lab
}

// Dice returns the Dice score 2|P∩G|/(|P|+|G|) of the argmax of logits
// [n,classes,pixels] against the labels [n,pixels], over the whole batch per
// foreground class, averaged over classes 1 and 2 (a class absent from both
// prediction and labels scores 1).
func Dice(logits []float64, labels []int64, n, pixels int) float64 {
	var inter, pred, truth [classes]float64
	for b := 0; b < n; b++ {
		for i := 0; i < pixels; i++ {
			best := 0
			for c := 1; c < classes; c++ {
				if logits[(b*classes+c)*pixels+i] > logits[(b*classes+best)*pixels+i] {
					best = c
				}
			}
			y := labels[b*pixels+i]
			pred[best]++
			truth[y]++
			if int64(best) == y {
				inter[best]++
			}
		}
	}
	var sum float64
	for c := 1; c < classes; c++ {
		if pred[c]+truth[c] == 0 {
			sum++
			continue
		}
		sum += 2 * inter[c] / (pred[c] + truth[c])
	}
	return sum / (classes - 1)
}

// adam is Kingma & Ba's optimiser with the usual β1 0.9, β2 0.999, ε 1e-8.
type adam struct {
	lr     float64
	t      int
	m, v   []float64
	nw, nb int
}

func newAdam(lr float64, nw, nb int) *adam {
	return &adam{lr: lr, m: make([]float64, nw+nb), v: make([]float64, nw+nb), nw: nw, nb: nb}
}

func (a *adam) step(w []float32, gw []float64, b []float32, gb []float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1, c2 := 1-math.Pow(b1, float64(a.t)), 1-math.Pow(b2, float64(a.t))
	upd := func(i int, p *float32, g float64) {
		a.m[i] = b1*a.m[i] + (1-b1)*g
		a.v[i] = b2*a.v[i] + (1-b2)*g*g
		*p -= float32(a.lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + eps))
	}
	for i := range w {
		upd(i, &w[i], gw[i])
	}
	for i := range b {
		upd(a.nw+i, &b[i], gb[i])
	}
}
