package builder

import (
	"strings"
	"testing"
)

func TestBroadcastShapes(t *testing.T) {
	n, h := Sym("N"), Sym("H")
	tests := []struct {
		a, b Shape
		want Shape
		err  bool
	}{
		{Dims(2, 3), Dims(3), Dims(2, 3), false},
		{Dims(2, 1), Dims(1, 4), Dims(2, 4), false},
		{Shape{n, Fixed(3)}, Dims(1, 3), Shape{n, Fixed(3)}, false},
		{Shape{n, Fixed(1), h}, Shape{Fixed(5), h}, Shape{n, Fixed(5), h}, false},
		{Shape{n}, Shape{Fixed(4)}, Dims(4), false}, // a symbol meeting 4 must be 4
		{Shape{n}, Shape{h}, Shape{UnknownDim}, false},
		{Shape{n}, Shape{n}, Shape{n}, false},
		{Dims(2, 3), Dims(4, 3), nil, true},
		{Shape{}, Dims(2, 2), Dims(2, 2), false},
	}
	for _, tc := range tests {
		got, err := broadcastShapes(tc.a, tc.b)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), tc.a.String()) {
				t.Errorf("%v with %v: want an error naming the shapes, got %v, %v", tc.a, tc.b, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) && got.String() != tc.want.String() {
			t.Errorf("%v with %v = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
		}
	}
}

func TestNormAxes(t *testing.T) {
	got, err := normAxes([]int{-1, 0, 2}, 4)
	if err != nil || len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 3 {
		t.Errorf("normAxes = %v, %v; want [0 2 3]", got, err)
	}
	if _, err := normAxes([]int{1, -2}, 3); err == nil {
		t.Error("axis given twice was accepted")
	}
	if _, err := normAxes([]int{4}, 4); err == nil {
		t.Error("axis out of range was accepted")
	}
}

func TestSliceLen(t *testing.T) {
	tests := []struct{ n, start, end, step, want int64 }{
		{10, 0, 10, 1, 10},
		{10, 2, 5, 1, 3},
		{10, -3, 1 << 62, 1, 3},
		{10, 0, 10, 3, 4},
		{10, 9, -1 << 62, -1, 10},
		{10, 5, 2, 1, 0},
		{10, 8, 2, -2, 3},
	}
	for _, tc := range tests {
		if got := sliceLen(tc.n, tc.start, tc.end, tc.step); got != tc.want {
			t.Errorf("sliceLen(%d, %d, %d, %d) = %d, want %d", tc.n, tc.start, tc.end, tc.step, got, tc.want)
		}
	}
}

func TestInferDim(t *testing.T) {
	in := Shape{Sym("N"), Fixed(3), Sym("H"), Sym("W")}
	// [N,3,H,W] -> [N, -1]: 3·H·W is not expressible, unknown.
	if d := inferDim(in, Shape{Sym("N"), UnknownDim}, 1); d.Known() || d.Param != "" {
		t.Errorf("inferDim = %v, want unknown", d)
	}
	// [N,3,H,W] -> [3, H, W, -1]: the rest is N.
	if d := inferDim(in, Shape{Fixed(3), Sym("H"), Sym("W"), UnknownDim}, 3); d.Param != "N" {
		t.Errorf("inferDim = %v, want N", d)
	}
	if d := inferDim(Dims(2, 3, 4), Shape{Fixed(6), UnknownDim}, 1); d.Size != 4 {
		t.Errorf("inferDim = %v, want 4", d)
	}
}
