// Package losses is the catalog of segmentation losses: one Spec per loss,
// with its modes, parameters, presets, extra inputs, a build function that
// writes the loss with the graph builder, and a reference function (package
// losses/reference) that computes the same loss independently in float64 Go.
//
// # Choosing a loss
//
// A loss is chosen by name with its options as strings, exactly as the
// command line takes them:
//
//	spec, _ := losses.Lookup("dice")
//	cfg, err := losses.Resolve(spec, losses.Options{"mode": "multiclass", "classes": "3"})
//
// or by its typed parameters, which start from the loss's defaults:
//
//	d := losses.Defaults[losses.Dice]()
//	d.Mode, d.Classes = losses.Multiclass, 3
//	spec, cfg, err := losses.ResolveTyped(d)
//
// Both give the same Config, and so the same exported bytes. Resolve checks
// every option against the loss: unknown names get a suggestion, values are
// checked against ranges and float32's range, an option given twice (in two
// spellings) is refused, and so is a parameter given where it has no effect
// under the other options (param.Param.Matters says when it has one).
// Build writes the graph of a resolved configuration; package export wraps
// it into a model.
//
// # How a loss is written
//
// Each loss lives in a file of its own (tversky.go): a Define call that
// joins the Spec (name, family, summary, citation, formula, modes, presets,
// notes) to its typed parameters (param.Tversky, declared once in package
// losses/param and read by graph and reference alike), its build function
// and its reference. The catalog list in catalog.go registers it; the
// command line, the registry-wide tests, `onnxloss list` and the README
// table pick it up from there. CONTRIBUTING.md walks through adding one.
//
// Every loss follows the exported-model contract in the README: inputs
// `input` and `target` (and documented extra inputs), output `loss`,
// symbolic batch and spatial dimensions, logit-space arithmetic.
package losses
