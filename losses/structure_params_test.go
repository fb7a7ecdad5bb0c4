package losses_test

import (
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/param"
)

// TestStructureParamsMatter checks, for options of the structure family
// that have an effect only under other options, that giving one where it
// has none is refused with a message naming what it needs, and that the
// same option is accepted where it does matter.
func TestStructureParamsMatter(t *testing.T) {
	refused := []struct {
		loss string
		opts losses.Options
		want string
	}{
		{"ssim", losses.Options{"kernel": "uniform", "sigma": "2"}, "--sigma has no effect here: it needs --kernel gaussian with --win-size 3 or more"},
		{"ssim", losses.Options{"win_size": "2", "sigma": "2"}, "--sigma has no effect here: it needs --kernel gaussian with --win-size 3 or more"},
		{"ssim", losses.Options{"win_size": "2", "kernel": "uniform"}, "--kernel has no effect here: it needs --win-size 3 or more"},
		{"ssim", losses.Options{"padding": "zeros", "small_input": "error"}, "--small-input has no effect here: it needs --padding valid or reflect"},
		{"ssim", losses.Options{"win_size": "1", "small_input": "error"}, "--small-input has no effect here: it needs --padding valid or reflect with --win-size 2 or more"},
		{"ms-ssim", losses.Options{"k1": "0", "k2": "0", "data_range": "2"}, "--data-range has no effect here: it needs --k1 or --k2 above 0"},
		{"cmssim", losses.Options{"padding": "zeros", "small_input": "clip"}, "--small-input has no effect here"},
		{"lovasz-hinge", losses.Options{"mode": "binary", "channels": "separate"}, "--channels has no effect here: it needs --mode multilabel with more than one channel"},
		{"lovasz-hinge", losses.Options{"mode": "multilabel", "classes": "1", "channels": "joint"}, "--channels has no effect here"},
		{"cldice", losses.Options{"mode": "multilabel", "include_background": "true"}, "--include-background has no effect here: it needs --mode multiclass"},
		{"dice-cldice", losses.Options{"alpha": "0", "iterations": "5"}, "--iterations has no effect here: it needs --alpha above 0"},
		{"boundary-f1", losses.Options{"theta0": "1", "eps": "1e-3"}, "--eps has no effect here: it needs --theta0 3 or more"},
		{"duo", losses.Options{"theta0": "1", "theta": "7"}, "--theta has no effect here: it needs --theta0 3 or more"},
		{"unet3p-hybrid", losses.Options{"gamma": "0", "normalized": "true"}, "--normalized has no effect here: it needs --gamma above 0"},
		{"unet3p-hybrid", losses.Options{"term_weights": "0,1,1", "alpha": "0.25"}, "--alpha has no effect here: it needs the focal term weighted above 0 (term 1 of --term-weights)"},
		{"unet3p-hybrid", losses.Options{"term_weights": "1,0,1", "win_size": "7"}, "--win-size has no effect here: it needs the MS-SSIM term weighted above 0 (term 2 of --term-weights)"},
		{"unet3p-hybrid", losses.Options{"term_weights": "1,0,1", "weights": "0.5,0.5"}, "--weights has no effect here"},
		{"basnet-hybrid", losses.Options{"term_weights": "1,1,0", "smooth": "0.5"}, "--smooth has no effect here: it needs the IoU term weighted above 0 (term 3 of --term-weights)"},
		{"basnet-hybrid", losses.Options{"term_weights": "1,0,1", "padding": "valid"}, "--padding has no effect here: it needs the SSIM term weighted above 0"},
		// Term weights that are not three are refused for that, not as
		// making the terms' options ineffective.
		{"basnet-hybrid", losses.Options{"term_weights": "1,0", "smooth": "0.5"}, "term_weights needs 3 values, got 2"},
	}
	for _, c := range refused {
		s, err := losses.Lookup(c.loss)
		if err != nil {
			t.Fatal(err)
		}
		_, err = losses.Resolve(s, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: got %v, want an error containing %q", c.loss, c.opts, err, c.want)
		}
	}
	accepted := []struct {
		loss string
		opts losses.Options
	}{
		{"ssim", losses.Options{"sigma": "2"}},
		{"ssim", losses.Options{"win_size": "3", "kernel": "uniform"}},
		{"ssim", losses.Options{"padding": "reflect", "small_input": "error"}},
		{"ssim", losses.Options{"win_size": "2", "small_input": "error"}},
		{"ms-ssim", losses.Options{"k1": "0", "data_range": "2"}},
		{"lovasz-hinge", losses.Options{"mode": "multilabel", "channels": "separate"}},
		{"cldice", losses.Options{"mode": "multiclass", "include_background": "true"}},
		{"dice-cldice", losses.Options{"alpha": "0.5", "iterations": "5"}},
		{"boundary-f1", losses.Options{"theta0": "3", "theta": "7", "eps": "1e-3"}},
		{"unet3p-hybrid", losses.Options{"gamma": "1", "normalized": "true"}},
		{"unet3p-hybrid", losses.Options{"term_weights": "1,2,0", "win_size": "7", "alpha": "0.25"}},
		{"basnet-hybrid", losses.Options{"term_weights": "0,1,0.5", "smooth": "0.5", "padding": "valid", "small_input": "error"}},
	}
	for _, c := range accepted {
		s, err := losses.Lookup(c.loss)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := losses.Resolve(s, c.opts); err != nil {
			t.Errorf("%s %v: %v", c.loss, c.opts, err)
		}
	}

	// The typed form is held to the same rules.
	p := losses.Defaults[losses.SSIM]()
	p.Kernel, p.Sigma = param.KernelUniform, 2
	if _, _, err := losses.ResolveTyped(p); err == nil || !strings.Contains(err.Error(), "--kernel gaussian") {
		t.Errorf("typed ssim, uniform kernel with sigma: got %v", err)
	}
	p.Kernel = param.KernelGaussian
	if _, c, err := losses.ResolveTyped(p); err != nil || c.P.(*losses.SSIM).Sigma != 2 {
		t.Errorf("typed ssim, gaussian kernel with sigma: %v", err)
	}
}
