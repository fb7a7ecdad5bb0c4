package losses_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/verify"
)

// optionSets lists the string option sets a typed round trip is checked on:
// every configuration verification covers, and every preset in every mode.
func optionSets(s *losses.Spec) []losses.Options {
	var out []losses.Options
	for _, c := range verify.Configs(s, nil) {
		out = append(out, c.Options)
	}
	for _, p := range s.Presets {
		for _, m := range s.Modes {
			out = append(out, losses.Options{"mode": string(m), "preset": p.Name})
		}
	}
	return out
}

// TestTypedMatchesStrings resolves every configuration twice, from option
// strings and from the typed parameter struct those strings resolve to,
// and requires the same configuration and byte-identical models.
func TestTypedMatchesStrings(t *testing.T) {
	typed := 0
	for _, s := range losses.All() {
		if s.NewParams() == nil {
			continue
		}
		typed++
		for _, o := range optionSets(s) {
			c1, err := losses.Resolve(s, o)
			if err != nil {
				continue // refused as strings; the typed form is not reachable
			}
			q := s.NewParams()
			reflect.ValueOf(q).Elem().Set(reflect.ValueOf(c1.P).Elem())
			*q.CommonOf() = c1.Common
			q.CommonOf().MarkDefaults()
			c2, err := s.ResolveParams(q)
			if err != nil {
				t.Errorf("%s %v: typed form refused: %v", s.Name, o, err)
				continue
			}
			if c1.ParamsJSON() != c2.ParamsJSON() {
				t.Errorf("%s %v: typed form resolves to %s, strings to %s", s.Name, o, c2.ParamsJSON(), c1.ParamsJSON())
				continue
			}
			m1, err1 := export.LossModel(s, c1)
			m2, err2 := export.LossModel(s, c2)
			if err1 != nil || err2 != nil {
				if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
					t.Errorf("%s %v: %v / %v", s.Name, o, err1, err2)
				}
				continue
			}
			b1, _ := export.Marshal(m1)
			b2, _ := export.Marshal(m2)
			if !bytes.Equal(b1, b2) {
				t.Errorf("%s %v: typed and string forms export different bytes", s.Name, o)
			}
		}
	}
	if typed == 0 {
		t.Fatal("no loss with typed parameters")
	}
}

func TestTypedAPI(t *testing.T) {
	f := losses.Defaults[losses.Focal]()
	if f.Gamma != 2 || f.Mode != losses.Binary || !f.FromLogits || f.Reduction != losses.Mean || f.MeanOver != param.MeanOverValid {
		t.Fatalf("defaults: %+v", f)
	}
	f.Mode, f.Classes, f.Gamma, f.Alpha = losses.Multiclass, 3, 0.5, []float64{0.2, 0.3, 0.5}
	_, c, err := losses.ResolveTyped(f)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := losses.Lookup("focal")
	want, err := losses.Resolve(s, losses.Options{"mode": "multiclass", "classes": "3", "gamma": "0.5", "alpha": "0.2,0.3,0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ParamsJSON() != want.ParamsJSON() {
		t.Errorf("typed %s, strings %s", c.ParamsJSON(), want.ParamsJSON())
	}

	// A bare literal is refused, naming the way out.
	_, _, err = losses.ResolveTyped(losses.Focal{FocalTerm: param.FocalTerm{Gamma: 1}})
	if err == nil || !strings.Contains(err.Error(), "losses.Defaults") {
		t.Errorf("bare literal: got %v", err)
	}

	// A parameter moved from its default where it cannot matter is refused
	// in the typed form as in the string form.
	b := losses.Defaults[losses.BalancedBCE]()
	b.Beta = 0.8
	if _, _, err := losses.ResolveTyped(b); err == nil || !strings.Contains(err.Error(), "--beta-from fixed") {
		t.Errorf("beta without beta_from fixed: got %v", err)
	}
	b.BetaFrom = param.BetaFromFixed
	if _, c, err := losses.ResolveTyped(b); err != nil || c.P.(*losses.BalancedBCE).Beta != 0.8 {
		t.Errorf("beta with beta_from fixed: %v", err)
	}

	// A field of a shared struct that the loss does not take is refused when
	// changed, not dropped.
	lcd := losses.Defaults[losses.LogCoshDice]()
	lcd.LogLoss = !lcd.LogLoss
	if _, _, err := losses.ResolveTyped(lcd); err == nil || !strings.Contains(err.Error(), "LogLoss") {
		t.Errorf("undeclared field: got %v", err)
	}

	// A preset's values are the starting point, and survive resolution.
	p, err := losses.WithPreset[losses.BCE](losses.Binary, "smp")
	if err != nil {
		t.Fatal(err)
	}
	if p.MeanOver != param.MeanOverAll || p.IgnoreIndex == nil || *p.IgnoreIndex != -100 {
		t.Fatalf("smp preset: %+v", p)
	}
	if _, c, err := losses.ResolveTyped(p); err != nil || c.P.(*losses.BCE).MeanOver != param.MeanOverAll {
		t.Errorf("smp preset resolved: %v", err)
	}
}

// TestParameterThatCannotMatter walks every declared parameter of every
// loss: where it has no effect under the defaults, giving it explicitly is
// a usage error that says what would make it matter.
func TestParameterThatCannotMatter(t *testing.T) {
	checked := 0
	for _, s := range losses.All() {
		for _, m := range s.Modes {
			c, err := losses.Resolve(s, losses.Options{"mode": string(m)})
			if err != nil || c.P == nil {
				continue
			}
			for _, d := range losses.BoundParams(c.P) {
				if d.Applies() {
					continue
				}
				checked++
				o := losses.Options{"mode": string(m), d.Name: param.Format(d.Value())}
				if d.Kind == param.KindFloats && d.Value().([]float64) == nil {
					o[d.Name] = "1"
				}
				_, err := losses.Resolve(s, o)
				if err == nil || !strings.Contains(err.Error(), "has no effect") || !strings.Contains(err.Error(), d.Needs()) {
					t.Errorf("%s %s: --%s given where it cannot matter: got %v", s.Name, m, d.Name, err)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no parameter was checked")
	}
}

func TestDuplicateAndMalformedOptions(t *testing.T) {
	s, _ := losses.Lookup("bce")
	for _, o := range []losses.Options{
		{"label_smoothing": "0.1", "label-smoothing": "0.2"},
		{"label_smoothing": "0.1", "--Label-Smoothing": "0.1"},
		{"pos_weight": "1,,2", "mode": "multilabel"},
		{"pos_weight": "1,2,", "mode": "multilabel"},
		{"pos_weight": "1e39"},
		{"label_smoothing": "1e-50"},
		{"class_weights": "1e39"},
		{"class_weights": ",1"},
	} {
		if _, err := losses.Resolve(s, o); err == nil {
			t.Errorf("%v: accepted", o)
		}
	}
	// Zero and float32's range edges are fine.
	if _, err := losses.Resolve(s, losses.Options{"pos_weight": "3.4e38", "label_smoothing": "0"}); err != nil {
		t.Error(err)
	}
}
