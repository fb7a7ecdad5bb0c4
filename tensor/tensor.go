// Package tensor holds the small N-dimensional tensor type that every part of
// onnxloss exchanges: graph inputs and outputs, reference implementations,
// and .npy files on disk.
//
// A Tensor is a shape, an element type and a flat row-major slice. Only the
// element types that segmentation losses need are supported.
package tensor

import (
	"fmt"
	"math"
	"strings"
)

// DType is an element type. Its values are those of ONNX's
// TensorProto.DataType, so conversion to and from ONNX is a plain cast.
type DType int32

// The supported element types.
const (
	Invalid  DType = 0
	Float32  DType = 1
	Uint8    DType = 2
	Int32    DType = 6
	Int64    DType = 7
	Bool     DType = 9
	Float16  DType = 10
	Float64  DType = 11
	BFloat16 DType = 16
)

var dtypeNames = map[DType]string{
	Float32: "float32", Uint8: "uint8", Int32: "int32", Int64: "int64", Bool: "bool",
	Float16: "float16", Float64: "float64", BFloat16: "bfloat16",
}

// String returns the lower-case name of the type, as used on the command line.
func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// ParseDType parses a type name such as "float32" or "int64".
func ParseDType(s string) (DType, error) {
	for d, n := range dtypeNames {
		if n == strings.ToLower(s) {
			return d, nil
		}
	}
	return Invalid, fmt.Errorf("unknown dtype %q (want one of float32, float16, bfloat16, float64, int64, int32, uint8, bool)", s)
}

// IsFloat reports whether the type is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float16 || d == Float64 || d == BFloat16
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case Float32, Int32:
		return 4
	case Int64, Float64:
		return 8
	case Float16, BFloat16:
		return 2
	case Uint8, Bool:
		return 1
	}
	return 0
}

// Tensor is a dense row-major N-d array. Data holds a slice whose element type
// follows DType: []float32 (Float32), []float64 (Float64), []uint16 (Float16 and
// BFloat16, as raw bits), []int64 (Int64), []int32 (Int32), []uint8 (Uint8) or
// []bool (Bool). A rank-0 tensor (a scalar) has an empty Shape and one element.
type Tensor struct {
	Shape []int
	DType DType
	Data  any
}

// NumElements returns the product of the dimensions (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// New returns a zero-filled tensor.
func New(dt DType, shape ...int) *Tensor {
	n := NumElements(shape)
	t := &Tensor{Shape: append([]int{}, shape...), DType: dt}
	switch dt {
	case Float32:
		t.Data = make([]float32, n)
	case Float64:
		t.Data = make([]float64, n)
	case Float16, BFloat16:
		t.Data = make([]uint16, n)
	case Int64:
		t.Data = make([]int64, n)
	case Int32:
		t.Data = make([]int32, n)
	case Uint8:
		t.Data = make([]uint8, n)
	case Bool:
		t.Data = make([]bool, n)
	default:
		panic(fmt.Sprintf("tensor.New: unsupported dtype %v", dt))
	}
	return t
}

// FromFloat32 wraps data (not copied) as a Float32 tensor.
func FromFloat32(shape []int, data []float32) *Tensor {
	return &Tensor{Shape: append([]int{}, shape...), DType: Float32, Data: data}
}

// FromFloat64 wraps data (not copied) as a Float64 tensor.
func FromFloat64(shape []int, data []float64) *Tensor {
	return &Tensor{Shape: append([]int{}, shape...), DType: Float64, Data: data}
}

// FromInt64 wraps data (not copied) as an Int64 tensor.
func FromInt64(shape []int, data []int64) *Tensor {
	return &Tensor{Shape: append([]int{}, shape...), DType: Int64, Data: data}
}

// Scalar returns a rank-0 Float32 tensor.
func Scalar(v float32) *Tensor { return FromFloat32(nil, []float32{v}) }

// Len returns the number of elements of the data slice.
func (t *Tensor) Len() int {
	switch d := t.Data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []uint16:
		return len(d)
	case []int64:
		return len(d)
	case []int32:
		return len(d)
	case []uint8:
		return len(d)
	case []bool:
		return len(d)
	}
	return 0
}

// Validate checks that the data slice matches the shape and the dtype.
func (t *Tensor) Validate() error {
	if t == nil {
		return fmt.Errorf("tensor is nil")
	}
	for i, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor shape %v: dimension %d is negative", t.Shape, i)
		}
	}
	want := NumElements(t.Shape)
	ok := false
	switch t.Data.(type) {
	case []float32:
		ok = t.DType == Float32
	case []float64:
		ok = t.DType == Float64
	case []uint16:
		ok = t.DType == Float16 || t.DType == BFloat16
	case []int64:
		ok = t.DType == Int64
	case []int32:
		ok = t.DType == Int32
	case []uint8:
		ok = t.DType == Uint8
	case []bool:
		ok = t.DType == Bool
	}
	if !ok {
		return fmt.Errorf("tensor data %T does not hold dtype %v", t.Data, t.DType)
	}
	if t.Len() != want {
		return fmt.Errorf("tensor shape %v needs %d elements, data has %d", t.Shape, want, t.Len())
	}
	return nil
}

// Float64s returns the elements converted to float64 (a new slice). Booleans
// become 0 or 1.
func (t *Tensor) Float64s() []float64 {
	out := make([]float64, t.Len())
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []float64:
		copy(out, d)
	case []uint16:
		conv := Float16ToFloat32
		if t.DType == BFloat16 {
			conv = BFloat16ToFloat32
		}
		for i, v := range d {
			out[i] = float64(conv(v))
		}
	case []int64:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []int32:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []uint8:
		for i, v := range d {
			out[i] = float64(v)
		}
	case []bool:
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
	}
	return out
}

// Int64s returns the elements converted to int64 (a new slice); floats are
// truncated toward zero.
func (t *Tensor) Int64s() []int64 {
	if d, ok := t.Data.([]int64); ok {
		return append([]int64{}, d...)
	}
	f := t.Float64s()
	out := make([]int64, len(f))
	for i, v := range f {
		out[i] = int64(v)
	}
	return out
}

// Convert returns a copy of t with element type dt. Float conversions round to
// nearest; conversions to integers truncate toward zero.
func (t *Tensor) Convert(dt DType) *Tensor {
	out := New(dt, t.Shape...)
	if dt == Int64 {
		copy(out.Data.([]int64), t.Int64s())
		return out
	}
	f := t.Float64s()
	switch d := out.Data.(type) {
	case []float32:
		for i, v := range f {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, f)
	case []uint16:
		conv := Float32ToFloat16
		if dt == BFloat16 {
			conv = Float32ToBFloat16
		}
		for i, v := range f {
			d[i] = conv(float32(v))
		}
	case []int32:
		for i, v := range f {
			d[i] = int32(v)
		}
	case []uint8:
		for i, v := range f {
			d[i] = uint8(v)
		}
	case []bool:
		for i, v := range f {
			d[i] = v != 0
		}
	}
	return out
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	out := &Tensor{Shape: append([]int{}, t.Shape...), DType: t.DType}
	switch d := t.Data.(type) {
	case []float32:
		out.Data = append([]float32{}, d...)
	case []float64:
		out.Data = append([]float64{}, d...)
	case []uint16:
		out.Data = append([]uint16{}, d...)
	case []int64:
		out.Data = append([]int64{}, d...)
	case []int32:
		out.Data = append([]int32{}, d...)
	case []uint8:
		out.Data = append([]uint8{}, d...)
	case []bool:
		out.Data = append([]bool{}, d...)
	}
	return out
}

// String gives a short description: dtype, shape and up to six values.
func (t *Tensor) String() string {
	f := t.Float64s()
	var b strings.Builder
	fmt.Fprintf(&b, "%v%v[", t.DType, t.Shape)
	for i, v := range f {
		if i == 6 {
			b.WriteString(" ...")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.6g", v)
	}
	b.WriteByte(']')
	return b.String()
}

// Float32ToFloat16 converts to IEEE 754 half precision, rounding to nearest even.
func Float32ToFloat16(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int32(bits>>23) & 0xff
	mant := bits & 0x7fffff
	if exp == 0xff { // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & ((1 << shift) - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(half)
}

// Float16ToFloat32 converts IEEE 754 half precision bits to float32.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToBFloat16 converts to bfloat16, rounding to nearest even.
func Float32ToBFloat16(f float32) uint16 {
	bits := math.Float32bits(f)
	if f != f {
		return uint16(bits>>16) | 0x40
	}
	bits += 0x7fff + (bits>>16)&1
	return uint16(bits >> 16)
}

// BFloat16ToFloat32 converts bfloat16 bits to float32.
func BFloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}
