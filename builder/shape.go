package builder

import (
	"fmt"
	"strconv"
	"strings"
)

// Dim is one dimension of a shape: a known size, a named symbolic size
// (such as "N" for the batch) or an unknown size.
type Dim struct {
	// Size is the size when known, or -1.
	Size int64
	// Param names a symbolic size when Size is -1; "" means unknown.
	Param string
}

// Fixed returns a dimension of known size n.
func Fixed(n int64) Dim { return Dim{Size: n} }

// Sym returns a symbolic dimension called name.
func Sym(name string) Dim { return Dim{Size: -1, Param: name} }

// UnknownDim is a dimension about which nothing is known.
var UnknownDim = Dim{Size: -1}

// Known reports whether the size is known.
func (d Dim) Known() bool { return d.Size >= 0 }

// String prints the size, the symbol, or "?".
func (d Dim) String() string {
	switch {
	case d.Size >= 0:
		return strconv.FormatInt(d.Size, 10)
	case d.Param != "":
		return d.Param
	}
	return "?"
}

// sameAs reports whether two dimensions are certainly equal.
func (d Dim) sameAs(e Dim) bool {
	if d.Known() || e.Known() {
		return d.Size == e.Size
	}
	return d.Param != "" && d.Param == e.Param
}

// Shape is the list of dimensions of a value; a scalar has an empty Shape.
type Shape []Dim

// Dims builds a Shape of known sizes.
func Dims(sizes ...int64) Shape {
	s := make(Shape, len(sizes))
	for i, n := range sizes {
		s[i] = Fixed(n)
	}
	return s
}

// Rank is the number of dimensions.
func (s Shape) Rank() int { return len(s) }

// String prints the shape as [N,3,H,W].
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Clone returns a copy that can be changed freely.
func (s Shape) Clone() Shape { return append(Shape{}, s...) }

// Sizes returns the known sizes, or ok=false if any dimension is not known.
func (s Shape) Sizes() (sizes []int64, ok bool) {
	sizes = make([]int64, len(s))
	for i, d := range s {
		if !d.Known() {
			return nil, false
		}
		sizes[i] = d.Size
	}
	return sizes, true
}

// Equal reports whether two shapes are certainly the same.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if !s[i].sameAs(t[i]) {
			return false
		}
	}
	return true
}

// BroadcastShapes applies NumPy's broadcasting rules to shapes as
// broadcastShapes does: the result, or an error when two known sizes other
// than 1 differ.
func BroadcastShapes(shapes ...Shape) (Shape, error) { return broadcastShapes(shapes...) }

// broadcastShapes applies NumPy's broadcasting rules. Symbolic dimensions are
// assumed compatible with anything but a different known size other than 1,
// which is what ONNX Runtime checks at run time anyway.
func broadcastShapes(shapes ...Shape) (Shape, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make(Shape, rank)
	for i := range out {
		out[i] = Fixed(1)
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case d.Known() && d.Size == 1:
				// broadcasts against anything
			case o.Known() && o.Size == 1:
				out[off+i] = d
			case d.Known() && o.Known():
				if d.Size != o.Size {
					return nil, fmt.Errorf("cannot broadcast %s", shapesString(shapes))
				}
			case d.Known():
				out[off+i] = d // a symbol meeting a size > 1 must be that size
			case o.Known():
			case d.sameAs(o):
			default:
				out[off+i] = UnknownDim
			}
		}
	}
	return out, nil
}

func shapesString(shapes []Shape) string {
	parts := make([]string, len(shapes))
	for i, s := range shapes {
		parts[i] = s.String()
	}
	return strings.Join(parts, " and ")
}

// normAxis turns a possibly negative axis into 0..rank-1.
func normAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}

// normAxes normalises, sorts and checks a list of axes for duplicates.
func normAxes(axes []int, rank int) ([]int, error) {
	seen := make([]bool, rank)
	out := make([]int, 0, len(axes))
	for _, a := range axes {
		n, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("axis %d given twice", a)
		}
		seen[n] = true
		out = append(out, n)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}
