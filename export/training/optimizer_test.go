package training_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestOptimizerSteps runs two steps of each in-graph optimizer, feeding the
// first step's outputs back as the second step's inputs, and checks every
// updated parameter against PyTorch's update rules (torch.optim.SGD with and
// without momentum, torch.optim.AdamW) written here in float64 from the
// gradients of the graph without an optimizer at the same parameters.
func TestOptimizerSteps(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	m := &tiny{r: r}
	out := m.conv(m.op("Tanh", nil, m.conv("x", 3, 4, 3, nil)), 4, 3, 1, nil)
	model := m.model(17, out)
	x := randTensor(r, []int{2, 3, 6, 6}, 1)
	lab := make([]int64, 2*6*6)
	for i := range lab {
		lab[i] = int64(r.IntN(3))
	}
	feeds := map[string]*tensor.Tensor{"x": x, "target": tensor.FromInt64([]int{2, 6, 6}, lab)}
	ap := splice.Options{Loss: "cross-entropy"}
	gm, rep, err := training.Build(model, training.Options{Append: ap})
	if err != nil {
		t.Fatal(err)
	}
	gs := openModel(t, gm)
	grads := func(params map[string][]float64) map[string][]float64 {
		in := map[string]*tensor.Tensor{}
		for k, v := range feeds {
			in[k] = v
		}
		for _, p := range rep.Params {
			in[p] = tensor.FromFloat64(initializerValue(t, gm, p).Shape, params[p]).Convert(tensor.Float32)
		}
		res, err := gs.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		g := map[string][]float64{}
		for _, p := range rep.Params {
			g[p] = res[training.GradName(p)].Float64s()
		}
		return g
	}
	for _, opt := range []training.Optimizer{
		{Kind: "sgd", LR: 0.1, WeightDecay: 0.01},
		{Kind: "momentum", LR: 0.05, Momentum: 0.8, WeightDecay: 0.02},
		{Kind: "adamw", LR: 0.01, WeightDecay: 0.1, Beta1: 0.8, Beta2: 0.95, Eps: 1e-6},
	} {
		t.Run(opt.Kind, func(t *testing.T) {
			om, orep, err := training.Build(model, training.Options{Append: ap, Optimizer: &opt})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"loss"}
			for _, p := range orep.Params {
				want = append(want, p+training.NextSuffix)
			}
			if orep.Outputs[0] != "loss" || orep.Outputs[1] != want[1] {
				t.Fatalf("outputs %v", orep.Outputs[:2])
			}
			s := openModel(t, om)
			// Reference state, float64.
			w, m1, m2, buf := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
			for _, p := range orep.Params {
				w[p] = initializerValue(t, om, p).Float64s()
				m1[p], m2[p], buf[p] = make([]float64, len(w[p])), make([]float64, len(w[p])), make([]float64, len(w[p]))
			}
			var in map[string]*tensor.Tensor // the graph's state, fed back
			for step := 1; step <= 2; step++ {
				g := grads(w)
				var res map[string]*tensor.Tensor
				if in == nil {
					res, err = s.Run(feeds) // defaults: the model's weights, zero state, step 1
				} else {
					res, err = s.Run(in)
				}
				if err != nil {
					t.Fatal(err)
				}
				b1, b2 := opt.Beta1, opt.Beta2
				for _, p := range orep.Params {
					for i := range w[p] {
						gi := g[p][i]
						switch opt.Kind {
						case "sgd":
							w[p][i] -= opt.LR * (gi + opt.WeightDecay*w[p][i])
						case "momentum":
							d := gi + opt.WeightDecay*w[p][i]
							buf[p][i] = opt.Momentum*buf[p][i] + d
							w[p][i] -= opt.LR * buf[p][i]
						case "adamw":
							w[p][i] *= 1 - opt.LR*opt.WeightDecay
							m1[p][i] = b1*m1[p][i] + (1-b1)*gi
							m2[p][i] = b2*m2[p][i] + (1-b2)*gi*gi
							mh := m1[p][i] / (1 - math.Pow(b1, float64(step)))
							vh := m2[p][i] / (1 - math.Pow(b2, float64(step)))
							w[p][i] -= opt.LR * mh / (math.Sqrt(vh) + opt.Eps)
						}
					}
					got := res[p+training.NextSuffix].Float64s()
					for i := range got {
						if math.Abs(got[i]-w[p][i]) > 1e-5*math.Max(1, math.Abs(w[p][i])) {
							t.Fatalf("step %d, %s[%d]: %v, want %v", step, p, i, got[i], w[p][i])
						}
					}
				}
				// The next step's inputs: every output named X.next is X.
				in = map[string]*tensor.Tensor{}
				for k, v := range feeds {
					in[k] = v
				}
				for name, v := range res {
					if len(name) > len(training.NextSuffix) && name[len(name)-len(training.NextSuffix):] == training.NextSuffix {
						in[name[:len(name)-len(training.NextSuffix)]] = v
					}
				}
				in[training.LRName] = tensor.FromFloat32(nil, []float32{float32(opt.LR)})
			}
		})
	}
}
