package splice

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// ModelInfo summarises a model for someone about to attach a loss to it:
// its signature, opsets and size, and for every output the operation that
// produces it (a Softmax head shows here) and what Append would infer.
type ModelInfo struct {
	Path            string         `json:"path,omitempty"`
	Size            int64          `json:"size"`
	IRVersion       int64          `json:"ir_version"`
	Producer        string         `json:"producer,omitempty"`
	ProducerVersion string         `json:"producer_version,omitempty"`
	Opsets          []OpsetInfo    `json:"opsets"`
	Inputs          []ValueSummary `json:"inputs"`
	Outputs         []OutputInfo   `json:"outputs"`
	Nodes           int            `json:"nodes"`
	// Initializers counts the weight tensors and Parameters their elements,
	// saturating at math.MaxInt64 (dimensions whose product overflows are
	// possible in a file, if not in memory).
	Initializers int   `json:"initializers"`
	Parameters   int64 `json:"parameters"`
	// External lists the external data files; ExternalBytes is their size.
	External      []modelio.ExternalFile `json:"external_data,omitempty"`
	ExternalBytes int64                  `json:"external_bytes,omitempty"`
	// Functions lists the model-local functions as domain::name.
	Functions []string   `json:"functions,omitempty"`
	Metadata  []KeyValue `json:"metadata,omitempty"`
}

// KeyValue is one metadata entry.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// OpsetInfo is one opset import; Domain "" is the default ONNX domain.
type OpsetInfo struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

// ValueSummary describes a graph input or output: its element type and its
// dimensions (sizes, symbolic names, or "?"); Shape is nil when the model
// declares no shape.
type ValueSummary struct {
	Name  string   `json:"name"`
	DType string   `json:"dtype"`
	Shape []string `json:"shape"`
}

// OutputInfo describes a graph output.
type OutputInfo struct {
	ValueSummary
	// Op is the operation that produces the output (after Identity nodes),
	// "" when a graph input or an initializer is output directly; Node is
	// that node's name.
	Op   string `json:"op,omitempty"`
	Node string `json:"node,omitempty"`
	// Axis is the axis of a Softmax or LogSoftmax, counted in the output's
	// axes, or -1.
	Axis int `json:"axis"`
	// Logits is the input of a Softmax, Sigmoid or LogSoftmax head: the value
	// Append attaches to by default.
	Logits string `json:"logits,omitempty"`
	// Then lists the ops that only move values between the head and the
	// output (Transpose, and after a Sigmoid Reshape), in order, as tf2onnx
	// writes channels-last Keras heads; Append then reads the logits put
	// through copies of them, in the output's layout.
	Then []string `json:"then,omitempty"`
	// Layout and Channels are what Append would infer: "nchw" or "nhwc"
	// ("" when the model does not tell) and the size of the class axis (0
	// when the model does not fix it).
	Layout   string `json:"layout,omitempty"`
	Channels int64  `json:"channels,omitempty"`
}

// Inspect summarises a loaded model.
func Inspect(lm *modelio.Model) *ModelInfo {
	m := lm.Proto
	g := m.GetGraph()
	info := &ModelInfo{Path: lm.Path, Size: lm.Size, IRVersion: m.GetIrVersion(), Producer: m.GetProducerName(),
		ProducerVersion: m.GetProducerVersion(), Nodes: len(g.GetNode()), External: lm.External,
		ExternalBytes: lm.ExternalBytes(), Opsets: []OpsetInfo{}, Inputs: []ValueSummary{}, Outputs: []OutputInfo{}}
	for _, o := range m.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		info.Opsets = append(info.Opsets, OpsetInfo{Domain: d, Version: o.GetVersion()})
	}
	ix := newGraphIndex(g)
	for _, t := range g.GetInitializer() {
		info.Initializers++
		info.Parameters = addSat(info.Parameters, elements(t.GetDims()))
	}
	for _, in := range g.GetInput() {
		if _, isInit := ix.inits[in.GetName()]; isInit {
			continue
		}
		info.Inputs = append(info.Inputs, summary(in))
	}
	for _, out := range g.GetOutput() {
		oi := OutputInfo{ValueSummary: summary(out), Axis: -1}
		rank := ix.rank(out.GetName())
		act := ix.activation(out.GetName(), rank)
		if act.node != nil {
			oi.Op, oi.Node = act.node.GetOpType(), act.node.GetName()
			if d := act.node.GetDomain(); !isDefaultDomain(d) {
				oi.Op = d + "::" + oi.Op
			}
		}
		oi.Axis, oi.Logits = act.axis, act.logits
		for _, n := range act.after {
			oi.Then = append(oi.Then, n.GetOpType())
		}
		if guess := ix.guessLayout(out.GetName(), rank, act); guess.layout != "" {
			oi.Layout = guess.layout
			oi.Channels = max(guess.channels, 0)
		}
		info.Outputs = append(info.Outputs, oi)
	}
	for _, f := range m.GetFunctions() {
		info.Functions = append(info.Functions, f.GetDomain()+"::"+f.GetName())
	}
	sort.Strings(info.Functions)
	for _, kv := range m.GetMetadataProps() {
		info.Metadata = append(info.Metadata, KeyValue{Key: kv.GetKey(), Value: kv.GetValue()})
	}
	return info
}

// elements returns the number of elements of a tensor with the given
// dimensions, saturating at math.MaxInt64; a negative dimension (invalid)
// counts as none.
func elements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		switch {
		case d <= 0:
			return 0
		case n > math.MaxInt64/d:
			n = math.MaxInt64
		default:
			n *= d
		}
	}
	return n
}

// addSat adds two non-negative counts, saturating at math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// elemTypeName names an ONNX element type: onnxloss's names where it has
// them (float32, int64, ...), ONNX's in lower case otherwise (int8, string).
func elemTypeName(t int32) string {
	if d := tensor.DType(t); d.IsFloat() || d == tensor.Int64 || d == tensor.Int32 || d == tensor.Uint8 || d == tensor.Bool {
		return d.String()
	}
	if n, ok := onnxpb.TensorProto_DataType_name[t]; ok && t != 0 {
		return strings.ToLower(n)
	}
	return fmt.Sprintf("type(%d)", t)
}

func summary(v *onnxpb.ValueInfoProto) ValueSummary {
	tt := v.GetType().GetTensorType()
	s := ValueSummary{Name: v.GetName(), DType: "(not a tensor)"}
	if tt != nil {
		s.DType = elemTypeName(tt.GetElemType())
		s.Shape = dimStrings(tt)
	}
	return s
}
