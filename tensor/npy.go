package tensor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/internal/atomicfile"
)

// The .npy format is described in numpy's numpy/lib/format.py: a magic
// string, a version, a header length, a Python dict literal with the keys
// 'descr', 'fortran_order' and 'shape', then the raw elements.

const (
	npyMagic = "\x93NUMPY"

	// maxNPYHeaderLen bounds the header a reader will buffer. Headers of
	// the arrays supported here are under 300 bytes even at maxNPYRank;
	// the limit is generous but keeps a hostile length field from costing
	// more than this much memory.
	maxNPYHeaderLen = 1 << 16

	// maxNPYRank is numpy's own limit on dimensions (NPY_MAXDIMS in numpy
	// 1.x).
	maxNPYRank = 32

	// npyAlign is the alignment numpy pads the header to, so that the
	// data can be memory-mapped; writing the same padding makes our files
	// byte-identical to numpy's.
	npyAlign = 64

	// npyGrowthDigits is the room numpy leaves in the header for the
	// first dimension to grow in place (GROWTH_AXIS_MAX_DIGITS).
	npyGrowthDigits = 21

	// npyChunk is the unit in which data of unknown-length input is read
	// and in which data is encoded on write: large enough to be fast,
	// small enough that a lying header cannot make us allocate much more
	// than the input really holds.
	npyChunk = 1 << 20
)

// npyTypes maps the type part of a 'descr' (without the byte-order
// character) to a DType.
var npyTypes = map[string]DType{
	"f4": Float32, "f8": Float64, "f2": Float16,
	"i8": Int64, "i4": Int32, "u1": Uint8, "b1": Bool,
}

// ReadNPY reads one array in .npy format (versions 1.0, 2.0 and 3.0).
//
// The supported element types are the 'descr' codes f4, f8, f2, i8, i4, u1
// and b1, in little- or big-endian byte order ('<', '>', or '|' for one-byte
// types); elements are converted to native order. Arrays stored in Fortran
// order are transposed, so the result is always row-major. A float16 array
// becomes a Float16 tensor holding the raw bits.
//
// Input is treated as untrusted: the header length, the rank and the
// element count are checked before anything is allocated for the data, and
// when r can tell how many bytes it holds (a *bytes.Reader, *strings.Reader,
// *bytes.Buffer or a regular *os.File), a shape that needs more bytes than
// that is refused at once. Bytes after the array are left unread.
func ReadNPY(r io.Reader) (*Tensor, error) {
	return readNPY(r, remainingBytes(r))
}

// LoadNPY reads a .npy file; see ReadNPY.
func LoadNPY(path string) (*Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := remainingBytes(f)
	t, err := readNPY(bufio.NewReader(f), size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// remainingBytes returns how many bytes r has left, or -1 if it cannot tell.
func remainingBytes(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return st.Size() - pos
	}
	return -1
}

// readNPY reads an array from r, which holds remaining bytes (-1 if
// unknown).
func readNPY(r io.Reader, remaining int64) (*Tensor, error) {
	var pre [12]byte
	if n, err := io.ReadFull(r, pre[:8]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, errors.New("npy: empty input")
		}
		return nil, fmt.Errorf("npy: truncated magic string (%d bytes): %w", n, io.ErrUnexpectedEOF)
	}
	if string(pre[:6]) != npyMagic {
		return nil, fmt.Errorf("npy: bad magic %q, want %q (not a .npy file)", pre[:6], npyMagic)
	}
	major, minor := pre[6], pre[7]
	var hlen int
	var lenSize int
	switch {
	case major == 1 && minor == 0:
		lenSize = 2
	case (major == 2 || major == 3) && minor == 0:
		lenSize = 4
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d (want 1.0, 2.0 or 3.0)", major, minor)
	}
	if _, err := io.ReadFull(r, pre[8:8+lenSize]); err != nil {
		return nil, fmt.Errorf("npy: truncated header length: %w", io.ErrUnexpectedEOF)
	}
	if lenSize == 2 {
		hlen = int(binary.LittleEndian.Uint16(pre[8:]))
	} else {
		n := binary.LittleEndian.Uint32(pre[8:])
		if n > maxNPYHeaderLen {
			return nil, fmt.Errorf("npy: header length %d exceeds the limit of %d bytes", n, maxNPYHeaderLen)
		}
		hlen = int(n)
	}
	if remaining >= 0 {
		remaining -= int64(8 + lenSize)
		if int64(hlen) > remaining {
			return nil, fmt.Errorf("npy: truncated header: length field says %d bytes, input has %d: %w", hlen, remaining, io.ErrUnexpectedEOF)
		}
		remaining -= int64(hlen)
	}
	header := make([]byte, hlen)
	if n, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("npy: truncated header: length field says %d bytes, got %d: %w", hlen, n, io.ErrUnexpectedEOF)
	}
	h, err := parseNPYHeader(header)
	if err != nil {
		return nil, err
	}
	dt, order, err := parseNPYDescr(h.descr)
	if err != nil {
		return nil, err
	}
	n, err := npyElements(h.shape)
	if err != nil {
		return nil, err
	}
	if n > math.MaxInt/dt.Size() {
		return nil, fmt.Errorf("npy: shape %v of %s is too large (%d elements)", h.shape, dt, n)
	}
	nbytes := n * dt.Size()
	if remaining >= 0 && int64(nbytes) > remaining {
		return nil, fmt.Errorf("npy: shape/data size mismatch: shape %v of %s needs %d bytes of data, input has %d: %w",
			h.shape, dt, nbytes, remaining, io.ErrUnexpectedEOF)
	}
	raw, err := readBytes(r, nbytes)
	if err != nil {
		return nil, fmt.Errorf("npy: truncated data: shape %v of %s needs %d bytes, input has %d: %w",
			h.shape, dt, nbytes, len(raw), io.ErrUnexpectedEOF)
	}
	if h.fortran && len(h.shape) > 1 {
		raw = fortranToC(raw, h.shape, dt.Size())
	}
	return &Tensor{Shape: h.shape, DType: dt, Data: decodeNPY(raw, dt, order, n)}, nil
}

// readBytes reads exactly n bytes. Because the caller may not know how long
// the input is, the buffer grows with what actually arrives instead of being
// allocated for n up front; on a short read it returns what it got and an
// error.
func readBytes(r io.Reader, n int) ([]byte, error) {
	if n <= npyChunk {
		buf := make([]byte, n)
		m, err := io.ReadFull(r, buf)
		return buf[:m], err
	}
	buf := make([]byte, 0, npyChunk)
	for len(buf) < n {
		step := min(n-len(buf), max(npyChunk, len(buf)))
		buf = slices.Grow(buf, step)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// npyHeader is the content of the header dict.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// parseNPYHeader parses the header, a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } followed by
// padding. Only the literal forms numpy writes are accepted, rather than
// evaluating Python.
func parseNPYHeader(b []byte) (npyHeader, error) {
	p := &npyParser{s: b}
	var h npyHeader
	bad := func(format string, args ...any) (npyHeader, error) {
		return npyHeader{}, fmt.Errorf("npy: header %q: %s", truncate(b, 120), fmt.Sprintf(format, args...))
	}
	p.space()
	if !p.eat('{') {
		return bad("want a dict starting with '{'")
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return bad("want a quoted key at offset %d", p.i)
		}
		if seen[key] {
			return bad("key %q repeated", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return bad("want ':' after key %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() == '[' {
				return bad("structured dtypes (a list in 'descr') are not supported")
			}
			if h.descr, ok = p.str(); !ok {
				return bad("'descr' is not a quoted string")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
				h.fortran = false
			default:
				return bad("'fortran_order' is not True or False")
			}
		case "shape":
			shape, err := p.shape()
			if err != nil {
				return bad("'shape': %v", err)
			}
			h.shape = shape
		default:
			return bad("unexpected key %q (want 'descr', 'fortran_order' and 'shape')", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return bad("want ',' or '}' at offset %d", p.i)
		}
		break
	}
	p.space()
	if p.i != len(b) {
		return bad("unexpected text after the dict at offset %d", p.i)
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return bad("key '%s' missing", k)
		}
	}
	return h, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// npyParser scans a header left to right. A failed method may leave the
// position anywhere, because any failure ends parsing with an error.
type npyParser struct {
	s []byte
	i int
}

func (p *npyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *npyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// space skips the whitespace numpy uses for padding.
func (p *npyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *npyParser) word(w string) bool {
	if bytes.HasPrefix(p.s[p.i:], []byte(w)) {
		p.i += len(w)
		return true
	}
	return false
}

// str parses a Python string literal in single or double quotes. Escapes
// never occur in valid headers, so a backslash is an error.
func (p *npyParser) str() (string, bool) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", false
	}
	end := bytes.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	s := p.s[p.i+1 : p.i+1+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		return "", false
	}
	p.i += end + 2
	return string(s), true
}

// shape parses a tuple of non-negative integers: (), (3,), (2, 3) and so
// on. A trailing L (Python 2's long) is accepted, as numpy does.
func (p *npyParser) shape() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("not a tuple")
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			break
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return nil, fmt.Errorf("want a non-negative integer at offset %d", start)
		}
		d, err := strconv.ParseInt(string(p.s[start:p.i]), 10, 0)
		if err != nil {
			return nil, fmt.Errorf("dimension %s is too large", p.s[start:p.i])
		}
		p.eat('L')
		if len(shape) == maxNPYRank {
			return nil, fmt.Errorf("more than %d dimensions", maxNPYRank)
		}
		shape = append(shape, int(d))
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat(')') {
			return nil, fmt.Errorf("want ',' or ')' at offset %d", p.i)
		}
		break
	}
	return shape, nil
}

// parseNPYDescr turns a 'descr' such as "<f4" into a DType and the byte
// order of the data.
func parseNPYDescr(descr string) (DType, binary.ByteOrder, error) {
	unsupported := func(why string) (DType, binary.ByteOrder, error) {
		return Invalid, nil, fmt.Errorf("npy: unsupported dtype descr '%s'%s (supported: f4, f8, f2, i8, i4, u1, b1 with byte order '<', '>' or '|')", descr, why)
	}
	if len(descr) != 3 {
		return unsupported("")
	}
	dt, ok := npyTypes[descr[1:]]
	if !ok {
		return unsupported("")
	}
	switch descr[0] {
	case '<':
		return dt, binary.LittleEndian, nil
	case '>':
		return dt, binary.BigEndian, nil
	case '|':
		if dt.Size() != 1 {
			return unsupported(": byte order '|' is only for one-byte types")
		}
		return dt, binary.LittleEndian, nil
	}
	return unsupported(": unknown byte order")
}

// npyElements returns the element count of shape, refusing counts that do
// not fit in an int.
func npyElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("npy: shape %v has a negative dimension", shape)
		}
		if n > math.MaxInt/d {
			return 0, fmt.Errorf("npy: shape %v: element count overflows", shape)
		}
		n *= d
	}
	return n, nil
}

// fortranToC reorders column-major elements of the given size into
// row-major order.
func fortranToC(raw []byte, shape []int, size int) []byte {
	out := make([]byte, len(raw))
	rank := len(shape)
	stride := make([]int, rank) // row-major strides, in elements
	s := 1
	for i := rank - 1; i >= 0; i-- {
		stride[i] = s
		s *= shape[i]
	}
	idx := make([]int, rank)
	off := 0
	// Walk the input in its own (column-major) order, first axis fastest,
	// and keep the row-major offset of the same index up to date.
	for k := 0; k < len(raw); k += size {
		copy(out[off*size:off*size+size], raw[k:k+size])
		for d := 0; d < rank; d++ {
			idx[d]++
			off += stride[d]
			if idx[d] < shape[d] {
				break
			}
			off -= stride[d] * shape[d]
			idx[d] = 0
		}
	}
	return out
}

// decodeNPY converts n elements of raw data in the given byte order to the
// slice type that Tensor.Data uses for dt.
func decodeNPY(raw []byte, dt DType, order binary.ByteOrder, n int) any {
	switch dt {
	case Float32:
		d := make([]float32, n)
		for i := range d {
			d[i] = math.Float32frombits(order.Uint32(raw[4*i:]))
		}
		return d
	case Float64:
		d := make([]float64, n)
		for i := range d {
			d[i] = math.Float64frombits(order.Uint64(raw[8*i:]))
		}
		return d
	case Float16:
		d := make([]uint16, n)
		for i := range d {
			d[i] = order.Uint16(raw[2*i:])
		}
		return d
	case Int64:
		d := make([]int64, n)
		for i := range d {
			d[i] = int64(order.Uint64(raw[8*i:]))
		}
		return d
	case Int32:
		d := make([]int32, n)
		for i := range d {
			d[i] = int32(order.Uint32(raw[4*i:]))
		}
		return d
	case Uint8:
		return raw[:n:n]
	case Bool:
		d := make([]bool, n)
		for i := range d {
			d[i] = raw[i] != 0
		}
		return d
	}
	panic("unreachable: parseNPYDescr returned " + dt.String())
}

// npyDescr is the 'descr' written for each DType. BFloat16 has none because
// numpy has no bfloat16 type; WriteNPY widens it to float32.
var npyDescr = map[DType]string{
	Float32: "<f4", Float64: "<f8", Float16: "<f2",
	Int64: "<i8", Int32: "<i4", Uint8: "|u1", Bool: "|b1",
}

// WriteNPY writes t in .npy format, version 1.0 (2.0 if the header is too
// long for 1.0), little-endian and in C order, with the same header and
// padding that numpy.save writes, so files are byte-identical to numpy's.
//
// A BFloat16 tensor is written as float32 ('<f4'), because numpy has no
// bfloat16 type: every bfloat16 value is exactly a float32, so nothing is
// lost, but reading the file back gives a Float32 tensor (use
// Convert(BFloat16) to narrow it again).
func WriteNPY(w io.Writer, t *Tensor) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if len(t.Shape) > maxNPYRank {
		return fmt.Errorf("npy: rank %d exceeds numpy's limit of %d dimensions", len(t.Shape), maxNPYRank)
	}
	dt := t.DType
	if dt == BFloat16 {
		dt = Float32
	}
	descr, ok := npyDescr[dt]
	if !ok {
		return fmt.Errorf("npy: dtype %v cannot be written", t.DType)
	}
	if _, err := w.Write(npyHeaderBytes(descr, t.Shape)); err != nil {
		return err
	}
	return encodeNPY(w, t)
}

// npyHeaderBytes builds magic, version, length and padded header the way
// numpy's _write_array_header does.
func npyHeaderBytes(descr string, shape []int) []byte {
	var dict strings.Builder
	fmt.Fprintf(&dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr)
	for i, d := range shape {
		if i > 0 {
			dict.WriteString(", ")
		}
		dict.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		dict.WriteByte(',')
	}
	dict.WriteString("), }")
	if len(shape) > 0 {
		dict.WriteString(strings.Repeat(" ", max(0, npyGrowthDigits-len(strconv.Itoa(shape[0])))))
	}
	hlen := dict.Len() + 1 // the final newline
	major, lenSize := byte(1), 2
	pad := npyAlign - (8+lenSize+hlen)%npyAlign
	if hlen+pad > math.MaxUint16 {
		major, lenSize = 2, 4
		pad = npyAlign - (8+lenSize+hlen)%npyAlign
	}
	out := make([]byte, 0, 8+lenSize+hlen+pad)
	out = append(out, npyMagic...)
	out = append(out, major, 0)
	if lenSize == 2 {
		out = binary.LittleEndian.AppendUint16(out, uint16(hlen+pad))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(hlen+pad))
	}
	out = append(out, dict.String()...)
	out = append(out, bytes.Repeat([]byte{' '}, pad)...)
	return append(out, '\n')
}

// encodeNPY writes the elements of t little-endian, a chunk at a time so
// that a large tensor is not copied whole.
func encodeNPY(w io.Writer, t *Tensor) error {
	buf := make([]byte, 0, min(npyChunk, 8*t.Len()))
	flush := func(force bool) error {
		if len(buf) == 0 || (!force && len(buf) < npyChunk-8) {
			return nil
		}
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	le := binary.LittleEndian
	var err error
	switch d := t.Data.(type) {
	case []float32:
		for _, v := range d {
			buf = le.AppendUint32(buf, math.Float32bits(v))
			if err = flush(false); err != nil {
				return err
			}
		}
	case []float64:
		for _, v := range d {
			buf = le.AppendUint64(buf, math.Float64bits(v))
			if err = flush(false); err != nil {
				return err
			}
		}
	case []uint16:
		for _, v := range d {
			if t.DType == BFloat16 {
				buf = le.AppendUint32(buf, math.Float32bits(BFloat16ToFloat32(v)))
			} else {
				buf = le.AppendUint16(buf, v)
			}
			if err = flush(false); err != nil {
				return err
			}
		}
	case []int64:
		for _, v := range d {
			buf = le.AppendUint64(buf, uint64(v))
			if err = flush(false); err != nil {
				return err
			}
		}
	case []int32:
		for _, v := range d {
			buf = le.AppendUint32(buf, uint32(v))
			if err = flush(false); err != nil {
				return err
			}
		}
	case []uint8:
		// Already in file layout; no copy needed.
		_, err = w.Write(d)
		return err
	case []bool:
		for _, v := range d {
			var b byte
			if v {
				b = 1
			}
			buf = append(buf, b)
			if err = flush(false); err != nil {
				return err
			}
		}
	}
	return flush(true)
}

// SaveNPY writes t to path in .npy format (see WriteNPY), under the rules
// of every file onnxloss writes: atomically (readers see the old file or the
// complete new one, and an error leaves no partial file behind), never over a
// read-only file or something that is not a regular file, and through a
// symbolic link to its target.
func SaveNPY(path string, t *Tensor) error {
	// Validate before creating anything, so a bad tensor touches no files.
	if err := t.Validate(); err != nil {
		return fmt.Errorf("npy: %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return WriteNPY(w, t) })
}
