package verify

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

// distanceLosses are the losses whose maps come from the distance transform.
var distanceLosses = []string{"boundary", "hausdorff-dt", "log-hausdorff-dt", "hausdorff-er",
	"distance-penalized-ce", "shape-aware", "unet-weight-map"}

// distanceTargets are target layouts the generated cases of Cases do not
// make, where distance maps have their extreme values: one foreground pixel,
// one background pixel, a line one pixel wide (a region without interior),
// an object touching the image's edge, and two objects one pixel apart.
func distanceTargets(spatial []int) map[string]func(i int, coord []int) int {
	last := len(spatial) - 1
	return map[string]func(int, []int) int{
		"one foreground pixel": func(i int, c []int) int {
			if i == 3 {
				return 1
			}
			return 0
		},
		"one background pixel": func(i int, c []int) int {
			if i == 2 {
				return 0
			}
			return 1
		},
		"thin line": func(i int, c []int) int {
			if c[0] == spatial[0]/2 {
				return 1
			}
			return 0
		},
		"edge object": func(i int, c []int) int {
			if c[last] <= 1 {
				return 1
			}
			return 0
		},
		"two objects": func(i int, c []int) int {
			switch {
			case c[last] <= 1:
				return 1
			case c[last] >= 3:
				return 2
			}
			return 0
		},
	}
}

// TestDistanceLossesEdgeTargets runs every distance loss, in every mode, in
// 2-D and 3-D, on the targets of distanceTargets, and compares ONNX Runtime
// with the reference.
func TestDistanceLossesEdgeTargets(t *testing.T) {
	testutil.RequireRuntime(t)
	r := &Runner{Seed: 1}
	for _, name := range distanceLosses {
		s, err := losses.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, m := range s.Modes {
				for _, spatial := range [][]int{{6, 7}, {3, 5, 4}} {
					opts := losses.Options{"mode": string(m), "spatial_dims": fmt.Sprint(len(spatial)), "classes": "3"}
					if m == losses.Binary {
						delete(opts, "classes")
					}
					if (name == "boundary" || name == "hausdorff-dt" || name == "shape-aware") && m != losses.Binary {
						opts["include_background"] = "true"
					}
					checkEdgeTargets(t, r, s, opts, spatial)
				}
			}
		})
	}
}

func checkEdgeTargets(t *testing.T, r *Runner, s *losses.Spec, opts losses.Options, spatial []int) {
	t.Helper()
	sess := testutil.OpenLoss(t, s.Name, opts)
	cfg := sess.Config()
	S := tensor.NumElements(spatial)
	C := cfg.Classes
	rng := rand.New(rand.NewPCG(7, uint64(S)))
	for label, target := range distanceTargets(spatial) {
		const n = 2
		labels := make([]int64, n*S)
		for img := 0; img < n; img++ {
			for i := 0; i < S; i++ {
				coord := make([]int, len(spatial))
				k := i
				for a := len(spatial) - 1; a >= 0; a-- {
					coord[a] = k % spatial[a]
					k /= spatial[a]
				}
				v := target(i, coord)
				if img == 1 { // the second image swaps 0 and 2 (binary: 0 and 1)
					v = 2 - v
					if cfg.Mode == losses.Binary {
						v = min(v, 1)
					}
				}
				labels[img*S+i] = int64(v)
			}
		}
		x := make([]float64, n*C*S)
		for i := range x {
			x[i] = rng.NormFloat64() * 2
		}
		in := map[string]*tensor.Tensor{"input": tensor.FromFloat64(append([]int{n, C}, spatial...), x).Convert(tensor.Float32)}
		if cfg.Mode == losses.Multiclass {
			in["target"] = tensor.FromInt64(append([]int{n}, spatial...), labels)
		} else {
			// Channel c is foreground where the label is c+1 (the last
			// channel also where it is larger); binary: where it is not 0.
			y := make([]float64, n*C*S)
			for img := 0; img < n; img++ {
				for ch := 0; ch < C; ch++ {
					for i := 0; i < S; i++ {
						l := labels[img*S+i]
						if l > 0 && (C == 1 || l == int64(ch+1) || (ch == C-1 && l > int64(ch))) {
							y[(img*C+ch)*S+i] = 1
						}
					}
				}
			}
			in["target"] = tensor.FromFloat64(append([]int{n, C}, spatial...), y).Convert(tensor.Float32)
		}
		for _, e := range s.ExtraInputs(cfg) {
			switch e.Kind {
			case losses.InstanceLabels:
				in[e.Name] = tensor.FromInt64(append([]int{n}, spatial...), labels)
			case losses.ChannelMap:
				d := make([]float64, n*C*S)
				for i := range d {
					d[i] = rng.NormFloat64() * 3
				}
				in[e.Name] = tensor.FromFloat64(append([]int{n, C}, spatial...), d).Convert(tensor.Float32)
			}
		}
		got, err := sess.Run(in)
		if err != nil {
			t.Fatalf("%v %s: %v", opts, label, err)
		}
		want, err := sess.Reference(in)
		if err != nil {
			t.Fatalf("%v %s: %v", opts, label, err)
		}
		maxErr, _, err := r.Compare(got["loss"], want, s.Tolerance)
		if err != nil || maxErr > 1 {
			t.Errorf("%s %v %s: graph %v, reference %v (error %.3g of budget, %v)", s.Name, opts, label, got["loss"], want, maxErr, err)
		}
	}
}
