package tensor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// sameTensor reports how a and b differ, comparing floats by bit pattern so
// that NaN equals NaN and 0 differs from -0.
func sameTensor(a, b *Tensor) error {
	if a.DType != b.DType {
		return fmt.Errorf("dtype %v vs %v", a.DType, b.DType)
	}
	if fmt.Sprint(a.Shape) != fmt.Sprint(b.Shape) {
		return fmt.Errorf("shape %v vs %v", a.Shape, b.Shape)
	}
	if a.Len() != b.Len() {
		return fmt.Errorf("len %d vs %d", a.Len(), b.Len())
	}
	for i := 0; i < a.Len(); i++ {
		if x, y := elemBits(a, i), elemBits(b, i); x != y {
			return fmt.Errorf("element %d: %#x vs %#x", i, x, y)
		}
	}
	return nil
}

// elemBits returns element i as its bit pattern.
func elemBits(t *Tensor, i int) uint64 {
	switch d := t.Data.(type) {
	case []float32:
		return uint64(math.Float32bits(d[i]))
	case []float64:
		return math.Float64bits(d[i])
	case []uint16:
		return uint64(d[i])
	case []int64:
		return uint64(d[i])
	case []int32:
		return uint64(uint32(d[i]))
	case []uint8:
		return uint64(d[i])
	case []bool:
		if d[i] {
			return 1
		}
		return 0
	}
	panic(fmt.Sprintf("elemBits: %T", t.Data))
}

// testTensor fills a tensor with values that exercise sign, magnitude and,
// for floats, the special values.
func testTensor(dt DType, shape []int) *Tensor {
	t := New(dt, shape...)
	specials := []float64{0, math.Copysign(0, -1), 1, -2.5, math.Inf(1), math.Inf(-1), math.NaN(), 1e-3, 65504, 3.0e38}
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(specials[i%len(specials)] * float64(i/len(specials)+1))
		}
	case []float64:
		for i := range d {
			d[i] = specials[i%len(specials)] * (1 + float64(i)/7)
		}
	case []uint16:
		for i := range d {
			d[i] = uint16(i*40503 + 17) // spreads over all bit patterns, NaNs included
		}
	case []int64:
		for i := range d {
			d[i] = int64(i)*0x1234567890123 - 1<<62
		}
	case []int32:
		for i := range d {
			d[i] = int32(i)*0x1234567 - 1<<30
		}
	case []uint8:
		for i := range d {
			d[i] = uint8(i * 37)
		}
	case []bool:
		for i := range d {
			d[i] = i%3 == 1
		}
	}
	return t
}

func TestNPYRoundTrip(t *testing.T) {
	shapes := [][]int{{}, {5}, {2, 3}, {2, 1, 3}, {2, 3, 1, 2}, {0}, {3, 0, 2}, {1, 2, 1, 2, 1, 1, 2, 1}}
	dtypes := []DType{Float32, Float64, Float16, BFloat16, Int64, Int32, Uint8, Bool}
	for _, dt := range dtypes {
		for _, shape := range shapes {
			t.Run(fmt.Sprintf("%v%v", dt, shape), func(t *testing.T) {
				in := testTensor(dt, shape)
				var buf bytes.Buffer
				if err := WriteNPY(&buf, in); err != nil {
					t.Fatal(err)
				}
				elemSize := dt.Size()
				if dt == BFloat16 {
					elemSize = 4 // widened to float32
				}
				if header := buf.Len() - in.Len()*elemSize; header%64 != 0 {
					t.Errorf("data starts at byte %d, not on a 64-byte boundary as numpy aligns it", header)
				}
				out, err := ReadNPY(&buf)
				if err != nil {
					t.Fatal(err)
				}
				want := in
				if dt == BFloat16 {
					// Written as float32; widening bfloat16 is putting
					// its 16 bits on top of a float32.
					want = New(Float32, shape...)
					for i, b := range in.Data.([]uint16) {
						want.Data.([]float32)[i] = math.Float32frombits(uint32(b) << 16)
					}
				}
				if err := sameTensor(want, out); err != nil {
					t.Error(err)
				}
				if buf.Len() != 0 {
					t.Errorf("%d bytes left unread", buf.Len())
				}
			})
		}
	}
}

// numpyFixture is one entry of testdata/npy/expected.json, which
// make_npy.py writes from numpy's own reading of each file.
type numpyFixture struct {
	DType     string          `json:"dtype"`
	Shape     []int           `json:"shape"`
	Values    json.RawMessage `json:"values"`
	Bits      []uint16        `json:"bits"`
	Version   int             `json:"version"`
	Fortran   bool            `json:"fortran"`
	BigEndian bool            `json:"big_endian"`
}

func loadFixtures(t testing.TB) map[string]numpyFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "npy", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx map[string]numpyFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

// want builds the tensor numpy says the fixture holds.
func (f numpyFixture) want() (*Tensor, error) {
	dt, err := ParseDType(f.DType)
	if err != nil {
		return nil, err
	}
	t := New(dt, f.Shape...)
	switch d := t.Data.(type) {
	case []float32:
		var v []float64
		err = json.Unmarshal(f.Values, &v)
		for i := range v {
			d[i] = float32(v[i])
		}
	case []float64:
		err = json.Unmarshal(f.Values, &d)
	case []uint16:
		copy(d, f.Bits)
	case []int64:
		err = json.Unmarshal(f.Values, &d)
	case []int32:
		err = json.Unmarshal(f.Values, &d)
	case []uint8:
		var v []int // []uint8 would be read as base64
		err = json.Unmarshal(f.Values, &v)
		for i := range v {
			d[i] = uint8(v[i])
		}
	case []bool:
		err = json.Unmarshal(f.Values, &d)
	}
	return t, err
}

func TestReadNumpyFixtures(t *testing.T) {
	fx := loadFixtures(t)
	kinds := map[string]bool{}
	for name, f := range fx {
		t.Run(name, func(t *testing.T) {
			want, err := f.want()
			if err != nil {
				t.Fatal(err)
			}
			got, err := LoadNPY(filepath.Join("testdata", "npy", name))
			if err != nil {
				t.Fatal(err)
			}
			if err := sameTensor(want, got); err != nil {
				t.Error(err)
			}
		})
		kinds[fmt.Sprintf("v%d", f.Version)] = true
		kinds["fortran"] = kinds["fortran"] || f.Fortran
		kinds["big-endian"] = kinds["big-endian"] || f.BigEndian
		kinds[f.DType] = true
	}
	for _, k := range []string{"v1", "v2", "v3", "fortran", "big-endian", "float32", "float64", "float16", "int64", "int32", "uint8", "bool"} {
		if !kinds[k] {
			t.Errorf("no fixture covers %s", k)
		}
	}
}

// TestWriteMatchesNumpy checks that WriteNPY reproduces numpy.save's bytes
// exactly, header padding included, for every fixture numpy wrote in the
// form WriteNPY uses (version 1.0, little-endian, C order).
func TestWriteMatchesNumpy(t *testing.T) {
	n := 0
	for name, f := range loadFixtures(t) {
		if f.Version != 1 || f.Fortran || f.BigEndian {
			continue
		}
		n++
		path := filepath.Join("testdata", "npy", name)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		in, err := ReadNPY(bytes.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, in); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), orig) {
			t.Errorf("%s: WriteNPY wrote\n%q\nnumpy wrote\n%q", name, buf.Bytes(), orig)
		}
	}
	if n < 5 {
		t.Errorf("only %d fixtures in numpy's default form", n)
	}
}

// npyFile assembles a version 1.0 file from a header dict and data.
func npyFile(dict string, data []byte) []byte {
	b := []byte(npyMagic + "\x01\x00")
	b = append(b, byte(len(dict)), byte(len(dict)>>8))
	b = append(b, dict...)
	return append(b, data...)
}

// hideLen hides Len and the concrete type of a reader, so ReadNPY cannot
// learn the input size in advance.
type hideLen struct{ r io.Reader }

func (h hideLen) Read(p []byte) (int, error) { return h.r.Read(p) }

func TestReadNPYErrors(t *testing.T) {
	hdr := func(descr, fortran, shape string) string {
		return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }\n", descr, fortran, shape)
	}
	v2 := func(hlen uint32) []byte {
		return append([]byte(npyMagic+"\x02\x00"), byte(hlen), byte(hlen>>8), byte(hlen>>16), byte(hlen>>24))
	}
	tests := []struct {
		name  string
		input []byte
		want  string
		eof   bool // whether the error wraps io.ErrUnexpectedEOF
	}{
		{"empty", nil, "empty input", false},
		{"short magic", []byte("\x93NUM"), "truncated magic", true},
		{"bad magic", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), "bad magic", false},
		{"version 4.0", []byte(npyMagic + "\x04\x00\x10\x00"), "unsupported format version 4.0", false},
		{"version 1.1", []byte(npyMagic + "\x01\x01\x10\x00"), "unsupported format version 1.1", false},
		{"no header length", []byte(npyMagic + "\x01\x00\x10"), "truncated header length", true},
		{"header longer than input", []byte(npyMagic + "\x01\x00\xff\xff{}"), "truncated header", true},
		{"v2 header over limit", v2(1 << 30), "exceeds the limit", false},
		{"not a dict", npyFile("['descr']\n", nil), "want a dict", false},
		{"missing shape", npyFile("{'descr': '<f4', 'fortran_order': False}\n", nil), "key 'shape' missing", false},
		{"extra key", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}\n", nil), "unexpected key", false},
		{"repeated key", npyFile("{'descr': '<f4', 'descr': '<f4'}", nil), "repeated", false},
		{"structured dtype", npyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", nil), "structured dtypes", false},
		{"complex dtype", npyFile(hdr("<c8", "False", "()"), make([]byte, 8)), "unsupported dtype descr '<c8'", false},
		{"int16 dtype", npyFile(hdr("<i2", "False", "()"), make([]byte, 2)), "unsupported dtype descr '<i2'", false},
		{"object dtype", npyFile(hdr("|O", "False", "()"), make([]byte, 8)), "unsupported dtype descr '|O'", false},
		{"no byte order for f4", npyFile(hdr("|f4", "False", "()"), make([]byte, 4)), "only for one-byte types", false},
		{"native byte order", npyFile(hdr("=f4", "False", "()"), make([]byte, 4)), "unknown byte order", false},
		{"fortran_order not bool", npyFile(hdr("<f4", "1", "()"), nil), "'fortran_order' is not True or False", false},
		{"negative dim", npyFile(hdr("<f4", "False", "(-1,)"), nil), "non-negative integer", false},
		{"shape is a list", npyFile(hdr("<f4", "False", "[2, 3]"), nil), "not a tuple", false},
		{"unclosed shape", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", nil), "want ',' or ')'", false},
		{"dim too large", npyFile(hdr("<f4", "False", "(99999999999999999999,)"), nil), "too large", false},
		{"count overflows", npyFile(hdr("<f4", "False", "(4294967296, 4294967296, 4294967296)"), nil), "overflows", false},
		{"bytes overflow", npyFile(hdr("<f8", "False", "(4611686018427387904,)"), nil), "too large", false},
		{"rank 33", npyFile(hdr("<f4", "False", "("+strings.Repeat("1, ", 33)+")"), nil), "more than 32 dimensions", false},
		{"more data than input", npyFile(hdr("<f4", "False", "(1000000000, 1000)"), make([]byte, 16)), "shape/data size mismatch", true},
		{"truncated data", npyFile(hdr("<i8", "False", "(2, 3)"), make([]byte, 47)), "needs 48 bytes of data, input has 47", true},
		{"text after dict", npyFile(hdr("<f4", "False", "()")+"x", make([]byte, 4)), "unexpected text", false},
		{"backslash in string", npyFile(`{'descr': '<f\4', 'fortran_order': False, 'shape': ()}`, nil), "not a quoted string", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(tc.input), hideLen{bytes.NewReader(tc.input)}} {
				_, err := ReadNPY(r)
				if err == nil {
					t.Fatalf("%T: no error, want one containing %q", r, tc.want)
				}
				_, hidden := r.(hideLen)
				// Without the input size, a size mismatch can only be
				// found by running out of data.
				want := tc.want
				if hidden && strings.HasPrefix(want, "shape/data size mismatch") {
					want = "truncated data"
				}
				if hidden && strings.HasPrefix(want, "needs 48 bytes of data") {
					want = "needs 48 bytes, input has 47"
				}
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%T: error %q, want it to contain %q", r, err, want)
				}
				if errors.Is(err, io.ErrUnexpectedEOF) != tc.eof {
					t.Errorf("%T: errors.Is(%q, io.ErrUnexpectedEOF) = %v, want %v", r, err, !tc.eof, tc.eof)
				}
				if !strings.HasPrefix(err.Error(), "npy: ") {
					t.Errorf("%T: error %q does not start with npy:", r, err)
				}
			}
		})
	}
}

// TestReadNPYLyingHeaderMemory checks that a header claiming a huge array
// costs memory in proportion to the input, not to the claim, when the
// input size cannot be known in advance.
func TestReadNPYLyingHeaderMemory(t *testing.T) {
	// 2^40 bytes claimed, 3 MiB present.
	in := npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (274877906944,), }\n", make([]byte, 3<<20))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadNPY(hideLen{bytes.NewReader(in)})
	runtime.ReadMemStats(&after)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error = %v, want truncated data", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MiB for a 3 MiB input", alloc>>20)
	}
}

func TestReadNPYLargeUnknownLength(t *testing.T) {
	// Larger than one read chunk, so the growing path is used and must
	// still return every byte in order.
	in := testTensor(Int32, []int{3, npyChunk/4 + 123})
	var buf bytes.Buffer
	if err := WriteNPY(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadNPY(hideLen{&buf})
	if err != nil {
		t.Fatal(err)
	}
	if err := sameTensor(in, out); err != nil {
		t.Error(err)
	}
}

func TestReadNPYFortranRank4(t *testing.T) {
	// Column-major data for shape (2, 3, 1, 2): element (i, j, k, l) sits
	// at position i + 2j + 6k + 6l and holds the value 1000i + 100j + 10k + l.
	shape := []int{2, 3, 1, 2}
	data := make([]byte, 0, 12*4)
	for l := 0; l < 2; l++ {
		for k := 0; k < 1; k++ {
			for j := 0; j < 3; j++ {
				for i := 0; i < 2; i++ {
					v := uint32(1000*i + 100*j + 10*k + l)
					data = append(data, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
				}
			}
		}
	}
	got, err := ReadNPY(bytes.NewReader(npyFile("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 1, 2), }\n", data)))
	if err != nil {
		t.Fatal(err)
	}
	want := New(Int32, shape...)
	d := want.Data.([]int32)
	n := 0
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 1; k++ {
				for l := 0; l < 2; l++ {
					d[n] = int32(1000*i + 100*j + 10*k + l)
					n++
				}
			}
		}
	}
	if err := sameTensor(want, got); err != nil {
		t.Error(err)
	}
}

func TestReadNPYHeaderVariants(t *testing.T) {
	// Forms numpy (or Python 2's numpy) may write or accept: keys in any
	// order, double quotes, no trailing comma, Python 2 longs.
	for _, dict := range []string{
		"{'shape': (2L, 1L), 'fortran_order': False, 'descr': '<i4'}",
		"{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (2,1)}   \n",
		"{'descr':'<i4','fortran_order':True,'shape':(2, 1,),}",
	} {
		got, err := ReadNPY(bytes.NewReader(npyFile(dict, []byte{7, 0, 0, 0, 9, 0, 0, 0})))
		if err != nil {
			t.Errorf("%s: %v", dict, err)
			continue
		}
		if err := sameTensor(&Tensor{Shape: []int{2, 1}, DType: Int32, Data: []int32{7, 9}}, got); err != nil {
			t.Errorf("%s: %v", dict, err)
		}
	}
}

func TestWriteNPYErrors(t *testing.T) {
	tests := []struct {
		name string
		t    *Tensor
		want string
	}{
		{"nil", nil, "nil"},
		{"wrong data type", &Tensor{Shape: []int{2}, DType: Float32, Data: []float64{1, 2}}, "does not hold"},
		{"short data", &Tensor{Shape: []int{3}, DType: Int64, Data: []int64{1, 2}}, "needs 3 elements"},
		{"rank 33", New(Uint8, make33()...), "rank 33"},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		err := WriteNPY(&buf, tc.t)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func make33() []int {
	s := make([]int, 33)
	for i := range s {
		s[i] = 1
	}
	return s
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteNPYPropagatesWriteErrors(t *testing.T) {
	in := testTensor(Float64, []int{npyChunk / 8 * 3})
	for _, n := range []int{0, 100, npyChunk + 5} {
		if err := WriteNPY(&failWriter{n: n}, in); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("fail after %d bytes: error %v, want disk full", n, err)
		}
	}
}

func TestSaveLoadNPY(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	in := testTensor(Float32, []int{4, 5})
	if err := SaveNPY(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := LoadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameTensor(in, out); err != nil {
		t.Error(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}

	// Overwriting replaces the file.
	in2 := testTensor(Int64, []int{3})
	if err := SaveNPY(path, in2); err != nil {
		t.Fatal(err)
	}
	if out, err := LoadNPY(path); err != nil || sameTensor(in2, out) != nil {
		t.Errorf("after overwrite: %v, %v", out, err)
	}
	before, _ := os.ReadFile(path)

	// Failures leave the old file as it was and no temporary files.
	if err := SaveNPY(path, &Tensor{Shape: []int{2}, DType: Float32, Data: []float32{1}}); err == nil {
		t.Error("invalid tensor saved without error")
	}
	if err := SaveNPY(path, New(Uint8, make33()...)); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("rank-33 save: error %v, want one naming the path", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a failed save changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want only x.npy", names)
	}

	if err := SaveNPY(filepath.Join(dir, "missing", "y.npy"), in); err == nil {
		t.Error("save into a missing folder succeeded")
	}
	if _, err := LoadNPY(filepath.Join(dir, "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("load of a missing file: %v, want ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.npy")
	os.WriteFile(bad, []byte("not npy at all"), 0o644)
	if _, err := LoadNPY(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "bad magic") {
		t.Errorf("load of a non-npy file: %v, want bad magic naming the path", err)
	}
}

func FuzzReadNPY(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "npy", "*.npy"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(npyFile("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 1, 2), }\n", make([]byte, 48)))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, r := range []io.Reader{bytes.NewReader(b), hideLen{bytes.NewReader(b)}} {
			got, err := ReadNPY(r)
			if err != nil {
				if got != nil {
					t.Fatal("non-nil tensor with an error")
				}
				continue
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("ReadNPY returned an invalid tensor: %v", err)
			}
			var buf bytes.Buffer
			if err := WriteNPY(&buf, got); err != nil {
				t.Fatalf("cannot write what was read: %v", err)
			}
			again, err := ReadNPY(&buf)
			if err != nil {
				t.Fatalf("cannot read what was written: %v", err)
			}
			if err := sameTensor(got, again); err != nil {
				t.Fatalf("write/read changed the tensor: %v", err)
			}
		}
	})
}

// TestSaveNPYFileRules checks that SaveNPY writes under the rules of every
// file onnxloss writes: a read-only file is refused and kept, a symbolic
// link is written through to its target and kept.
func TestSaveNPYFileRules(t *testing.T) {
	dir := t.TempDir()
	in := testTensor(Float32, []int{2, 3})
	ro := filepath.Join(dir, "ro.npy")
	if err := os.WriteFile(ro, []byte("keep"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := SaveNPY(ro, in); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only file: %v", err)
	}
	if b, _ := os.ReadFile(ro); string(b) != "keep" {
		t.Error("SaveNPY replaced a read-only file")
	}
	real := filepath.Join(dir, "real.npy")
	if err := SaveNPY(real, testTensor(Int64, []int{1})); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.npy")
	if err := os.Symlink("real.npy", link); err != nil {
		t.Fatal(err)
	}
	if err := SaveNPY(link, in); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	if out, err := LoadNPY(real); err != nil || sameTensor(in, out) != nil {
		t.Errorf("the link's target holds %v, %v", out, err)
	}
}
