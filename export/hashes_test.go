package export_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/verify"
)

// hashConfigs lists every configuration whose exported bytes are pinned in
// testdata/onnx/export_sha256.txt: each configuration verification covers,
// at opsets 13 and 17, with and without the gradient, and every preset.
func hashConfigs() []struct {
	label string
	loss  string
	opts  losses.Options
} {
	type cfg = struct {
		label string
		loss  string
		opts  losses.Options
	}
	var out []cfg
	for _, s := range losses.All() {
		var sets []verify.Config
		for _, opset := range []string{"13", "17"} {
			sets = append(sets, verify.Configs(s, losses.Options{"opset": opset})...)
		}
		for _, p := range s.Presets {
			for _, m := range s.Modes {
				sets = append(sets, verify.Config{Spec: s, Label: string(m) + " preset=" + p.Name,
					Options: losses.Options{"mode": string(m), "preset": p.Name}})
			}
		}
		for _, c := range sets {
			label := c.Label + " opset=" + c.Options["opset"]
			out = append(out, cfg{s.Name + " / " + label, s.Name, c.Options})
			if c.Options["reduction"] != "none" {
				g := losses.Options{"grad": "true"}
				for k, v := range c.Options {
					g[k] = v
				}
				out = append(out, cfg{s.Name + " / " + label + " grad", s.Name, g})
			}
		}
	}
	return out
}

// TestExportBytesPinned checks that every configuration in hashConfigs
// exports exactly the bytes it exported when the manifest was written, so a
// refactoring of the catalog cannot change a graph unnoticed. After an
// intended change run `go test ./export -run TestExportBytesPinned -update`.
func TestExportBytesPinned(t *testing.T) {
	path := filepath.Join(testutil.Root(t), "testdata", "onnx", "export_sha256.txt")
	got := map[string]string{}
	var labels []string
	for _, c := range hashConfigs() {
		m, _, err := exportLoss(c.loss, c.opts)
		if err != nil {
			// A configuration the options refuse is pinned as refused.
			got[c.label] = "error"
		} else {
			sum := sha256.Sum256(m)
			got[c.label] = hex.EncodeToString(sum[:])
		}
		if _, dup := got[c.label+"\x00seen"]; !dup {
			labels = append(labels, c.label)
			got[c.label+"\x00seen"] = ""
		}
	}
	sort.Strings(labels)
	if *update {
		var b strings.Builder
		for _, l := range labels {
			fmt.Fprintf(&b, "%s\t%s\n", got[l], l)
		}
		if err := export.WriteFile(path, []byte(b.String())); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no manifest (run go test ./export -run TestExportBytesPinned -update): %v", err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, label, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("bad manifest line %q", sc.Text())
		}
		want[label] = sum
	}
	changed := 0
	for _, l := range labels {
		w, ok := want[l]
		switch {
		case !ok:
			t.Errorf("%s: not in the manifest", l)
		case w != got[l]:
			changed++
			if changed <= 20 {
				t.Errorf("%s: exported bytes changed (%s, was %s)", l, short(got[l]), short(w))
			}
		}
		delete(want, l)
	}
	if changed > 20 {
		t.Errorf("%d more configurations changed", changed-20)
	}
	for l := range want {
		t.Errorf("%s: in the manifest but no longer exported", l)
	}
	if len(labels) < 1000 {
		t.Errorf("only %d configurations pinned", len(labels))
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func exportLoss(name string, o losses.Options) ([]byte, any, error) {
	m, cfg, err := export.Loss(name, o)
	if err != nil {
		return nil, nil, err
	}
	b, err := export.Marshal(m)
	return b, cfg, err
}
