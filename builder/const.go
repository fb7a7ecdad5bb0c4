package builder

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/onnxloss/onnxloss/tensor"
)

// ConstTensor adds a constant holding t (copied). Identical constants are
// emitted once.
func ConstTensor(g *Graph, t *tensor.Tensor) *Value {
	if g.err != nil {
		return g.placeholder(tensor.Float32, nil)
	}
	if err := t.Validate(); err != nil {
		return g.failf("Constant", "%v", err)
	}
	key := constKey(t)
	if v, ok := g.consts[key]; ok {
		return v
	}
	n := g.addNode("Constant", nil, map[string]any{"value": t.Clone()}, outSpec{t.DType, shapeOf(t.Shape)})
	v := n.outputs[0]
	v.konst = t.Clone()
	if t.DType == tensor.Int64 && len(t.Shape) == 1 {
		for _, x := range t.Data.([]int64) {
			v.sym = append(v.sym, Fixed(x))
		}
	}
	g.consts[key] = v
	return v
}

func shapeOf(sizes []int) Shape {
	s := make(Shape, len(sizes))
	for i, n := range sizes {
		s[i] = Fixed(int64(n))
	}
	return s
}

// constKey identifies a constant by type, shape and bits.
func constKey(t *tensor.Tensor) string {
	b := fmt.Appendf(nil, "%d%v:", t.DType, t.Shape)
	switch d := t.Data.(type) {
	case []float32:
		for _, x := range d {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	case []float64:
		for _, x := range d {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
	default:
		b = fmt.Appendf(b, "%v", d)
	}
	return string(b)
}

// Scalar returns a rank-0 constant of type dt holding v.
func Scalar(g *Graph, dt tensor.DType, v float64) *Value {
	t := tensor.FromFloat64(nil, []float64{v})
	return ConstTensor(g, t.Convert(dt))
}

// ConstAs returns a rank-0 constant holding v with the element type of x,
// so formulas can write Sub(ConstAs(x, 1), x).
func ConstAs(x *Value, v float64) *Value {
	if !x.g.check("ConstAs", x) {
		return x.g.placeholder(tensor.Float32, nil)
	}
	return Scalar(x.g, x.dtype, v)
}

// Floats returns a 1-D constant of type dt.
func Floats(g *Graph, dt tensor.DType, vs ...float64) *Value {
	t := tensor.FromFloat64([]int{len(vs)}, append([]float64{}, vs...))
	return ConstTensor(g, t.Convert(dt))
}

// Ints returns a 1-D int64 constant, the form ONNX uses for shapes and axes.
func Ints(g *Graph, vs ...int64) *Value {
	return ConstTensor(g, tensor.FromInt64([]int{len(vs)}, append([]int64{}, vs...)))
}

// Int returns a rank-0 int64 constant.
func Int(g *Graph, v int64) *Value {
	return ConstTensor(g, tensor.FromInt64(nil, []int64{v}))
}
