package verify

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestDistanceLossesMatchLibraries checks the distance losses' values
// against the Python libraries' forms computed with SciPy's distance
// transform on the host (scripts/scipy_losses.py: MONAI's HausdorffDTLoss and
// LogHausdorffDTLoss, kornia's HausdorffERLoss, LIVIAETS/boundary-loss's
// SurfaceLoss with one_hot2dist, SegLoss's DisPenalizedCE map and the U-Net
// weight map), on fixtures written now and on the committed copy in
// testdata/edt/losses.
func TestDistanceLossesMatchLibraries(t *testing.T) {
	testLibrarySets(t, false)
}

// TestDistanceLossGradientsMatchLibraries checks input_grad against PyTorch
// autograd through the same forms (the distance maps held fixed, as the
// libraries' no_grad maps are).
func TestDistanceLossGradientsMatchLibraries(t *testing.T) {
	testLibrarySets(t, true)
}

func testLibrarySets(t *testing.T, grads bool) {
	testutil.RequireRuntime(t)
	committed := filepath.Join(testutil.Root(t), "testdata", "edt", "losses", "scipy_distance")
	t.Run("live", func(t *testing.T) {
		dir := t.TempDir()
		testutil.RunScript(t, "scipy_losses.py", dir)
		live := filepath.Join(dir, "scipy_distance")
		checkLibrarySet(t, live, grads)
		if !grads {
			checkSameLibrarySet(t, live, committed)
		}
	})
	t.Run("committed", func(t *testing.T) {
		checkLibrarySet(t, committed, grads)
	})
}

func loadLibrarySet(t *testing.T, dir string) fixtureSet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set fixtureSet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	return set
}

// checkSameLibrarySet checks that the committed copy is what the script
// writes today: the same cases, options and values (within each case's
// tolerance), so that offline runs check what CI checks.
func checkSameLibrarySet(t *testing.T, live, committed string) {
	t.Helper()
	a, b := loadLibrarySet(t, live), loadLibrarySet(t, committed)
	if len(a.Cases) != len(b.Cases) {
		t.Fatalf("the script writes %d cases, testdata/edt/losses holds %d: regenerate it with scripts/scipy_losses.py testdata/edt/losses", len(a.Cases), len(b.Cases))
	}
	for i, ca := range a.Cases {
		cb := b.Cases[i]
		if ca.Name != cb.Name || ca.Loss != cb.Loss || fmt.Sprint(ca.Options) != fmt.Sprint(cb.Options) {
			t.Errorf("case %d: the script writes %s %s %v, testdata/edt/losses holds %s %s %v", i, ca.Name, ca.Loss, ca.Options, cb.Name, cb.Loss, cb.Options)
			continue
		}
		va, err := tensor.LoadNPY(filepath.Join(live, ca.LossValue))
		if err != nil {
			t.Fatal(err)
		}
		vb, err := tensor.LoadNPY(filepath.Join(committed, cb.LossValue))
		if err != nil {
			t.Fatal(err)
		}
		x, y := va.Float64s()[0], vb.Float64s()[0]
		if math.Abs(x-y) > ca.ATol+ca.RTol*math.Abs(y) {
			t.Errorf("%s: the script computes %v, testdata/edt/losses holds %v", ca.Name, x, y)
		}
	}
}

func checkLibrarySet(t *testing.T, dir string, grads bool) {
	set := loadLibrarySet(t, dir)
	seen := map[string]bool{}
	for _, c := range set.Cases {
		seen[c.Loss] = true
		if c.InputGrad == "" {
			t.Errorf("%s: no input gradient", c.Name)
		}
		if !grads {
			c.InputGrad = ""
		}
		if err := checkFixture(dir, c); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	for _, name := range []string{"hausdorff-dt", "log-hausdorff-dt", "hausdorff-er", "boundary", "distance-penalized-ce", "unet-weight-map"} {
		if !seen[name] {
			t.Errorf("no case for %s", name)
		}
	}
}
