package losses_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/losses"
)

// FuzzResolveRoundTrip feeds arbitrary option sets to every loss. What
// Resolve accepts, its own options (Config.Options) and its typed form
// (Spec.ResolveParams) must resolve again to the same configuration.
func FuzzResolveRoundTrip(f *testing.F) {
	f.Add(uint8(0), "mode=multiclass;classes=3;smooth_nr=1")
	f.Add(uint8(3), "label_smoothing=0.1;classes=4;class_weights=1,,2")
	f.Add(uint8(4), "gamma=0;normalized=true;alpha=0.25")
	f.Add(uint8(9), "preset=smp;mode=binary")
	f.Add(uint8(20), "reduction=none;layout=nhwc;spatial_dims=3;dtype=float16")
	f.Add(uint8(30), "smooth-nr=1e-50;Smooth_NR=2")
	all := losses.All()
	f.Fuzz(func(t *testing.T, which uint8, spec string) {
		s := all[int(which)%len(all)]
		opts := losses.Options{}
		for _, kv := range strings.Split(spec, ";") {
			k, v, _ := strings.Cut(kv, "=")
			if k != "" {
				opts[k] = v
			}
		}
		c, err := losses.Resolve(s, opts)
		if err != nil {
			return
		}
		again, err := losses.Resolve(s, c.Options())
		if err != nil {
			t.Fatalf("%s %v: its own options %v are refused: %v", s.Name, opts, c.Options(), err)
		}
		if again.ParamsJSON() != c.ParamsJSON() {
			t.Fatalf("%s %v: %s resolves again to %s", s.Name, opts, c.ParamsJSON(), again.ParamsJSON())
		}
		if c.P == nil {
			return
		}
		q := s.NewParams()
		reflect.ValueOf(q).Elem().Set(reflect.ValueOf(c.P).Elem())
		*q.CommonOf() = c.Common
		q.CommonOf().MarkDefaults()
		typed, err := s.ResolveParams(q)
		if err != nil {
			t.Fatalf("%s %v: the typed form is refused: %v", s.Name, opts, err)
		}
		if typed.ParamsJSON() != c.ParamsJSON() {
			t.Fatalf("%s %v: %s resolves in typed form to %s", s.Name, opts, c.ParamsJSON(), typed.ParamsJSON())
		}
	})
}
