package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/verify"
)

func init() {
	register(&command{
		name:    "verify",
		summary: "check loss graphs in ONNX Runtime against the Go references",
		usage:   "[LOSS...] [--all] [--grad] [--provider cpu|cuda]",
		help: `Runs each named loss (or every loss with --all) in every mode and the option
sets the test suite covers: both layouts, 2D and 3D, probability inputs, each
reduction and the loss's variants, on random inputs and edge cases (logits of
magnitude 1e4, empty and full masks, a single pixel, all pixels ignored).
Each result is compared with the Go reference: the graph passes when every
output element is within |graph - reference| <= 1e-6 + 2e-5·|reference|
(or the loss's own budget). With --grad, input_grad is checked instead: each
configuration built with --grad (reduction mean and sum, and float64, float16
and bfloat16 inputs) against central finite differences of the Go reference
in float64, within the budget the test suite states (1e-4 of the entry plus
1e-5 of the gradient's scale in float32; see verify.GradRelTol). Prints a
table; exit status 1 on any mismatch.`,
		flags: []flagDef{
			{name: "all", doc: "verify every loss"},
			{name: "grad", doc: "check input_grad (d loss / d input) against finite differences of the reference"},
			{name: "provider", value: "NAME", doc: "cpu (default) or cuda"},
			{name: "threads", value: "N", doc: "ONNX Runtime intra-op threads (0: its default)"},
			{name: "seed", value: "N", doc: "seed of the random inputs (default 1)"},
			{name: "verbose", doc: "print every failing case"},
		},
		run: runVerify,
	})
}

func runVerify(e *env, a *args) error {
	var specs []*losses.Spec
	switch {
	case a.boolFlag("all") && len(a.positional) > 0:
		return usagef("give loss names or --all, not both")
	case a.boolFlag("all"):
		specs = losses.All()
	case len(a.positional) == 0:
		return usagef("name the losses to verify, or give --all")
	default:
		for _, n := range a.positional {
			s, err := losses.Lookup(n)
			if err != nil {
				return err
			}
			specs = append(specs, s)
		}
	}
	rt, err := runtimeOptions(a)
	if err != nil {
		return err
	}
	r := &verify.Runner{Runtime: rt, Seed: 1}
	if v, ok := a.flag("seed"); ok {
		if r.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return usagef("--seed %q: want a non-negative integer", v)
		}
	}
	if err := runtime.Init(); err != nil {
		return err
	}
	if rt.Provider == runtime.ProviderCUDA {
		if err := runtime.ProviderAvailable(runtime.ProviderCUDA); err != nil {
			return err
		}
	}
	if a.boolFlag("grad") {
		return verifyGrad(e, a, specs, &verify.GradRunner{Runtime: rt, Seed: r.Seed})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOSS\tCONFIGS\tCASES\tMAX REL ERR\tWORST (OF BUDGET)\tSTATUS")
	bad := 0
	var failures []string
	for _, s := range specs {
		cases, worst, maxRel, failed := 0, 0.0, 0.0, 0
		configs := verify.Configs(s, nil)
		for _, c := range configs {
			for _, res := range r.Run(c) {
				cases++
				if res.MaxErr > worst {
					worst = res.MaxErr
				}
				if res.MaxRel > maxRel {
					maxRel = res.MaxRel
				}
				if !res.OK() {
					failed++
					if a.boolFlag("verbose") || len(failures) < 10 {
						failures = append(failures, fmt.Sprintf("%s / %s / %s: %s", s.Name, res.Config, res.Case, failureText(res)))
					}
				}
			}
		}
		status := "ok"
		if failed > 0 {
			status = fmt.Sprintf("FAIL (%d)", failed)
			bad++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2g\t%.2g\t%s\n", s.Name, len(configs), cases, maxRel, worst, status)
	}
	tw.Flush()
	for _, f := range failures {
		fmt.Fprintln(e.stderr, f)
	}
	if bad > 0 {
		return &failure{msg: fmt.Sprintf("%d of %d losses failed verification", bad, len(specs))}
	}
	return nil
}

func failureText(r verify.Result) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return fmt.Sprintf("graph %v, reference %v (%.3g of budget)", r.Graph, r.Ref, r.MaxErr)
}

// verifyGrad checks input_grad of every gradient configuration of the
// losses against finite differences of their references.
func verifyGrad(e *env, a *args, specs []*losses.Spec, r *verify.GradRunner) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOSS\tCONFIGS\tCASES\tKINKS\tMAX ERR (OF SCALE)\tWORST (OF BUDGET)\tSTATUS")
	bad := 0
	var failures []string
	for _, s := range specs {
		cases, kinks, failed := 0, 0, 0
		worst, maxRel := 0.0, 0.0
		configs := verify.GradConfigs(s)
		for _, c := range configs {
			for _, res := range r.Run(c) {
				cases++
				kinks += res.Kinks
				worst = max(worst, res.MaxErr)
				maxRel = max(maxRel, res.MaxRel)
				if !res.OK() {
					failed++
					if a.boolFlag("verbose") || len(failures) < 10 {
						msg := res.Worst
						if res.Err != nil {
							msg = res.Err.Error()
						}
						failures = append(failures, fmt.Sprintf("%s / %s / %s: %.3g of budget: %s", s.Name, res.Config, res.Case, res.MaxErr, msg))
					}
				}
			}
		}
		status := "ok"
		if failed > 0 {
			status = fmt.Sprintf("FAIL (%d)", failed)
			bad++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2g\t%.2g\t%s\n", s.Name, len(configs), cases, kinks, maxRel, worst, status)
	}
	tw.Flush()
	for _, f := range failures {
		fmt.Fprintln(e.stderr, f)
	}
	if bad > 0 {
		return &failure{msg: fmt.Sprintf("%d of %d losses failed gradient verification", bad, len(specs))}
	}
	return nil
}
