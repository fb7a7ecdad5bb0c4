package export

import (
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/onnxpb"
)

// Loss resolves a loss by name and options and returns its model.
func Loss(name string, opts losses.Options) (*onnxpb.ModelProto, *losses.Config, error) {
	spec, err := losses.Lookup(name)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := losses.Resolve(spec, opts)
	if err != nil {
		return nil, nil, err
	}
	m, err := LossModel(spec, cfg)
	if err != nil {
		return nil, nil, err
	}
	return m, cfg, nil
}

// LossModel builds the model of a resolved loss: the graph, the IR version
// and opset, and the onnxloss.* metadata describing every parameter.
func LossModel(spec *losses.Spec, cfg *losses.Config) (*onnxpb.ModelProto, error) {
	g, err := losses.Build(spec, cfg)
	if err != nil {
		return nil, err
	}
	losses.Annotate(g, spec, cfg, Version)
	var meta []Meta
	for _, kv := range cfg.Metadata(Version) {
		meta = append(meta, Meta{kv[0], kv[1]})
	}
	doc := spec.Summary + " " + spec.Citation
	return Model(g, doc, meta)
}

// LossOf builds the model of a loss given by its typed parameters, which
// start from losses.Defaults (or losses.WithPreset). It gives the bytes
// Loss gives for the same options as strings.
//
//	d := losses.Defaults[losses.Dice]()
//	d.Mode, d.Classes = losses.Multiclass, 3
//	m, cfg, err := export.LossOf(d)
func LossOf[P any, PP interface {
	*P
	param.Declarer
}](p P) (*onnxpb.ModelProto, *losses.Config, error) {
	spec, cfg, err := losses.ResolveTyped[P, PP](p)
	if err != nil {
		return nil, nil, err
	}
	m, err := LossModel(spec, cfg)
	if err != nil {
		return nil, nil, err
	}
	return m, cfg, nil
}
