package verify

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
)

// peerSet is a cases.json written by scripts/make_peer_fixtures.py: the
// PyTorch fixtures' layout plus the library that computed the cases.
type peerSet struct {
	fixtureSet
	Library string `json:"library"`
	Version string `json:"version"`
}

// peerPackages maps each folder under testdata/peers to the PyPI package
// whose pinned version its fixtures must record.
var peerPackages = map[string]string{
	"smp":    "segmentation-models-pytorch",
	"monai":  "monai",
	"kornia": "kornia",
}

// loadPeerSets reads every testdata/peers/<library>/cases.json.
func loadPeerSets(t *testing.T) map[string]peerSet {
	root := filepath.Join(testutil.Root(t), "testdata", "peers")
	sets := map[string]peerSet{}
	for lib := range peerPackages {
		path := filepath.Join(root, lib, "cases.json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with scripts/make_peer_fixtures.py, see its doc comment)", err)
		}
		var s peerSet
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(s.Cases) == 0 {
			t.Fatalf("%s has no cases", path)
		}
		sets[lib] = s
	}
	return sets
}

// requirementPins reads name==version lines of a requirements file, with
// names normalised as PyPI does (lower case, _ and . as -).
func requirementPins(t *testing.T, path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pins := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, version, ok := strings.Cut(line, "==")
		if !ok {
			t.Fatalf("%s: %q is not pinned with ==", path, line)
		}
		pins[normalizePackage(name)] = strings.TrimSpace(version)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return pins
}

func normalizePackage(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(strings.TrimSpace(name)))
}

// TestPeerFixtures runs every case that segmentation_models_pytorch, MONAI
// and kornia computed (scripts/make_peer_fixtures.py, with the libraries'
// own loss classes) through the exported graph in ONNX Runtime: the loss, and
// the input gradient where the fixture has one, within the tolerances of the
// PyTorch fixtures. The committed files are checked; CI does not regenerate
// them, so it needs no peers environment.
func TestPeerFixtures(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := filepath.Join(testutil.Root(t), "testdata", "peers")
	for lib, set := range loadPeerSets(t) {
		t.Run(lib, func(t *testing.T) {
			grads := 0
			for _, c := range set.Cases {
				if c.InputGrad != "" {
					grads++
				}
				if err := checkFixture(filepath.Join(dir, lib), c); err != nil {
					t.Errorf("%s %s: %s: %v", set.Library, set.Version, c.Name, err)
				}
			}
			if grads != len(set.Cases) {
				t.Errorf("%d of %d %s cases have input_grad; the generator records it for every case", grads, len(set.Cases), lib)
			}
		})
	}
}

// TestPeerFixtureVersions fails when a fixture was made with a release other
// than the one pinned in scripts/requirements/peers.txt: after a pin moves,
// regenerate the fixtures with the new environment.
func TestPeerFixtureVersions(t *testing.T) {
	root := testutil.Root(t)
	pins := requirementPins(t, filepath.Join(root, "scripts", "requirements", "peers.txt"))
	for lib, set := range loadPeerSets(t) {
		pkg := peerPackages[lib]
		want, ok := pins[pkg]
		if !ok {
			t.Errorf("scripts/requirements/peers.txt does not pin %s", pkg)
			continue
		}
		if set.Version != want {
			t.Errorf("testdata/peers/%s was made with %s %s, scripts/requirements/peers.txt pins %s: "+
				"regenerate it with $(scripts/venv.sh peers) scripts/make_peer_fixtures.py testdata/peers", lib, pkg, set.Version, want)
		}
		// torch reports its CUDA build as a local version label
		// (2.15.0+cu132); pip pins the public version before the +.
		if torch, _, _ := strings.Cut(set.Torch, "+"); torch != pins["torch"] {
			t.Errorf("testdata/peers/%s was made with torch %s, scripts/requirements/peers.txt pins %s: "+
				"regenerate it with $(scripts/venv.sh peers) scripts/make_peer_fixtures.py testdata/peers", lib, set.Torch, pins["torch"])
		}
	}
}

// TestPeerFixturesCoverPresets fails when a loss has a preset named after
// one of the peer libraries (smp, monai, kornia) that no case of that
// library's fixtures uses: a new preset needs its library's own numbers.
func TestPeerFixturesCoverPresets(t *testing.T) {
	sets := loadPeerSets(t)
	for _, s := range losses.All() {
		for _, pr := range s.Presets {
			set, ok := sets[pr.Name]
			if !ok {
				continue
			}
			found := false
			for _, c := range set.Cases {
				if c.Loss == s.Name && c.Options["preset"] == pr.Name {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s --preset %s has no case in testdata/peers/%s: add one to scripts/make_peer_fixtures.py", s.Name, pr.Name, pr.Name)
			}
		}
	}
}
