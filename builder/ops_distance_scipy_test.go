package builder_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// SciPy computes in float64 and the graph in float32: distances up to a few
// hundred pixels agree to float32 rounding of the squared distance.
const scipyRelTol, scipyAbsTol = 2e-6, 1e-5

type scipyCase struct {
	Name    string    `json:"name"`
	Spacing []float64 `json:"spacing"`
	mask    *tensor.Tensor
	edt     []float64 // SciPy on every [n,c] slice of mask
	edtNot  []float64 // SciPy on every slice of Not(mask)
}

func loadSciPyCases(t *testing.T, dir string) []scipyCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []scipyCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 40 {
		t.Fatalf("%s holds only %d cases", dir, len(doc.Cases))
	}
	for i := range doc.Cases {
		c := &doc.Cases[i]
		load := func(suffix string) *tensor.Tensor {
			x, err := tensor.LoadNPY(filepath.Join(dir, c.Name+suffix))
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		c.mask = load("_mask.npy")
		if c.mask.DType != tensor.Bool {
			t.Fatalf("%s: mask of type %v", c.Name, c.mask.DType)
		}
		c.edt = load("_edt.npy").Float64s()
		c.edtNot = load("_edt_not.npy").Float64s()
	}
	return doc.Cases
}

// TestEDTMatchesSciPy compares the graph's transforms with SciPy's
// distance_transform_edt on fixtures SciPy writes now (scripts/scipy_edt.py,
// run live) and on the committed copy in testdata/edt.
func TestEDTMatchesSciPy(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		dir := t.TempDir()
		testutil.RunScript(t, "scipy_edt.py", "fixtures", dir)
		checkSciPyCases(t, loadSciPyCases(t, dir))
	})
	t.Run("committed", func(t *testing.T) {
		checkSciPyCases(t, loadSciPyCases(t, filepath.Join(testutil.Root(t), "testdata", "edt")))
	})
	// The other opsets (ReduceMax and ReduceMin take their axes as an input
	// from 18 on) on a 2-D and a 3-D case with spacing.
	t.Run("opsets", func(t *testing.T) {
		ran := 0
		for _, c := range loadSciPyCases(t, filepath.Join(testutil.Root(t), "testdata", "edt")) {
			if c.Name != "batch2d_spacing" && c.Name != "single_false_3d" {
				continue
			}
			for _, opset := range []int{MinOpset, 18, MaxOpset} {
				m := edtModel(t, len(c.mask.Shape), c.Spacing, opset)
				checkSciPyCase(t, c, runModel(t, m, map[string]*tensor.Tensor{"mask": c.mask}))
				ran++
			}
		}
		if ran != 6 {
			t.Errorf("ran %d opset checks, want 6", ran)
		}
	})
}

// truncateAt is the MaxDistance checked against SciPy: small enough to cut
// most fixtures, and not a distance of the grid at unit spacing.
const truncateAt = 2.3

// edtModel computes, for a bool input "mask", EuclideanDistance with Empty 0
// and +Inf, DistancePair and SignedDistance, at one spacing and opset.
func edtModel(t *testing.T, rank int, spacing []float64, opset int) *onnxpb.ModelProto {
	g := NewGraph("edt", opset)
	shape := Shape{Sym("N"), Sym("C")}
	for i := 0; i < rank-2; i++ {
		shape = append(shape, Sym(fmt.Sprintf("S%d", i)))
	}
	m := g.Input("mask", tensor.Bool, shape)
	o := DistanceOptions{Spacing: spacing}
	g.Output("edt", EuclideanDistance(m, o))
	g.Output("edt_inf", EuclideanDistance(m, DistanceOptions{Spacing: spacing, Empty: math.Inf(1)}))
	fg, bg := DistancePair(m, o)
	g.Output("fg", fg)
	g.Output("bg", bg)
	g.Output("signed", SignedDistance(m, o))
	g.Output("edt64", EuclideanDistance(m, DistanceOptions{Spacing: spacing, DType: tensor.Float64}))
	_, bgMax := DistancePair(m, DistanceOptions{Spacing: spacing, MaxDistance: truncateAt})
	g.Output("edt_max", EuclideanDistance(m, DistanceOptions{Spacing: spacing, MaxDistance: truncateAt}))
	g.Output("bg_max", bgMax)
	return loopModel(t, g)
}

func checkSciPyCases(t *testing.T, cases []scipyCase) {
	models := map[string]*onnxpb.ModelProto{}
	for _, c := range cases {
		key := fmt.Sprint(len(c.mask.Shape), c.Spacing)
		m, ok := models[key]
		if !ok {
			m = edtModel(t, len(c.mask.Shape), c.Spacing, 17)
			models[key] = m
		}
		out := runModel(t, m, map[string]*tensor.Tensor{"mask": c.mask})
		checkSciPyCase(t, c, out)
	}
}

func checkSciPyCase(t *testing.T, c scipyCase, out map[string]*tensor.Tensor) {
	t.Helper()
	mask := c.mask.Data.([]bool)
	spatial := c.mask.Shape[2:]
	S := tensor.NumElements(spatial)
	spacing := c.Spacing
	if spacing == nil {
		spacing = make([]float64, len(spatial))
		for i := range spacing {
			spacing[i] = 1
		}
	}
	edt, edtInf := out["edt"].Float64s(), out["edt_inf"].Float64s()
	fg, bg, signed, edt64 := out["fg"].Float64s(), out["bg"].Float64s(), out["signed"].Float64s(), out["edt64"].Float64s()
	edtMax, bgMax := out["edt_max"].Float64s(), out["bg_max"].Float64s()
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= 3 {
			t.Errorf("%s: "+format, append([]any{c.Name}, args...)...)
		}
	}
	closeTo := func(got, want float64) bool {
		return math.Abs(got-want) <= scipyAbsTol+scipyRelTol*math.Abs(want)
	}
	for s := 0; s < len(mask)/S; s++ {
		hasTrue, hasFalse := false, false
		for _, v := range mask[s*S : (s+1)*S] {
			hasTrue = hasTrue || v
			hasFalse = hasFalse || !v
		}
		for i := s * S; i < (s+1)*S; i++ {
			want, wantNot := c.edt[i], c.edtNot[i]
			if !hasFalse {
				// No background: SciPy measures to a virtual pixel at index
				// (-1, 0, ..., 0); onnxloss gives Empty (0 or +Inf here).
				if v := virtualDistance(i-s*S, spatial, spacing); !closeTo(want, v) {
					report("slice %d without background: SciPy gives %v at %d, not the distance %v to (-1, 0, ...)", s, want, i, v)
				}
				want = 0
				if !math.IsInf(edtInf[i], 1) {
					report("slice %d without background: %v at %d with Empty=+Inf", s, edtInf[i], i)
				}
			} else if !closeTo(edtInf[i], want) {
				report("edt (Empty=+Inf) at %d: %v, SciPy %v", i, edtInf[i], want)
			}
			if !hasTrue {
				if v := virtualDistance(i-s*S, spatial, spacing); !closeTo(wantNot, v) {
					report("slice %d without foreground: SciPy's complement gives %v at %d, not %v", s, wantNot, i, v)
				}
				wantNot = 0
			}
			if !closeTo(edt[i], want) || !closeTo(fg[i], want) || !closeTo(edt64[i], want) {
				report("edt at %d: %v (pair %v, float64 %v), SciPy %v", i, edt[i], fg[i], edt64[i], want)
			}
			if !closeTo(bg[i], wantNot) {
				report("complement at %d: %v, SciPy %v", i, bg[i], wantNot)
			}
			// Truncated: exactly min(d, MaxDistance), Empty kept.
			if !closeTo(edtMax[i], math.Min(want, truncateAt)) || !closeTo(bgMax[i], math.Min(wantNot, truncateAt)) {
				report("truncated at %d: %v and %v, SciPy %v and %v", i, edtMax[i], bgMax[i], want, wantNot)
			}
			if !closeTo(signed[i], wantNot-want) {
				report("signed at %d: %v, SciPy %v - %v", i, signed[i], wantNot, want)
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d more differences", c.Name, bad-3)
	}
}

// virtualDistance is the distance from pixel i of a slice to index
// (-1, 0, ..., 0), which SciPy reports when a slice has no background.
func virtualDistance(i int, spatial []int, spacing []float64) float64 {
	d := 0.0
	for a := len(spatial) - 1; a >= 0; a-- {
		x := float64(i % spatial[a])
		i /= spatial[a]
		if a == 0 {
			x++
		}
		x *= spacing[a]
		d += x * x
	}
	return math.Sqrt(d)
}
