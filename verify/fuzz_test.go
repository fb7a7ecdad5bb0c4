package verify

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// fuzzSessions keeps the sessions of the configurations a fuzz worker has
// met, so that each input costs a run and not a build.
var fuzzSessions struct {
	sync.Mutex
	m map[string]*losssession.Session
}

func fuzzSession(t *testing.T, s *losses.Spec, cfg *losses.Config) *losssession.Session {
	fuzzSessions.Lock()
	defer fuzzSessions.Unlock()
	key := s.Name + cfg.ParamsJSON()
	if sess, ok := fuzzSessions.m[key]; ok {
		return sess
	}
	if len(fuzzSessions.m) >= 64 || fuzzSessions.m == nil {
		for _, sess := range fuzzSessions.m {
			sess.Close()
		}
		fuzzSessions.m = map[string]*losssession.Session{}
	}
	sess, err := losssession.OpenConfig(s, cfg, (&Runner{}).Runtime)
	if err != nil {
		t.Fatalf("%s %s: a resolved configuration does not open: %v", s.Name, cfg.ParamsJSON(), err)
	}
	fuzzSessions.m[key] = sess
	return sess
}

// FuzzGraphAgainstReference runs random losses, modes, variants, shapes
// (empty ones included), classes and labels (out of range ones included)
// through the exported graph in ONNX Runtime, with only ONNX Runtime's own
// shape checks in front of it, and through the Go reference. Both give the
// same loss within the verification budget, or both refuse the input.
func FuzzGraphAgainstReference(f *testing.F) {
	testutil.RequireRuntime(f)
	f.Add(uint8(3), uint8(0), uint8(0), uint8(2), uint8(3), uint8(4), uint8(3), uint64(1), int8(0))
	f.Add(uint8(3), uint8(0), uint8(1), uint8(2), uint8(3), uint8(4), uint8(3), uint64(2), int8(-1))
	f.Add(uint8(10), uint8(2), uint8(2), uint8(1), uint8(4), uint8(4), uint8(2), uint64(3), int8(5))
	f.Add(uint8(30), uint8(1), uint8(0), uint8(0), uint8(3), uint8(3), uint8(2), uint64(4), int8(0))
	f.Add(uint8(36), uint8(0), uint8(1), uint8(2), uint8(0), uint8(3), uint8(2), uint64(5), int8(0))
	all := losses.All()
	f.Fuzz(func(t *testing.T, which, mode, variant, n, h, w, classes uint8, seed uint64, bad int8) {
		s := all[int(which)%len(all)]
		m := s.Modes[int(mode)%len(s.Modes)]
		opts := losses.Options{"mode": string(m)}
		if m != losses.Binary {
			opts["classes"] = string(rune('1' + classes%4))
		}
		if v := int(variant) % (len(s.Variants) + 1); v > 0 {
			for k, x := range s.Variants[v-1] {
				opts[k] = x
			}
		}
		cfg, err := losses.Resolve(s, opts)
		if err != nil {
			return
		}
		spatial := []int{int(h % 6), int(w % 6)}
		if cfg.SpatialDims == 3 {
			spatial = []int{int(h % 4), int(w % 4), int((h + w) % 4)}
		} else if cfg.SpatialDims == 1 {
			spatial = spatial[:1]
		}
		C := cfg.Classes
		if C == 0 {
			C = 1 + int(classes%4)
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		// The generator makes non-empty inputs; an empty batch or axis is
		// cut from them afterwards.
		full := shapeCase{n: max(int(n%3), 1), spatial: make([]int, len(spatial))}
		for i, d := range spatial {
			full.spatial[i] = max(d, 1)
		}
		in := generate(s, cfg, full, C, "random", rng)
		if n%3 == 0 {
			emptyAxis(in, cfg, -1)
		}
		for i, d := range spatial {
			if d == 0 {
				emptyAxis(in, cfg, i)
			}
		}
		if bad != 0 && cfg.Mode == losses.Multiclass && cfg.TargetForm == losses.TargetLabels {
			if ys, _ := in["target"].Data.([]int64); len(ys) > 0 {
				y := int64(bad)
				if bad > 0 {
					y = int64(C) + int64(bad%3)
				}
				if cfg.IgnoreIndex == nil || *cfg.IgnoreIndex != y {
					ys[int(seed%uint64(len(ys)))] = y
				}
			}
		}
		sess := fuzzSession(t, s, cfg)
		got, gerr := sess.Runtime().Run(in)
		want, rerr := sess.Reference(in)
		switch {
		case gerr != nil && rerr != nil:
			return
		case gerr != nil:
			t.Fatalf("%s %v %v: the graph refuses (%v), the reference gives %v", s.Name, opts, in["input"].Shape, gerr, want)
		case rerr != nil:
			t.Fatalf("%s %v %v: the reference refuses (%v), the graph gives %v", s.Name, opts, in["input"].Shape, rerr, got["loss"])
		}
		if e, _, err := (&Runner{}).Compare(got["loss"], want, s.Tolerance); err != nil || e > 1 {
			t.Fatalf("%s %v %v: graph %v, reference %v (%.3g of the budget, %v)", s.Name, opts, in["input"].Shape, got["loss"], want, e, err)
		}
	})
}

// emptyAxis makes every input empty along the batch axis (spatial < 0) or
// along one spatial axis, whatever its layout.
func emptyAxis(in map[string]*tensor.Tensor, cfg *losses.Config, spatial int) {
	for name, t := range in {
		axis := 0
		if spatial >= 0 {
			axis = 1 + spatial // [N, *spatial]
			if len(t.Shape) == 2+cfg.SpatialDims && cfg.Layout == losses.NCHW {
				axis = 2 + spatial // [N, C, *spatial]
			}
		}
		shape := append([]int(nil), t.Shape...)
		shape[axis] = 0
		in[name] = tensor.New(t.DType, shape...)
	}
}
