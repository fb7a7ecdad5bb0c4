package modelio

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/internal/atomicfile"
	"github.com/onnxloss/onnxloss/onnxpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxSize is the largest model file Load reads. Protocol buffers
// cannot encode a message of 2 GiB or more, so larger models keep their
// weights in external data files and the .onnx file itself stays small.
const MaxSize = 1<<31 - 1

// Model is a model read by Load or Parse. Tensors stored as
// external data keep their references (location, offset, length): the data
// files are never read into memory.
type Model struct {
	// Proto is the decoded model.
	Proto *onnxpb.ModelProto
	// Path is the file the model was read from, or "" for Parse.
	Path string
	// Size is the size of the model file (or of the parsed bytes).
	Size int64
	// External lists the external data files the model's tensors refer to,
	// ordered by location.
	External []ExternalFile
}

// ExternalFile is one external data file of a model.
type ExternalFile struct {
	// Location is the file's path relative to the model's folder, as the
	// model writes it.
	Location string `json:"location"`
	// Tensors counts the tensors stored in the file.
	Tensors int `json:"tensors"`
	// Bytes is the number of bytes those tensors take (their lengths).
	Bytes int64 `json:"bytes"`
	// Size is the file's size on disk, or -1 when the model was parsed from
	// bytes and the file was not looked at.
	Size int64 `json:"size"`

	// path is the file with every symbolic link resolved; "" for a model
	// parsed from bytes.
	path string
}

// ExternalBytes returns the total size of the model's external data
// (saturating at the largest int64 for absurd declared lengths).
func (lm *Model) ExternalBytes() int64 {
	var n int64
	for _, f := range lm.External {
		n = addSat(n, max(f.Bytes, f.Size))
	}
	return n
}

// addSat adds two non-negative sizes, saturating at the largest int64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Load reads an ONNX model file. It fails with an error (never a panic)
// on a file that is not a valid ONNX model, is truncated, is 2 GiB or more,
// or whose external data references are unsafe or do not match the data
// files: a location must be a relative path inside the model's folder (no
// absolute path, no ".."); the file must exist, be a regular file, and stay
// inside the model's folder once symbolic links are resolved (in the file
// and every folder above it; the folder of the model file's own link target
// counts as the model's folder too, as in a download cache that links every
// file of a model to its content store); and every tensor's offset and
// length must lie within it.
func Load(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("reading model %s: not a regular file", path)
	}
	if st.Size() > MaxSize {
		return nil, fmt.Errorf("reading model %s: the file is %d bytes; protocol buffers cannot hold a model of 2 GiB or more, "+
			"so a model that large must keep its weights in external data (onnx.save_model(..., save_as_external_data=True))", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	lm, err := parse(b, path)
	if err != nil {
		return nil, fmt.Errorf("reading model %s: %w", path, err)
	}
	lm.Path = path
	return lm, nil
}

// Parse decodes a serialized ONNX model. External data references are
// checked for safety (relative paths inside the model's folder) but the files
// are not looked for, since bytes have no folder.
func Parse(b []byte) (*Model, error) {
	lm, err := parse(b, "")
	if err != nil {
		return nil, fmt.Errorf("reading model: %w", err)
	}
	return lm, nil
}

// parse decodes a model read from path ("" for bytes without a file).
func parse(b []byte, path string) (*Model, error) {
	if len(b) == 0 {
		return nil, errors.New("the file is empty")
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("the model is %d bytes; protocol buffers cannot hold 2 GiB or more", len(b))
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("not a valid ONNX model (truncated or corrupt?): %w", err)
	}
	if m.Graph == nil {
		return nil, errors.New("not an ONNX model: it has no graph")
	}
	if m.GetIrVersion() <= 0 {
		return nil, errors.New("not an ONNX model: it has no ir_version")
	}
	lm := &Model{Proto: m, Size: int64(len(b))}
	ext, err := externalFiles(m, path)
	if err != nil {
		return nil, err
	}
	lm.External = ext
	return lm, nil
}

// externalRef is one tensor's external data reference.
type externalRef struct {
	location       string
	offset, length int64
	hasLength      bool
}

// externalFiles checks every external data reference of m and groups them
// by file. For a model read from a file, the data files are looked at too.
func externalFiles(m *onnxpb.ModelProto, modelPath string) ([]ExternalFile, error) {
	files := map[string]*ExternalFile{}
	var refs []externalRef
	err := eachTensor(m.ProtoReflect(), func(t *onnxpb.TensorProto) error {
		ref, ok, err := externalOf(t)
		if err != nil || !ok {
			return err
		}
		refs = append(refs, ref)
		f := files[ref.location]
		if f == nil {
			f = &ExternalFile{Location: ref.location, Size: -1}
			files[ref.location] = f
		}
		f.Tensors++
		f.Bytes = addSat(f.Bytes, ref.length)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if modelPath != "" {
		roots := modelFolders(modelPath)
		for _, f := range files {
			if err := f.find(modelPath, roots); err != nil {
				return nil, err
			}
		}
		for _, r := range refs {
			size := files[r.location].Size
			if r.offset > size || (r.hasLength && r.length > size-r.offset) {
				return nil, fmt.Errorf("external data file %q is %d bytes, but a tensor lies at offset %d with length %d (is the file truncated?)",
					r.location, size, r.offset, r.length)
			}
		}
	}
	out := make([]ExternalFile, 0, len(files))
	for _, f := range files {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Location < out[j].Location })
	return out, nil
}

// localPath turns a location into a path relative to the model's folder.
// Only the slash is a separator, as for ONNX Runtime on this system (a
// backslash is part of a name except on Windows, where FromSlash makes
// both separators).
func localPath(loc string) string { return filepath.FromSlash(loc) }

// modelFolders returns the folders an external data file may resolve into:
// the model's folder with its symbolic links resolved and, when the model
// file is itself a link, the folder of its target.
func modelFolders(modelPath string) []string {
	roots := []string{atomicfile.Canonical(filepath.Dir(modelPath))}
	if real, err := filepath.EvalSymlinks(modelPath); err == nil {
		if d := atomicfile.Canonical(filepath.Dir(real)); d != roots[0] {
			roots = append(roots, d)
		}
	}
	return roots
}

// within reports whether path lies inside one of the folders.
func within(path string, folders []string) bool {
	for _, d := range folders {
		if rel, err := filepath.Rel(d, path); err == nil && filepath.IsLocal(rel) {
			return true
		}
	}
	return false
}

// find looks for the external data file next to the model at modelPath:
// it must be a regular file that, links resolved, stays inside roots.
func (f *ExternalFile) find(modelPath string, roots []string) error {
	p := filepath.Join(filepath.Dir(modelPath), localPath(f.Location))
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("external data file %q: %w", f.Location, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("external data file %q is not a regular file", f.Location)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("external data file %q: %w", f.Location, err)
	}
	real = atomicfile.Canonical(real)
	if !within(real, roots) {
		return fmt.Errorf("external data file %q is a symbolic link (or lies under one) to %s, outside the model's folder; "+
			"copy the data next to the model", f.Location, real)
	}
	f.Size, f.path = st.Size(), real
	return nil
}

// externalOf reads a tensor's external data reference; ok is false for a
// tensor that holds its data.
func externalOf(t *onnxpb.TensorProto) (ref externalRef, ok bool, err error) {
	if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
		if len(t.GetExternalData()) > 0 {
			return ref, false, fmt.Errorf("tensor %q has external_data entries but data_location is not EXTERNAL", t.GetName())
		}
		return ref, false, nil
	}
	seen := map[string]bool{}
	for _, kv := range t.GetExternalData() {
		k, v := kv.GetKey(), kv.GetValue()
		if seen[k] {
			return ref, false, fmt.Errorf("tensor %q: external_data key %q given twice", t.GetName(), k)
		}
		seen[k] = true
		switch k {
		case "location":
			if err := checkLocation(v); err != nil {
				return ref, false, fmt.Errorf("tensor %q: %w", t.GetName(), err)
			}
			ref.location = v
		case "offset", "length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return ref, false, fmt.Errorf("tensor %q: external data %s %q is not a non-negative integer", t.GetName(), k, v)
			}
			if k == "offset" {
				ref.offset = n
			} else {
				ref.length, ref.hasLength = n, true
			}
		}
	}
	if ref.location == "" {
		return ref, false, fmt.Errorf("tensor %q is stored externally but has no location", t.GetName())
	}
	return ref, true, nil
}

// checkLocation accepts only relative paths that stay inside the model's
// folder. Backslashes count as separators, as they do on Windows, where the
// file may have been written.
func checkLocation(loc string) error {
	if loc == "" {
		return errors.New("external data location is empty")
	}
	if strings.ContainsRune(loc, 0) {
		return fmt.Errorf("external data location %q contains a NUL byte", loc)
	}
	slashed := strings.ReplaceAll(loc, `\`, "/")
	if strings.HasPrefix(slashed, "/") || (len(slashed) >= 2 && slashed[1] == ':') {
		return fmt.Errorf("external data location %q is an absolute path; it must be relative to the model's folder", loc)
	}
	for _, part := range strings.Split(slashed, "/") {
		if part == ".." {
			return fmt.Errorf("external data location %q leaves the model's folder", loc)
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(slashed)) {
		return fmt.Errorf("external data location %q is not a path inside the model's folder", loc)
	}
	return nil
}

// eachTensor calls fn on every TensorProto in the message tree: initializers,
// sparse initializers, Constant values and other tensor attributes, nested
// graphs, functions and training information.
func eachTensor(m protoreflect.Message, fn func(*onnxpb.TensorProto) error) error {
	if t, ok := m.Interface().(*onnxpb.TensorProto); ok {
		return fn(t)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = eachTensor(l.Get(i).Message(), fn)
			}
		} else {
			err = eachTensor(v.Message(), fn)
		}
		return err == nil
	})
	return err
}
