package tensor

import (
	"math"
	"math/rand"
	"sort"
	"testing"
)

// halfValue decodes IEEE 754 binary16 bits straight from the definition,
// independently of Float16ToFloat32: (-1)^s * 2^(e-15) * (1 + m/1024) for
// normal numbers and (-1)^s * 2^-14 * (m/1024) for subnormals.
func halfValue(h uint16) float64 {
	s, e, m := h>>15, int(h>>10&0x1f), float64(h&0x3ff)
	var v float64
	switch e {
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		v = math.Inf(1)
	case 0:
		v = math.Ldexp(m/1024, -14)
	default:
		v = math.Ldexp(1+m/1024, e-15)
	}
	if s == 1 {
		v = -v
	}
	return v
}

func isHalfNaN(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x3ff != 0 }
func isBF16NaN(b uint16) bool { return b&0x7f80 == 0x7f80 && b&0x7f != 0 }

func TestFloat32ToFloat16KnownBits(t *testing.T) {
	f := func(bits uint32) float32 { return math.Float32frombits(bits) }
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"largest finite 65504", 65504, 0x7bff},
		{"65519 rounds down to 65504", 65519, 0x7bff},
		{"65520 is a tie that rounds to even: infinity", 65520, 0x7c00},
		{"1e6 overflows to infinity", 1e6, 0x7c00},
		{"-1e6 overflows to -infinity", -1e6, 0xfc00},
		{"smallest normal 2^-14", float32(math.Ldexp(1, -14)), 0x0400},
		{"largest subnormal", float32(math.Ldexp(1023, -24)), 0x03ff},
		{"smallest subnormal 2^-24", float32(math.Ldexp(1, -24)), 0x0001},
		{"negative smallest subnormal", float32(-math.Ldexp(1, -24)), 0x8001},
		{"2^-25 is a tie that rounds to even: zero", float32(math.Ldexp(1, -25)), 0x0000},
		{"just above 2^-25 rounds up", f(0x33000001), 0x0001},
		{"3 * 2^-25 is a tie that rounds to even: 2 * 2^-24", float32(math.Ldexp(3, -25)), 0x0002},
		{"2^-26 underflows", float32(math.Ldexp(1, -26)), 0x0000},
		{"float32 subnormal underflows", f(0x00000001), 0x0000},
		{"1 + 2^-11 is a tie that rounds to even: 1", float32(1 + math.Ldexp(1, -11)), 0x3c00},
		{"1 + 3 * 2^-11 is a tie that rounds to even: up", float32(1 + math.Ldexp(3, -11)), 0x3c02},
		{"1 + 2^-11 + 2^-20 rounds up", float32(1 + math.Ldexp(1, -11) + math.Ldexp(1, -20)), 0x3c01},
		{"2047.5 rounds to 2048 across the exponent", 2047.5, 0x6800},
		{"one third", 1.0 / 3, 0x3555},
		{"infinity", float32(math.Inf(1)), 0x7c00},
		{"-infinity", float32(math.Inf(-1)), 0xfc00},
	}
	for _, tc := range tests {
		if got := Float32ToFloat16(tc.in); got != tc.want {
			t.Errorf("%s: Float32ToFloat16(%g) = %#04x, want %#04x", tc.name, tc.in, got, tc.want)
		}
	}
	for _, nan := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0xff800001} {
		if got := Float32ToFloat16(f(nan)); !isHalfNaN(got) {
			t.Errorf("Float32ToFloat16(NaN %#08x) = %#04x, not a NaN", nan, got)
		}
	}
}

func TestFloat16ToFloat32AllBits(t *testing.T) {
	for i := 0; i <= 0xffff; i++ {
		h := uint16(i)
		got := Float16ToFloat32(h)
		want := halfValue(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Errorf("Float16ToFloat32(%#04x) = %g, want NaN", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Errorf("Float16ToFloat32(%#04x) = %g, want %g", h, got, want)
		}
		// Every half value is a float32, so converting back is exact.
		if back := Float32ToFloat16(got); back != h {
			t.Errorf("Float32ToFloat16(Float16ToFloat32(%#04x)) = %#04x", h, back)
		}
	}
}

// TestFloat32ToFloat16Rounding compares with a brute-force reference: the
// nearest of all finite half values, ties to the even bit pattern, and
// infinity from 65520 up (where rounding with unbounded exponent would give
// 65536).
func TestFloat32ToFloat16Rounding(t *testing.T) {
	type hv struct {
		v float64
		h uint16
	}
	var pos []hv
	for h := uint16(0); h < 0x7c00; h++ {
		pos = append(pos, hv{halfValue(h), h})
	}
	sort.Slice(pos, func(i, j int) bool { return pos[i].v < pos[j].v })
	ref := func(x float32) uint16 {
		a := math.Abs(float64(x))
		var sign uint16
		if math.Signbit(float64(x)) {
			sign = 0x8000
		}
		if a >= 65520 {
			return sign | 0x7c00
		}
		i := sort.Search(len(pos), func(i int) bool { return pos[i].v >= a })
		if i == len(pos) {
			return sign | 0x7bff
		}
		if pos[i].v == a || i == 0 {
			return sign | pos[i].h
		}
		lo, hi := pos[i-1], pos[i]
		switch dl, dh := a-lo.v, hi.v-a; {
		case dl < dh:
			return sign | lo.h
		case dh < dl:
			return sign | hi.h
		case lo.h&1 == 0:
			return sign | lo.h
		}
		return sign | hi.h
	}
	check := func(x float32) {
		if got, want := Float32ToFloat16(x), ref(x); got != want {
			t.Fatalf("Float32ToFloat16(%g = %#08x) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
		}
	}
	// Every midpoint between neighbouring halves, and one float32 step to
	// either side of it.
	for i := 1; i < len(pos); i++ {
		mid := float32((pos[i-1].v + pos[i].v) / 2)
		for _, x := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 1e9)} {
			check(x)
			check(-x)
		}
	}
	// Random float32 bit patterns within and around the half range.
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		bits := uint32(r.Int63n(0x48000000-0x32000000)) + 0x32000000
		check(math.Float32frombits(bits | uint32(r.Intn(2))<<31))
	}
}

func TestFloat32ToBFloat16KnownBits(t *testing.T) {
	f := func(bits uint32) float32 { return math.Float32frombits(bits) }
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3f80},
		{"minus two", -2, 0xc000},
		{"65504 rounds up to 65536", 65504, 0x4780},
		{"exact bfloat16 256", 256, 0x4380},
		{"1 + 2^-8 is a tie that rounds to even: 1", f(0x3f808000), 0x3f80},
		{"1 + 3 * 2^-8 is a tie that rounds to even: up", f(0x3f818000), 0x3f82},
		{"just above the tie rounds up", f(0x3f808001), 0x3f81},
		{"just below the tie rounds down", f(0x3f807fff), 0x3f80},
		{"smallest bfloat16 subnormal 2^-133", f(0x00010000), 0x0001},
		{"float32 subnormal below half of it rounds to zero", f(0x00007fff), 0x0000},
		{"float32 subnormal tie rounds to even: zero", f(0x00008000), 0x0000},
		{"largest float32 rounds to infinity", math.MaxFloat32, 0x7f80},
		{"largest finite bfloat16", f(0x7f7f0000), 0x7f7f},
		{"infinity", float32(math.Inf(1)), 0x7f80},
		{"-infinity", float32(math.Inf(-1)), 0xff80},
	}
	for _, tc := range tests {
		if got := Float32ToBFloat16(tc.in); got != tc.want {
			t.Errorf("%s: Float32ToBFloat16(%g) = %#04x, want %#04x", tc.name, tc.in, got, tc.want)
		}
	}
	// A NaN whose payload sits only in the low 16 bits must not become
	// infinity when they are dropped.
	for _, nan := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff} {
		if got := Float32ToBFloat16(f(nan)); !isBF16NaN(got) {
			t.Errorf("Float32ToBFloat16(NaN %#08x) = %#04x, not a NaN", nan, got)
		}
	}
}

func TestBFloat16ToFloat32AllBits(t *testing.T) {
	for i := 0; i <= 0xffff; i++ {
		b := uint16(i)
		got := BFloat16ToFloat32(b)
		// bfloat16 is defined as the top half of a float32.
		want := math.Float32frombits(uint32(b) << 16)
		if isBF16NaN(b) {
			if !math.IsNaN(float64(got)) {
				t.Errorf("BFloat16ToFloat32(%#04x) = %g, want NaN", b, got)
			}
			continue
		}
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("BFloat16ToFloat32(%#04x) = %g, want %g", b, got, want)
		}
		if back := Float32ToBFloat16(got); back != b {
			t.Errorf("Float32ToBFloat16(BFloat16ToFloat32(%#04x)) = %#04x", b, back)
		}
	}
}

func TestConvertRoundsThroughHalf(t *testing.T) {
	in := FromFloat64([]int{4}, []float64{1, 65504, 65520, 1 + math.Ldexp(1, -11)})
	h := in.Convert(Float16)
	want := []uint16{0x3c00, 0x7bff, 0x7c00, 0x3c00}
	for i, b := range h.Data.([]uint16) {
		if b != want[i] {
			t.Errorf("Convert(Float16)[%d] = %#04x, want %#04x", i, b, want[i])
		}
	}
	bf := in.Convert(BFloat16).Float64s()
	if bf[0] != 1 || bf[1] != 65536 {
		t.Errorf("Convert(BFloat16) = %v, want 1 and 65536 first", bf)
	}
}
