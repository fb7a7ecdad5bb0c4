package training

import (
	"fmt"
	"slices"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// Shape inference for the ops of exported segmentation models, as far as
// the backward pass needs it, and the default attributes its rules read.

type outs = []builder.ExternalOutput

func same(v *builder.Value) outs {
	return outs{{DType: v.DType(), Shape: v.Shape()}}
}

func unknownDims(r int) builder.Shape {
	s := make(builder.Shape, r)
	for i := range s {
		s[i] = builder.UnknownDim
	}
	return s
}

// broadcast returns NumPy broadcasting's shape, with unknown sizes where
// the sizes are not known.
func broadcast(vs ...*builder.Value) builder.Shape {
	shapes := make([]builder.Shape, 0, len(vs))
	for _, v := range vs {
		if v != nil {
			shapes = append(shapes, v.Shape())
		}
	}
	return broadcastShapes(shapes...)
}

// broadcastShapes is builder.BroadcastShapes; shapes that do not broadcast
// give unknown sizes, and ONNX Runtime reports the model's error.
func broadcastShapes(shapes ...builder.Shape) builder.Shape {
	out, err := builder.BroadcastShapes(shapes...)
	if err != nil {
		r := 0
		for _, s := range shapes {
			r = max(r, len(s))
		}
		return unknownDims(r)
	}
	return out
}

func ints(v *builder.Value) ([]int64, bool) {
	if v == nil || v.Const() == nil {
		return nil, false
	}
	return v.Const().Convert(tensor.Int64).Data.([]int64), true
}

// window fills kernel_shape, strides, pads and dilations of a Conv,
// ConvTranspose or pooling node and returns the output's spatial sizes.
func window(at map[string]any, x *builder.Value, kernel []int64, transpose bool) (builder.Shape, error) {
	sd := x.Rank() - 2
	if sd < 1 {
		return nil, fmt.Errorf("input %v has no spatial axes", x)
	}
	fill := func(name string, n int, def int64) []int64 {
		if v, ok := at[name].([]int64); ok && len(v) == n {
			return v
		}
		v := make([]int64, n)
		for i := range v {
			v[i] = def
		}
		at[name] = v
		return v
	}
	if kernel != nil {
		at["kernel_shape"] = kernel
	}
	k := fill("kernel_shape", sd, 1)
	s, d := fill("strides", sd, 1), fill("dilations", sd, 1)
	autoPad, _ := at["auto_pad"].(string)
	p := fill("pads", 2*sd, 0)
	ceil, _ := at["ceil_mode"].(int64)
	out := make(builder.Shape, sd)
	for i := 0; i < sd; i++ {
		in := x.Dim(2 + i)
		span := d[i]*(k[i]-1) + 1
		if !in.Known() {
			out[i] = builder.UnknownDim
			if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") && s[i] == 1 && !transpose {
				// At stride 1 "same" padding does not depend on the size.
				total := span - 1
				if autoPad == "SAME_UPPER" {
					p[i], p[sd+i] = total/2, total-total/2
				} else {
					p[i], p[sd+i] = total-total/2, total/2
				}
			}
			continue
		}
		switch {
		case transpose:
			op := int64(0)
			if o, ok := at["output_padding"].([]int64); ok && len(o) == sd {
				op = o[i]
			}
			out[i] = builder.Fixed(s[i]*(in.Size-1) + op + span - p[i] - p[sd+i])
		case autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER":
			out[i] = builder.Fixed((in.Size + s[i] - 1) / s[i])
			total := max((out[i].Size-1)*s[i]+span-in.Size, 0)
			if autoPad == "SAME_UPPER" {
				p[i], p[sd+i] = total/2, total-total/2
			} else {
				p[i], p[sd+i] = total-total/2, total/2
			}
		case autoPad == "VALID":
			out[i] = builder.Fixed((in.Size-span)/s[i] + 1)
		default:
			num := in.Size + p[i] + p[sd+i] - span
			o := num/s[i] + 1
			if ceil != 0 && num%s[i] != 0 {
				o++
				if (o-1)*s[i] >= in.Size+p[i] {
					o--
				}
			}
			out[i] = builder.Fixed(o)
		}
	}
	if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
		for i, dd := range out {
			if !dd.Known() && (s[i] != 1 || transpose) {
				return nil, fmt.Errorf("auto_pad %s with stride %d on an input of unknown size %v: its padding depends on the size; export with explicit pads or fixed sizes", autoPad, s[i], x)
			}
		}
	}
	if autoPad != "" && autoPad != "NOTSET" {
		at["auto_pad"] = "NOTSET"
	}
	return out, nil
}

func axisAttr(at map[string]any, name string, def int64, rank int) (int, error) {
	a, ok := at[name].(int64)
	if !ok {
		a = def
	}
	if a < -int64(rank) || a >= int64(rank) && rank > 0 {
		return 0, fmt.Errorf("%s %d out of range for rank %d", name, a, rank)
	}
	if a < 0 {
		a += int64(rank)
	}
	at[name] = a
	return int(a), nil
}

// constant is an external value holding t that the model does not have:
// only rules read it, and no emitted node refers to it.
func (im *importer) constant(t *tensor.Tensor) *builder.Value {
	return im.g.External("onnxloss/unused_constant", t.DType, dimsOf(t), t)
}

func dimsOf(t *tensor.Tensor) builder.Shape {
	s := make(builder.Shape, len(t.Shape))
	for i, n := range t.Shape {
		s[i] = builder.Fixed(int64(n))
	}
	return s
}

// infer returns the outputs of a node (names filled in by the caller), or
// nil for an op it does not know. It may complete ins and at with the
// defaults the gradient rules read.
func (im *importer) infer(n *onnxpb.NodeProto, insp *[]*builder.Value, at map[string]any) (outs, error) {
	op := n.GetOpType()
	ins := *insp
	defer func() { *insp = ins }()
	in := func(i int) *builder.Value {
		if i < len(ins) {
			return ins[i]
		}
		return nil
	}
	x := in(0)
	switch op {
	case "Identity", "Relu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Neg", "Exp",
		"Log", "Sqrt", "Abs", "Reciprocal", "Floor", "Ceil", "Sign", "Erf", "Elu", "Selu", "Softplus",
		"Not", "Round", "IsNaN", "IsInf":
		o := same(x)
		if op == "Not" || op == "IsNaN" || op == "IsInf" {
			o[0].DType = tensor.Bool
		}
		return o, nil
	case "Clip", "BatchNormalization":
		return same(x), nil
	case "Dropout":
		o := same(x)
		o = append(o, builder.ExternalOutput{DType: tensor.Bool, Shape: x.Shape()})
		return o, nil
	case "Softmax", "LogSoftmax":
		if _, err := axisAttr(at, "axis", -1, x.Rank()); err != nil {
			return nil, err
		}
		return same(x), nil
	case "Cast":
		to, _ := at["to"].(int64)
		return outs{{DType: tensor.DType(to), Shape: x.Shape(), Konst: castKonst(x, tensor.DType(to))}}, nil
	case "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean":
		return outs{{DType: x.DType(), Shape: broadcast(ins...)}}, nil
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor":
		return outs{{DType: tensor.Bool, Shape: broadcast(ins...)}}, nil
	case "Where":
		return outs{{DType: in(1).DType(), Shape: broadcast(ins...)}}, nil
	case "Conv", "ConvTranspose":
		w := in(1)
		ws := w.Shape()
		kernel, ok := ws[2:].Sizes()
		if !ok {
			return nil, fmt.Errorf("weights %v need a known kernel shape", w)
		}
		if _, has := at["group"]; !has {
			at["group"] = int64(1)
		}
		spatial, err := window(at, x, kernel, op == "ConvTranspose")
		if err != nil {
			return nil, err
		}
		m := ws[0]
		if op == "ConvTranspose" {
			m = builder.UnknownDim
			if ws[1].Known() {
				m = builder.Fixed(ws[1].Size * at["group"].(int64))
			}
		}
		return outs{{DType: x.DType(), Shape: append(builder.Shape{x.Dim(0), m}, spatial...)}}, nil
	case "MaxPool", "AveragePool":
		spatial, err := window(at, x, nil, false)
		if err != nil {
			return nil, err
		}
		o := outs{{DType: x.DType(), Shape: append(builder.Shape{x.Dim(0), x.Dim(1)}, spatial...)}}
		if op == "MaxPool" {
			o = append(o, builder.ExternalOutput{DType: tensor.Int64, Shape: o[0].Shape.Clone()})
		}
		return o, nil
	case "GlobalAveragePool", "GlobalMaxPool":
		s := x.Shape()
		for i := 2; i < len(s); i++ {
			s[i] = builder.Fixed(1)
		}
		return outs{{DType: x.DType(), Shape: s}}, nil
	case "Gemm":
		a, b := in(0).Shape(), in(1).Shape()
		ta, _ := at["transA"].(int64)
		tb, _ := at["transB"].(int64)
		m, nn := a[0], b[1]
		if ta != 0 {
			m = a[1]
		}
		if tb != 0 {
			nn = b[0]
		}
		return outs{{DType: x.DType(), Shape: builder.Shape{m, nn}}}, nil
	case "MatMul":
		a, b := in(0).Shape(), in(1).Shape()
		if len(a) < 2 || len(b) < 2 {
			return nil, fmt.Errorf("MatMul of rank-1 operands has no gradient rule here")
		}
		batch := broadcastShapes(a[:len(a)-2], b[:len(b)-2])
		return outs{{DType: x.DType(), Shape: append(batch, a[len(a)-2], b[len(b)-1])}}, nil
	case "Flatten":
		axis, err := axisAttr(at, "axis", 1, x.Rank())
		if err != nil {
			return nil, err
		}
		s := x.Shape()
		prod := func(ds builder.Shape) builder.Dim {
			if sz, ok := ds.Sizes(); ok {
				p := int64(1)
				for _, v := range sz {
					p *= v
				}
				return builder.Fixed(p)
			}
			return builder.UnknownDim
		}
		return outs{{DType: x.DType(), Shape: builder.Shape{prod(s[:axis]), prod(s[axis:])}}}, nil
	case "Reshape":
		target, ok := ints(in(1))
		if !ok {
			r := in(1).Dim(0)
			if !r.Known() {
				return nil, fmt.Errorf("the rank of Reshape's shape %v is unknown", in(1))
			}
			return outs{{DType: x.DType(), Shape: unknownDims(int(r.Size))}}, nil
		}
		s := make(builder.Shape, len(target))
		xs := x.Shape()
		for i, t := range target {
			switch {
			case t == 0 && i < len(xs):
				s[i] = xs[i]
			case t > 0:
				s[i] = builder.Fixed(t)
			default:
				s[i] = builder.UnknownDim
			}
		}
		return outs{{DType: x.DType(), Shape: s}}, nil
	case "Transpose":
		perm, ok := at["perm"].([]int64)
		if !ok {
			perm = make([]int64, x.Rank())
			for i := range perm {
				perm[i] = int64(x.Rank() - 1 - i)
			}
			at["perm"] = perm
		}
		xs := x.Shape()
		s := make(builder.Shape, len(perm))
		for i, p := range perm {
			s[i] = xs[p]
		}
		return outs{{DType: x.DType(), Shape: s}}, nil
	case "Squeeze", "Unsqueeze":
		axes, ok := at["axes"].([]int64)
		if !ok {
			axes, ok = ints(in(1))
		}
		xs := x.Shape()
		if !ok && op == "Squeeze" {
			for i, d := range xs {
				if d.Known() && d.Size == 1 {
					axes = append(axes, int64(i))
				} else if !d.Known() {
					return nil, fmt.Errorf("squeezing %v without axes: which axes go is known only at run time", x)
				}
			}
			ok = true
		}
		if !ok {
			return nil, fmt.Errorf("axes computed at run time are not supported")
		}
		r := x.Rank()
		if op == "Unsqueeze" {
			r += len(axes)
		}
		norm := make([]int64, len(axes))
		for i, a := range axes {
			if a < 0 {
				a += int64(r)
			}
			norm[i] = a
		}
		slices.Sort(norm)
		// The rules read the axes from a constant second input.
		if len(ins) < 2 {
			ins = append(ins, nil)
		}
		ins[1] = im.constant(tensor.FromInt64([]int{len(norm)}, norm))
		delete(at, "axes")
		var s builder.Shape
		if op == "Squeeze" {
			for i, d := range xs {
				if !slices.Contains(norm, int64(i)) {
					s = append(s, d)
				}
			}
		} else {
			j := 0
			for i := 0; i < r; i++ {
				if slices.Contains(norm, int64(i)) {
					s = append(s, builder.Fixed(1))
				} else {
					s = append(s, xs[j])
					j++
				}
			}
		}
		return outs{{DType: x.DType(), Shape: s, Konst: nil}}, nil
	case "Concat":
		axis, err := axisAttr(at, "axis", 0, x.Rank())
		if err != nil {
			return nil, err
		}
		s := x.Shape()
		total := int64(0)
		known := true
		var kon []int64
		konst := x.DType() == tensor.Int64 && x.Rank() == 1
		for _, v := range ins {
			d := v.Dim(axis)
			if d.Known() {
				total += d.Size
			} else {
				known = false
			}
			if k, ok := ints(v); ok && konst {
				kon = append(kon, k...)
			} else {
				konst = false
			}
		}
		if known {
			s[axis] = builder.Fixed(total)
		} else {
			s[axis] = builder.UnknownDim
		}
		o := outs{{DType: x.DType(), Shape: s}}
		if konst {
			o[0].Konst = tensor.FromInt64([]int{len(kon)}, kon)
		}
		return o, nil
	case "Split":
		axis, err := axisAttr(at, "axis", 0, x.Rank())
		if err != nil {
			return nil, err
		}
		split, ok := at["split"].([]int64)
		if !ok {
			split, ok = ints(in(1))
		}
		no := len(n.GetOutput())
		o := make(outs, no)
		for i := range o {
			s := x.Shape()
			switch {
			case ok:
				s[axis] = builder.Fixed(split[i])
			case x.Dim(axis).Known() && x.Dim(axis).Size%int64(no) == 0:
				s[axis] = builder.Fixed(x.Dim(axis).Size / int64(no))
			default:
				s[axis] = builder.UnknownDim
			}
			o[i] = builder.ExternalOutput{DType: x.DType(), Shape: s}
		}
		return o, nil
	case "Slice":
		starts, ok1 := ints(in(1))
		ends, ok2 := ints(in(2))
		r := x.Rank()
		n := -1
		if ok1 {
			n = len(starts)
		} else if d := in(1).Dim(0); d.Known() {
			n = int(d.Size)
		}
		axes, okAxes := ints(in(3))
		if !okAxes && n >= 0 && (len(ins) < 4 || in(3) == nil) {
			axes, okAxes = make([]int64, n), true
			for i := range axes {
				axes[i] = int64(i)
			}
		}
		steps, okSteps := ints(in(4))
		if !okSteps && n >= 0 && (len(ins) < 5 || in(4) == nil) {
			steps, okSteps = make([]int64, n), true
			for i := range steps {
				steps[i] = 1
			}
		}
		if okAxes {
			for i, a := range axes {
				if a < 0 {
					axes[i] = a + int64(r)
				}
			}
		}
		for len(ins) < 5 {
			ins = append(ins, nil)
		}
		// The rules read constant axes and steps.
		if okAxes {
			ins[3] = im.constant(tensor.FromInt64([]int{len(axes)}, axes))
		}
		if okSteps {
			ins[4] = im.constant(tensor.FromInt64([]int{len(steps)}, steps))
		}
		if !ok1 || !ok2 || !okAxes || !okSteps {
			s := x.Shape()
			for i := range s {
				if !okAxes || slices.Contains(axes, int64(i)) {
					s[i] = builder.UnknownDim
				}
			}
			return outs{{DType: x.DType(), Shape: s}}, nil
		}
		s := x.Shape()
		var konst *tensor.Tensor
		for i, a := range axes {
			d := s[a]
			if !d.Known() {
				continue
			}
			st, en := clamp(starts[i], d.Size, steps[i]), clamp(ends[i], d.Size, steps[i])
			cnt := int64(0)
			if steps[i] > 0 && en > st {
				cnt = (en - st + steps[i] - 1) / steps[i]
			} else if steps[i] < 0 && st > en {
				cnt = (st - en - steps[i] - 1) / -steps[i]
			}
			s[a] = builder.Fixed(cnt)
		}
		if k, ok := ints(x); ok && r == 1 && len(axes) == 1 && steps[0] == 1 {
			d := int64(len(k))
			st, en := clamp(starts[0], d, 1), clamp(ends[0], d, 1)
			if en >= st {
				konst = tensor.FromInt64([]int{int(en - st)}, append([]int64{}, k[st:en]...))
			}
		}
		return outs{{DType: x.DType(), Shape: s, Konst: konst}}, nil
	case "Pad":
		pads, ok := ints(in(1))
		s := x.Shape()
		r := len(s)
		for i := range s {
			if ok && s[i].Known() {
				s[i] = builder.Fixed(s[i].Size + pads[i] + pads[r+i])
			} else {
				s[i] = builder.UnknownDim
			}
		}
		return outs{{DType: x.DType(), Shape: s}}, nil
	case "Resize", "Upsample":
		s := x.Shape()
		sizes, okSizes := ints(in(3))
		var scales []float64
		if sc := in(2); sc != nil && sc.Const() != nil {
			scales = sc.Const().Float64s()
		}
		if op == "Upsample" {
			scales = nil
			if sc := in(1); sc != nil && sc.Const() != nil {
				scales = sc.Const().Float64s()
			}
		}
		for i := range s {
			switch {
			case okSizes && len(sizes) == len(s):
				s[i] = builder.Fixed(sizes[i])
			case len(scales) == len(s) && s[i].Known():
				s[i] = builder.Fixed(int64(float64(s[i].Size) * scales[i]))
			case len(scales) == len(s) && scales[i] == 1:
			default:
				s[i] = builder.UnknownDim
			}
		}
		return outs{{DType: x.DType(), Shape: s}}, nil
	case "Shape":
		s := x.Shape()
		o := outs{{DType: tensor.Int64, Shape: builder.Dims(int64(len(s)))}}
		if sz, ok := s.Sizes(); ok {
			if _, has := at["start"]; !has {
				if _, has := at["end"]; !has {
					o[0].Konst = tensor.FromInt64([]int{len(sz)}, sz)
				}
			}
		}
		if _, has := at["start"]; has {
			o[0].Shape = builder.Shape{builder.UnknownDim}
		}
		if _, has := at["end"]; has {
			o[0].Shape = builder.Shape{builder.UnknownDim}
		}
		return o, nil
	case "Size":
		return outs{{DType: tensor.Int64, Shape: builder.Shape{}}}, nil
	case "Gather":
		axis, err := axisAttr(at, "axis", 0, x.Rank())
		if err != nil {
			return nil, err
		}
		xs := x.Shape()
		s := append(append(xs[:axis:axis], in(1).Shape()...), xs[axis+1:]...)
		o := outs{{DType: x.DType(), Shape: s}}
		if k, ok := ints(x); ok && x.Rank() == 1 {
			if idx, ok := ints(in(1)); ok {
				vals := make([]int64, len(idx))
				good := true
				for i, j := range idx {
					if j < 0 {
						j += int64(len(k))
					}
					if j < 0 || j >= int64(len(k)) {
						good = false
						break
					}
					vals[i] = k[j]
				}
				if good {
					shape := make([]int, in(1).Rank())
					for i, d := range in(1).Shape() {
						shape[i] = int(d.Size)
					}
					o[0].Konst = tensor.FromInt64(shape, vals)
				}
			}
		}
		return o, nil
	case "Constant":
		t, _ := at["value"].(*tensor.Tensor)
		if t == nil {
			if v, ok := at["value_int"].(int64); ok {
				t = tensor.FromInt64(nil, []int64{v})
			} else if v, ok := at["value_ints"].([]int64); ok {
				t = tensor.FromInt64([]int{len(v)}, v)
			} else if v, ok := at["value_float"].(float32); ok {
				t = tensor.FromFloat32(nil, []float32{v})
			} else if v, ok := at["value_floats"].([]float32); ok {
				t = tensor.FromFloat32([]int{len(v)}, v)
			} else {
				return nil, nil
			}
		}
		return outs{{DType: t.DType, Shape: dimsOf(t), Konst: t}}, nil
	case "ConstantOfShape":
		dt := tensor.Float32
		if t, ok := at["value"].(*tensor.Tensor); ok && t != nil {
			dt = t.DType
		}
		r := in(0).Dim(0)
		if !r.Known() {
			return nil, fmt.Errorf("ConstantOfShape of unknown rank")
		}
		s := unknownDims(int(r.Size))
		if k, ok := ints(in(0)); ok {
			s = builder.Dims(k...)
		}
		return outs{{DType: dt, Shape: s}}, nil
	case "Range":
		return outs{{DType: x.DType(), Shape: builder.Shape{builder.UnknownDim}}}, nil
	case "Expand":
		var s builder.Shape
		if k, ok := ints(in(1)); ok {
			t := make(builder.Shape, len(k))
			for i, d := range k {
				t[i] = builder.Fixed(d)
			}
			s = broadcastShapes(x.Shape(), t)
		} else if r := in(1).Dim(0); r.Known() {
			s = unknownDims(max(int(r.Size), x.Rank()))
		} else {
			return nil, fmt.Errorf("expanding to a shape of unknown rank")
		}
		return outs{{DType: x.DType(), Shape: s}}, nil
	case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin":
		axes, ok := at["axes"].([]int64)
		if !ok {
			axes, ok = ints(in(1))
		}
		keep := true
		if k, has := at["keepdims"].(int64); has && k == 0 {
			keep = false
		}
		xs := x.Shape()
		if !ok {
			axes = make([]int64, len(xs))
			for i := range axes {
				axes[i] = int64(i)
			}
		}
		var s builder.Shape
		for i, d := range xs {
			if slices.Contains(axes, int64(i)) || slices.Contains(axes, int64(i-len(xs))) {
				if keep {
					s = append(s, builder.Fixed(1))
				}
			} else {
				s = append(s, d)
			}
		}
		return outs{{DType: x.DType(), Shape: s}}, nil
	case "ArgMax", "ArgMin":
		axis, err := axisAttr(at, "axis", 0, x.Rank())
		if err != nil {
			return nil, err
		}
		s := x.Shape()
		if k, has := at["keepdims"].(int64); has && k == 0 {
			s = append(s[:axis], s[axis+1:]...)
		} else {
			s[axis] = builder.Fixed(1)
		}
		return outs{{DType: tensor.Int64, Shape: s}}, nil
	}
	return nil, nil
}

func clamp(b, d, step int64) int64 {
	if b < 0 {
		b += d
	}
	lo, hi := int64(0), d
	if step < 0 {
		lo, hi = -1, d-1
	}
	return min(max(b, lo), hi)
}

func castKonst(x *builder.Value, to tensor.DType) *tensor.Tensor {
	if k := x.Const(); k != nil && (to == tensor.Int64 || to == tensor.Float32 || to == tensor.Float64) {
		return k.Convert(to)
	}
	return nil
}
