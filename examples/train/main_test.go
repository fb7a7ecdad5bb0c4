package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
)

// TestTrain trains with two losses and checks, on a batch the training never
// saw, that the Dice score of the model's prediction rose, with the
// convolution, the argmax and the Dice score computed here in float64.
func TestTrain(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, loss := range []string{"dice-ce", "lovasz-softmax"} {
		t.Run(loss, func(t *testing.T) {
			res, err := Train(Config{Loss: loss, Steps: 60, Batch: 8, Size: 32, LR: 0.05, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			first, last := mean(res.Loss[:5]), mean(res.Loss[len(res.Loss)-10:])
			t.Logf("loss %.4f -> %.4f", first, last)
			if !(last < 0.6*first) {
				t.Errorf("the loss fell from %.4f to %.4f only, want below 60%%", first, last)
			}

			img, lab := Shapes(rand.New(rand.NewPCG(99, 7)), 16, 40)
			before := heldOutDice(res.Initial, img, lab, 16, 40)
			after := heldOutDice(res.Final, img, lab, 16, 40)
			t.Logf("held-out Dice %.3f -> %.3f", before, after)
			if !(after > 0.85 && after > before+0.3) {
				t.Errorf("held-out Dice %.3f -> %.3f, want above 0.85 and a rise of 0.3", before, after)
			}
		})
	}
}

// TestStepGradient checks the parameter gradient that the two graphs give
// (the loss's input_grad, then the chain rule through the convolution)
// against central differences of the loss that ONNX Runtime computes.
func TestStepGradient(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, loss := range []string{"dice-ce", "cross-entropy", "dice"} {
		t.Run(loss, func(t *testing.T) {
			m, err := NewModel(loss, losses.Options{}, runtime.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			rng := rand.New(rand.NewPCG(5, 5))
			p := InitParams(rng)
			for i := range p.Bias {
				p.Bias[i] = float32(0.3 * rng.NormFloat64())
			}
			img, lab := Shapes(rng, 4, 24)
			s, err := m.Step(p, img, lab, 4, 24)
			if err != nil {
				t.Fatal(err)
			}
			lossAt := func(q Params) float64 {
				r, err := m.Step(q, img, lab, 4, 24)
				if err != nil {
					t.Fatal(err)
				}
				return r.Loss
			}
			const h = 1e-2
			check := func(name string, params []float32, grad []float64) {
				scale := 0.0
				for _, g := range grad {
					scale = math.Max(scale, math.Abs(g))
				}
				if scale == 0 {
					t.Fatalf("%s: the gradient is zero", name)
				}
				worst := 0.0
				for i := range params {
					q := p.clone()
					ps := q.Weight
					if name == "bias" {
						ps = q.Bias
					}
					ps[i] = params[i] + h
					up := lossAt(q)
					ps[i] = params[i] - h
					down := lossAt(q)
					fd := (up - down) / (2 * h)
					worst = math.Max(worst, math.Abs(fd-grad[i])/scale)
					if math.Abs(fd-grad[i]) > 2e-3*scale {
						t.Errorf("%s[%d]: graph %.6g, central difference %.6g (gradient scale %.3g)", name, i, grad[i], fd, scale)
					}
				}
				t.Logf("%s: largest difference %.2g of the gradient's scale %.3g", name, worst, scale)
			}
			check("weight", p.Weight, s.WeightGrad)
			check("bias", p.Bias, s.BiasGrad)
		})
	}
}

// heldOutDice runs the classifier in float64 on img [n,1,size,size] (3×3
// kernel, zero padding) and returns the mean over classes 1 and 2 of the
// Dice score of its argmax against lab [n,size,size].
func heldOutDice(p Params, img []float32, lab []int64, n, size int) float64 {
	const c = 3
	var tp, fp, fn [c]int
	for b := 0; b < n; b++ {
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				var logit [c]float64
				for k := 0; k < c; k++ {
					logit[k] = float64(p.Bias[k])
					for dy := -1; dy <= 1; dy++ {
						for dx := -1; dx <= 1; dx++ {
							yy, xx := y+dy, x+dx
							if yy < 0 || yy >= size || xx < 0 || xx >= size {
								continue
							}
							logit[k] += float64(p.Weight[k*9+(dy+1)*3+dx+1]) * float64(img[(b*size+yy)*size+xx])
						}
					}
				}
				pred := 0
				for k := 1; k < c; k++ {
					if logit[k] > logit[pred] {
						pred = k
					}
				}
				truth := int(lab[(b*size+y)*size+x])
				if pred == truth {
					tp[pred]++
				} else {
					fp[pred]++
					fn[truth]++
				}
			}
		}
	}
	var d float64
	for k := 1; k < c; k++ {
		d += 2 * float64(tp[k]) / float64(2*tp[k]+fp[k]+fn[k])
	}
	return d / 2
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
