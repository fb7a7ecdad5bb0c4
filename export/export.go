// Package export is the entry point for turning losses into ONNX models and
// attaching them to existing models. It assembles a loss's ModelProto (IR
// version, opset import, producer, metadata) from its builder graph; the
// work on files and on other models lives in two packages that this one
// fronts, so that callers need only one import:
//
//   - export/modelio: serialisation, atomic writes, loading a model with its
//     external data, writing a derived model, the structural check;
//   - export/splice: attaching a loss to a model and inspecting a model.
package export

import (
	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/onnxpb"
)

// Producer and Version stamp every model onnxloss writes.
const (
	Producer = modelio.Producer
	Version  = modelio.Version
)

// MaxModelSize is the largest model file LoadModel reads (see modelio.MaxSize).
const MaxModelSize = modelio.MaxSize

// DefaultPrefix starts the name of every node and value that Append adds,
// apart from the public inputs and outputs.
const DefaultPrefix = splice.DefaultPrefix

type (
	// LoadedModel is a model read by LoadModel or ParseModel.
	LoadedModel = modelio.Model
	// ExternalFile is one external data file of a model.
	ExternalFile = modelio.ExternalFile
	// OverwriteError reports an output path that is the input model or one
	// of its external data files.
	OverwriteError = modelio.OverwriteError

	// AppendOptions say which loss Append attaches, and where.
	AppendOptions = splice.Options
	// AppendReport says what Append inferred and did.
	AppendReport = splice.Report
	// OutputChoiceError reports that the output to attach to must be named
	// or does not exist.
	OutputChoiceError = splice.OutputChoiceError

	// ModelInfo summarises a model (see Inspect).
	ModelInfo = splice.ModelInfo
	// OutputInfo describes a graph output in a ModelInfo.
	OutputInfo = splice.OutputInfo
	// ValueSummary describes a graph input or output in a ModelInfo.
	ValueSummary = splice.ValueSummary
	// OpsetInfo is one opset import in a ModelInfo.
	OpsetInfo = splice.OpsetInfo
	// KeyValue is one metadata entry in a ModelInfo.
	KeyValue = splice.KeyValue
)

// Marshal serialises a model deterministically: the same model gives the
// same bytes on every run and machine.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) { return modelio.Marshal(m) }

// WriteFile writes data to path atomically (see modelio.WriteFile for the
// rules on links, read-only files and devices).
func WriteFile(path string, data []byte) error { return modelio.WriteFile(path, data) }

// Save marshals m and writes it atomically to path.
func Save(path string, m *onnxpb.ModelProto) error { return modelio.Save(path, m) }

// LoadModel reads an ONNX model file and checks its external data
// references (see modelio.Load).
func LoadModel(path string) (*LoadedModel, error) { return modelio.Load(path) }

// ParseModel decodes a serialized ONNX model (see modelio.Parse).
func ParseModel(b []byte) (*LoadedModel, error) { return modelio.Parse(b) }

// Check verifies a model's structure and returns every problem found,
// joined (see modelio.Check).
func Check(m *onnxpb.ModelProto) error { return modelio.Check(m) }

// Append attaches a loss to a model; m is not modified (see splice.Append).
func Append(m *onnxpb.ModelProto, opts AppendOptions) (*onnxpb.ModelProto, *AppendReport, error) {
	return splice.Append(m, opts)
}

// AppendFile reads the model at modelPath, attaches the loss as Append does,
// and writes the result to outPath atomically, with the model's external
// data placed next to it (see splice.AppendFile).
func AppendFile(modelPath, outPath string, opts AppendOptions) (*AppendReport, error) {
	return splice.AppendFile(modelPath, outPath, opts)
}

// Inspect summarises a loaded model: its signature, opsets and size, and
// what Append would infer for every output (see splice.Inspect).
func Inspect(lm *LoadedModel) *ModelInfo { return splice.Inspect(lm) }

// Training graphs (see package training).
type (
	// TrainOptions say which loss to attach, which parameters train and,
	// optionally, which optimizer updates them.
	TrainOptions = training.Options
	// TrainReport says what AppendTrain inferred and did.
	TrainReport = training.Report
	// Optimizer is an in-graph parameter update.
	Optimizer = training.Optimizer
	// TrainUsageError reports training options that cannot be used.
	TrainUsageError = training.OptionError
)

// AppendTrain returns the training graph of a model with a loss: inputs
// the model's, the target and every trainable parameter; outputs the loss
// and each parameter's gradient (or, with an optimizer, the updated
// parameters and state). See training.Build.
func AppendTrain(m *onnxpb.ModelProto, opts TrainOptions) (*onnxpb.ModelProto, *TrainReport, error) {
	return training.Build(m, opts)
}

// AppendTrainFile reads the model at modelPath, builds its training graph
// as AppendTrain does, and writes it to outPath atomically, with the model's
// external data placed next to it as AppendFile does.
func AppendTrainFile(modelPath, outPath string, opts TrainOptions) (*TrainReport, error) {
	lm, err := modelio.Load(modelPath)
	if err != nil {
		return nil, err
	}
	if err := lm.CheckOutput(outPath); err != nil {
		return nil, err
	}
	m, rep, err := training.Build(lm.Proto, opts)
	if err != nil {
		return nil, err
	}
	if err := lm.WriteModel(outPath, m); err != nil {
		return nil, err
	}
	return rep, nil
}
