package verify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
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
	t.Run("live", func(t *testing.T) {
		dir := t.TempDir()
		testutil.RunScript(t, "scipy_losses.py", dir)
		checkLibrarySet(t, filepath.Join(dir, "scipy_distance"), grads)
	})
	t.Run("committed", func(t *testing.T) {
		checkLibrarySet(t, filepath.Join(testutil.Root(t), "testdata", "edt", "losses", "scipy_distance"), grads)
	})
}

func checkLibrarySet(t *testing.T, dir string, grads bool) {
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set fixtureSet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
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
