package builder

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// Proto emits the graph as an ONNX GraphProto for the graph's opset. It
// fails with the first error met while building, or when the graph has no
// outputs. Calling it twice gives equal results.
func (g *Graph) Proto() (*onnxpb.GraphProto, error) {
	if g.err != nil {
		return nil, g.err
	}
	if len(g.outputs) == 0 {
		return nil, fmt.Errorf("graph %q has no outputs", g.name)
	}
	e := &emitter{g: g, names: map[*Value]string{}, used: map[string]bool{}}
	return e.emit()
}

type emitter struct {
	g     *Graph
	names map[*Value]string
	used  map[string]bool
	gp    *onnxpb.GraphProto
	// parent is the emitter of the enclosing graph, for a subgraph.
	parent *emitter
}

func (e *emitter) claim(name string) error {
	if e.used[name] {
		return fmt.Errorf("graph %q: value name %q used twice", e.g.name, name)
	}
	e.used[name] = true
	return nil
}

func (e *emitter) emit() (*onnxpb.GraphProto, error) {
	g := e.g
	e.gp = &onnxpb.GraphProto{Name: proto.String(g.name)}
	if g.doc != "" {
		e.gp.DocString = proto.String(g.doc)
	}
	for _, in := range g.inputs {
		if err := e.claim(in.inputName); err != nil {
			return nil, err
		}
		e.names[in] = in.inputName
		e.gp.Input = append(e.gp.Input, ValueInfo(in.inputName, in.dtype, in.shape))
	}
	// External values keep the names they have in the model the graph
	// joins; external nodes are that model's and are not emitted.
	for _, n := range g.nodes {
		for _, in := range n.inputs {
			if in != nil && in.extName != "" {
				e.names[in] = in.extName
			}
		}
		for _, v := range n.outputs {
			if v.extName != "" {
				e.names[v] = v.extName
			}
		}
	}
	for _, o := range g.outputs {
		if o.v.extName != "" {
			e.names[o.v] = o.v.extName
		}
	}
	// An output takes over the name of the value it marks, unless that value
	// is an input or already named by an earlier output: those get an Identity.
	var identities []namedValue
	for _, o := range g.outputs {
		if _, taken := e.names[o.v]; taken || o.v.extName != "" {
			identities = append(identities, o)
			continue
		}
		if err := e.claim(o.name); err != nil {
			return nil, err
		}
		e.names[o.v] = o.name
	}
	live := liveNodes(g)
	for _, n := range g.nodes {
		if n.external || !live[n] {
			continue
		}
		for i, v := range n.outputs {
			if _, ok := e.names[v]; ok {
				continue
			}
			name := n.name
			if v.name != "" {
				name = v.name
			} else if i > 0 {
				name = fmt.Sprintf("%s_%d", n.name, i)
			}
			if err := e.claim(name); err != nil {
				return nil, err
			}
			e.names[v] = name
		}
	}
	for _, n := range g.nodes {
		if n.external || !live[n] {
			continue
		}
		if err := e.node(n); err != nil {
			return nil, err
		}
	}
	for _, o := range identities {
		if err := e.claim(o.name); err != nil {
			return nil, err
		}
		e.gp.Node = append(e.gp.Node, &onnxpb.NodeProto{
			OpType: proto.String("Identity"), Name: proto.String(o.name + "_identity"),
			Input: []string{e.names[o.v]}, Output: []string{o.name},
		})
	}
	for _, o := range g.outputs {
		e.gp.Output = append(e.gp.Output, ValueInfo(o.name, o.v.dtype, o.v.shape))
	}
	return e.gp, nil
}

// liveNodes returns the nodes that the graph's outputs depend on. The
// others (a value a helper computed and then did not use, a formula whose
// gradient rule made its derivative nodes unnecessary) are not emitted: a
// runtime would compute them for nothing.
func liveNodes(g *Graph) map[*Node]bool {
	needed := map[*Value]bool{}
	for _, o := range g.outputs {
		needed[o.v] = true
	}
	live := map[*Node]bool{}
	for i := len(g.nodes) - 1; i >= 0; i-- {
		n := g.nodes[i]
		for _, v := range n.outputs {
			if needed[v] {
				live[n] = true
				break
			}
		}
		if !live[n] {
			continue
		}
		for _, in := range n.inputs {
			if in != nil {
				needed[in] = true
			}
		}
		for _, in := range n.implicit {
			needed[in] = true
		}
	}
	return live
}

func (e *emitter) node(n *Node) error {
	np := &onnxpb.NodeProto{OpType: proto.String(n.op), Name: proto.String(n.name)}
	if n.doc != "" {
		np.DocString = proto.String(n.doc)
	}
	for _, in := range n.inputs {
		if in == nil {
			np.Input = append(np.Input, "")
			continue
		}
		name, ok := e.names[in]
		if !ok {
			return fmt.Errorf("graph %q: node %s uses a value that no node produces", e.g.name, n.name)
		}
		np.Input = append(np.Input, name)
	}
	for _, out := range n.outputs {
		np.Output = append(np.Output, e.names[out])
	}
	attrs := n.attrs
	if pads, axes, ok := padBeforeAveragePool(n, e.g.opset); ok {
		// Pad explicitly, then pool without padding (see padBeforeAveragePool).
		padsName, axesName, padded := n.name+"_pads", n.name+"_pad_axes", n.name+"_padded"
		for _, name := range []string{padsName, axesName, padded} {
			if err := e.claim(name); err != nil {
				return err
			}
		}
		constant := func(name string, v []int64) *onnxpb.NodeProto {
			return &onnxpb.NodeProto{
				OpType: proto.String("Constant"), Name: proto.String(name), Output: []string{name},
				Attribute: []*onnxpb.AttributeProto{attrProto("value", tensor.FromInt64([]int{len(v)}, v))},
			}
		}
		e.gp.Node = append(e.gp.Node, constant(padsName, pads), constant(axesName, axes),
			&onnxpb.NodeProto{
				OpType: proto.String("Pad"), Name: proto.String(padded),
				Input: []string{np.Input[0], padsName, "", axesName}, Output: []string{padded},
			})
		np.Input[0] = padded
		attrs = copyAttrs(attrs)
		delete(attrs, "pads")
		delete(attrs, "count_include_pad")
	}
	if n.hasAxes {
		if len(n.reduceAxes) > 0 && axesAsInput(n.op, e.g.opset) {
			// The axes input is a constant emitted just before the node.
			axesName := n.name + "_axes"
			if err := e.claim(axesName); err != nil {
				return err
			}
			t := tensor.FromInt64([]int{len(n.reduceAxes)}, n.reduceAxes)
			e.gp.Node = append(e.gp.Node, &onnxpb.NodeProto{
				OpType: proto.String("Constant"), Name: proto.String(axesName),
				Output:    []string{axesName},
				Attribute: []*onnxpb.AttributeProto{attrProto("value", t)},
			})
			np.Input = append(np.Input, axesName)
		} else if len(n.reduceAxes) > 0 {
			attrs = copyAttrs(attrs)
			attrs["axes"] = append([]int64{}, n.reduceAxes...)
		}
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sub, ok := attrs[k].(*Graph); ok { // a Loop, Scan or If body
			a, err := e.subgraphAttr(k, sub)
			if err != nil {
				return err
			}
			np.Attribute = append(np.Attribute, a)
			continue
		}
		np.Attribute = append(np.Attribute, attrProto(k, attrs[k]))
	}
	e.gp.Node = append(e.gp.Node, np)
	return nil
}

// padBeforeAveragePool reports whether an AveragePool node is emitted as a
// Pad with zeros followed by an AveragePool without padding, and returns the
// Pad's pads and axes (the spatial ones). That is the case for a node that
// counts padded positions (count_include_pad=1) and has padding, at opset 19
// and later: ONNX Runtime's AveragePool-19 kernel leaves the end padding out
// of the average then (1.24 does, 1.32 does not; microsoft/onnxruntime#24681),
// where AveragePool-11 and the ONNX specification count it. The Pad names its
// axes, an input ONNX Runtime's Pad fusion leaves alone, so the padding is not
// folded back into the pool. Earlier opsets keep the single node.
func padBeforeAveragePool(n *Node, opset int) (pads, axes []int64, ok bool) {
	if n.op != "AveragePool" || opset < 19 {
		return nil, nil, false
	}
	if cp, _ := n.attrs["count_include_pad"].(int64); cp != 1 {
		return nil, nil, false
	}
	p, _ := n.attrs["pads"].([]int64)
	if !slices.ContainsFunc(p, func(v int64) bool { return v != 0 }) {
		return nil, nil, false
	}
	sd := len(p) / 2
	axes = make([]int64, sd)
	for i := range axes {
		axes[i] = int64(2 + i)
	}
	return slices.Clone(p), axes, true
}

// axesAsInput reports whether a Reduce op takes its axes as an input at the
// opset: ReduceSum since 13, the other reductions since 18.
func axesAsInput(op string, opset int) bool {
	if op == "ReduceSum" {
		return opset >= 13
	}
	return opset >= 18
}

func copyAttrs(a map[string]any) map[string]any {
	out := make(map[string]any, len(a)+1)
	for k, v := range a {
		out[k] = v
	}
	return out
}

func attrProto(name string, v any) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: proto.String(name)}
	switch x := v.(type) {
	case int64:
		a.Type = onnxpb.AttributeProto_INT.Enum()
		a.I = proto.Int64(x)
	case float32:
		a.Type = onnxpb.AttributeProto_FLOAT.Enum()
		a.F = proto.Float32(x)
	case string:
		a.Type = onnxpb.AttributeProto_STRING.Enum()
		a.S = []byte(x)
	case []int64:
		a.Type = onnxpb.AttributeProto_INTS.Enum()
		a.Ints = append([]int64{}, x...)
	case []float32:
		a.Type = onnxpb.AttributeProto_FLOATS.Enum()
		a.Floats = append([]float32{}, x...)
	case *tensor.Tensor:
		a.Type = onnxpb.AttributeProto_TENSOR.Enum()
		a.T = TensorProto("", x)
	default:
		panic(fmt.Sprintf("builder: attribute %s has unsupported type %T", name, v))
	}
	return a
}

// ValueInfo describes a typed tensor value for graph inputs and outputs.
func ValueInfo(name string, dt tensor.DType, shape Shape) *onnxpb.ValueInfoProto {
	sp := &onnxpb.TensorShapeProto{}
	for _, d := range shape {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch {
		case d.Known():
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Size}
		case d.Param != "":
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
		}
		sp.Dim = append(sp.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(dt)),
			Shape:    sp,
		}}},
	}
}

// TensorProto encodes t as an ONNX TensorProto with little-endian raw data.
func TensorProto(name string, t *tensor.Tensor) *onnxpb.TensorProto {
	tp := &onnxpb.TensorProto{DataType: proto.Int32(int32(t.DType))}
	if name != "" {
		tp.Name = proto.String(name)
	}
	for _, d := range t.Shape {
		tp.Dims = append(tp.Dims, int64(d))
	}
	var raw []byte
	switch d := t.Data.(type) {
	case []float32:
		for _, x := range d {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
		}
	case []float64:
		for _, x := range d {
			raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(x))
		}
	case []uint16:
		for _, x := range d {
			raw = binary.LittleEndian.AppendUint16(raw, x)
		}
	case []int64:
		for _, x := range d {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(x))
		}
	case []int32:
		for _, x := range d {
			raw = binary.LittleEndian.AppendUint32(raw, uint32(x))
		}
	case []uint8:
		raw = append(raw, d...)
	case []bool:
		for _, x := range d {
			if x {
				raw = append(raw, 1)
			} else {
				raw = append(raw, 0)
			}
		}
	}
	if raw == nil {
		raw = []byte{}
	}
	tp.RawData = raw
	return tp
}

// ShapeFromProto reads a tensor type's shape. Dimensions with neither a
// value nor a parameter are unknown.
func ShapeFromProto(sp *onnxpb.TensorShapeProto) Shape {
	if sp == nil {
		return nil
	}
	s := make(Shape, len(sp.GetDim()))
	for i, d := range sp.GetDim() {
		switch v := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			s[i] = Fixed(v.DimValue)
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			s[i] = Sym(v.DimParam)
		default:
			s[i] = UnknownDim
		}
	}
	return s
}
