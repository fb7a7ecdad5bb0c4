package reference

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/tensor"
)

// bruteDistance is the definition, pixel by pixel.
func bruteDistance(mask []bool, spatial []int, spacing []float64) []float64 {
	coord := func(i int) []int {
		c := make([]int, len(spatial))
		for a := len(spatial) - 1; a >= 0; a-- {
			c[a] = i % spatial[a]
			i /= spatial[a]
		}
		return c
	}
	out := make([]float64, len(mask))
	for i, m := range mask {
		if !m {
			continue
		}
		best := math.Inf(1)
		ci := coord(i)
		for j, n := range mask {
			if n {
				continue
			}
			cj := coord(j)
			d := 0.0
			for a := range ci {
				x := float64(ci[a]-cj[a]) * spacing[a]
				d += x * x
			}
			best = math.Min(best, d)
		}
		out[i] = math.Sqrt(best)
	}
	return out
}

func TestEDTMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 400; trial++ {
		dims := 1 + rng.IntN(3)
		spatial := make([]int, dims)
		spacing := make([]float64, dims)
		n := 1
		for a := range spatial {
			spatial[a] = 1 + rng.IntN(9)
			spacing[a] = []float64{1, 1, 0.5, 1.7, 3}[rng.IntN(5)]
			n *= spatial[a]
		}
		p := []float64{0.3, 0.8, 0.97, 1}[rng.IntN(4)]
		mask := make([]bool, n)
		for i := range mask {
			mask[i] = rng.Float64() < p
		}
		got, want := EDT(mask, spatial, spacing), bruteDistance(mask, spatial, spacing)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12*(1+want[i]) && !(math.IsInf(got[i], 1) && math.IsInf(want[i], 1)) {
				t.Fatalf("%v spacing %v mask %v: at %d got %v, want %v", spatial, spacing, mask, i, got[i], want[i])
			}
		}
	}
}

// TestEDTMatchesSciPyFixtures checks the reference against SciPy's
// distance_transform_edt on the committed fixtures of scripts/scipy_edt.py.
func TestEDTMatchesSciPyFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "edt")
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Name    string    `json:"name"`
			Spacing []float64 `json:"spacing"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range doc.Cases {
		mt, err := tensor.LoadNPY(filepath.Join(dir, c.Name+"_mask.npy"))
		if err != nil {
			t.Fatal(err)
		}
		et, err := tensor.LoadNPY(filepath.Join(dir, c.Name+"_edt.npy"))
		if err != nil {
			t.Fatal(err)
		}
		mask, want := mt.Data.([]bool), et.Float64s()
		spatial := mt.Shape[2:]
		spacing := spacingFor(c.Spacing, len(spatial))
		S := tensor.NumElements(spatial)
		for s := 0; s < len(mask)/S; s++ {
			got := EDT(mask[s*S:(s+1)*S], spatial, spacing)
			for i := range got {
				if math.IsInf(got[i], 1) {
					continue // no background: SciPy's virtual pixel, checked in builder
				}
				if math.Abs(got[i]-want[s*S+i]) > 1e-9*(1+want[s*S+i]) {
					t.Fatalf("%s slice %d at %d: %v, SciPy %v", c.Name, s, i, got[i], want[s*S+i])
				}
				checked++
			}
		}
	}
	if checked < 10000 {
		t.Errorf("only %d values checked", checked)
	}
}

func TestInnerContour(t *testing.T) {
	// 4x5 grid:        contour (the grid's edge is not a boundary):
	//  . x x x .        . x . x .
	//  . x x x .        . x . x .
	//  . x x x x        . x x x x
	//  . . . . x        . . . . x
	m := []bool{
		false, true, true, true, false,
		false, true, true, true, false,
		false, true, true, true, true,
		false, false, false, false, true,
	}
	want := []bool{
		false, true, false, true, false,
		false, true, false, true, false,
		false, true, true, true, true,
		false, false, false, false, true,
	}
	got := innerContour(m, []int{4, 5})
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("contour %v, want %v", got, want)
		}
	}
	// A full grid has no contour: the grid's edge is not a boundary.
	for _, c := range innerContour([]bool{true, true, true, true}, []int{2, 2}) {
		if c {
			t.Fatal("full mask has a contour")
		}
	}
}
