package training

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// importer records a model's graph in a builder graph as external values and
// nodes (see builder.External), with the dtype and shape of every value
// inferred as far as the backward pass needs: the rank always, sizes where
// they follow from known sizes.
type importer struct {
	g     *builder.Graph
	opset int64
	vals  map[string]*builder.Value
	// declared holds the types the model declares (inputs, outputs,
	// value_info), which refine the inferred ones.
	declared map[string]*onnxpb.TypeProto_Tensor
}

// smallConst is the most elements of an initializer or constant that is
// decoded for rules that need constant operands (axes, bounds, scales).
const smallConst = 4096

func (im *importer) lookup(name string) (*builder.Value, error) {
	if name == "" {
		return nil, nil
	}
	v, ok := im.vals[name]
	if !ok {
		return nil, fmt.Errorf("value %q is used before any node computes it", name)
	}
	return v, nil
}

// shapeFromType turns a declared tensor type into a builder shape.
func shapeFromType(tt *onnxpb.TypeProto_Tensor) builder.Shape {
	if tt == nil || tt.GetShape() == nil {
		return nil
	}
	return builder.ShapeFromProto(tt.GetShape())
}

// addInitializer declares an initializer as an external value; small
// integer and float ones carry their value.
func (im *importer) addInitializer(t *onnxpb.TensorProto) error {
	dt := tensor.DType(t.GetDataType())
	shape := make(builder.Shape, len(t.GetDims()))
	n := int64(1)
	for i, d := range t.GetDims() {
		shape[i] = builder.Fixed(d)
		n *= d
	}
	var konst *tensor.Tensor
	if n <= smallConst && (dt == tensor.Int64 || !dt.IsFloat() || n <= 16) {
		konst = decodeTensor(t)
	}
	im.vals[t.GetName()] = im.g.External(t.GetName(), dt, shape, konst)
	return nil
}

// Decode returns the value of a tensor held in the model (not in external
// data) of type int64, int32, float32 or float64, or nil.
func Decode(t *onnxpb.TensorProto) *tensor.Tensor { return decodeTensor(t) }

// decodeTensor decodes a tensor held in the model (not in external data) of
// a type the rules read: int64, int32, float32 or float64; nil otherwise.
func decodeTensor(t *onnxpb.TensorProto) *tensor.Tensor {
	dims := make([]int, len(t.GetDims()))
	n := 1
	for i, d := range t.GetDims() {
		dims[i] = int(d)
		n *= int(d)
	}
	if len(t.GetExternalData()) > 0 || t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil
	}
	raw := t.GetRawData()
	switch tensor.DType(t.GetDataType()) {
	case tensor.Int64:
		out := make([]int64, n)
		if len(raw) == 8*n && raw != nil {
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else if len(t.GetInt64Data()) == n {
			copy(out, t.GetInt64Data())
		} else {
			return nil
		}
		return tensor.FromInt64(dims, out)
	case tensor.Int32:
		out := make([]int64, n)
		if len(raw) == 4*n && raw != nil {
			for i := range out {
				out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
		} else if len(t.GetInt32Data()) == n {
			for i, x := range t.GetInt32Data() {
				out[i] = int64(x)
			}
		} else {
			return nil
		}
		return tensor.FromInt64(dims, out).Convert(tensor.Int32)
	case tensor.Float32:
		out := make([]float32, n)
		if len(raw) == 4*n && raw != nil {
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else if len(t.GetFloatData()) == n {
			copy(out, t.GetFloatData())
		} else {
			return nil
		}
		return tensor.FromFloat32(dims, out)
	case tensor.Float64:
		out := make([]float64, n)
		if len(raw) == 8*n && raw != nil {
			for i := range out {
				out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else if len(t.GetDoubleData()) == n {
			copy(out, t.GetDoubleData())
		} else {
			return nil
		}
		return tensor.FromFloat64(dims, out)
	}
	return nil
}

// attrs converts a node's attributes to the builder's representation.
func attrs(n *onnxpb.NodeProto) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range n.GetAttribute() {
		switch a.GetType() {
		case onnxpb.AttributeProto_INT:
			out[a.GetName()] = a.GetI()
		case onnxpb.AttributeProto_FLOAT:
			out[a.GetName()] = a.GetF()
		case onnxpb.AttributeProto_STRING:
			out[a.GetName()] = string(a.GetS())
		case onnxpb.AttributeProto_INTS:
			out[a.GetName()] = append([]int64{}, a.GetInts()...)
		case onnxpb.AttributeProto_FLOATS:
			out[a.GetName()] = append([]float32{}, a.GetFloats()...)
		case onnxpb.AttributeProto_TENSOR:
			out[a.GetName()] = decodeTensor(a.GetT())
		case onnxpb.AttributeProto_GRAPH, onnxpb.AttributeProto_GRAPHS:
			out[a.GetName()] = nil // subgraphs: the node is opaque (see inferNode)
		default:
			out[a.GetName()] = nil
		}
	}
	return out, nil
}

// node records one node of the model.
func (im *importer) node(n *onnxpb.NodeProto) error {
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return im.opaque(n, fmt.Sprintf("op %s of domain %q", n.GetOpType(), d))
	}
	ins := make([]*builder.Value, len(n.GetInput()))
	for i, name := range n.GetInput() {
		v, err := im.lookup(name)
		if err != nil {
			return fmt.Errorf("node %q (%s): %w", n.GetName(), n.GetOpType(), err)
		}
		ins[i] = v
	}
	at, err := attrs(n)
	if err != nil {
		return err
	}
	outs, err := im.infer(n, &ins, at)
	if err != nil {
		return fmt.Errorf("node %q (%s): %w", n.GetName(), n.GetOpType(), err)
	}
	if outs == nil {
		return im.opaque(n, "op "+n.GetOpType())
	}
	for i, name := range n.GetOutput() {
		if i < len(outs) {
			outs[i].Name = name
			if tt := im.declared[name]; tt != nil {
				refine(&outs[i], tt)
			}
		}
	}
	vs := im.g.ExternalNode(n.GetOpType(), nodeName(n), ins, at, outs)
	if err := im.g.Err(); err != nil {
		return err
	}
	for i, name := range n.GetOutput() {
		if name != "" && i < len(vs) {
			im.vals[name] = vs[i]
		}
	}
	return nil
}

// opaque records a node whose op the importer does not know: its outputs
// exist for the nodes that read them, with the types the model declares,
// and a gradient that must cross the node fails, naming it.
func (im *importer) opaque(n *onnxpb.NodeProto, what string) error {
	ins := make([]*builder.Value, 0, len(n.GetInput()))
	for _, name := range n.GetInput() {
		if v, ok := im.vals[name]; ok && v != nil {
			ins = append(ins, v)
		}
	}
	outs := make([]builder.ExternalOutput, len(n.GetOutput()))
	for i, name := range n.GetOutput() {
		outs[i] = builder.ExternalOutput{Name: name, DType: tensor.Float32}
		if tt := im.declared[name]; tt != nil {
			outs[i].DType = tensor.DType(tt.GetElemType())
			outs[i].Shape = shapeFromType(tt)
		}
		// Without a declared type the output counts as a float tensor, so
		// that a gradient that would have to cross the node fails there,
		// naming it, instead of stopping silently.
	}
	_ = what
	op := n.GetOpType() // no gradient rule: the op is unknown to the importer
	if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
		op = n.GetDomain() + "." + n.GetOpType()
	}
	vs := im.g.ExternalNode(op, nodeName(n), ins, nil, outs)
	if err := im.g.Err(); err != nil {
		return err
	}
	for i, name := range n.GetOutput() {
		if name != "" {
			im.vals[name] = vs[i]
		}
	}
	return nil
}

func nodeName(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return n.GetOpType() + "(" + n.GetOutput()[0] + ")"
	}
	return n.GetOpType()
}

// refine replaces unknown dimensions with the declared ones and takes the
// declared shape where none was inferred.
func refine(o *builder.ExternalOutput, tt *onnxpb.TypeProto_Tensor) {
	ds := shapeFromType(tt)
	if ds == nil {
		return
	}
	if o.Shape == nil && tt.GetShape() != nil {
		o.Shape = ds
		return
	}
	if len(ds) != len(o.Shape) {
		return
	}
	for i, d := range ds {
		if !o.Shape[i].Known() && (d.Known() || d.Param != "") {
			o.Shape[i] = d
		}
	}
}
