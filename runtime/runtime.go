// Package runtime runs ONNX models with ONNX Runtime, through
// github.com/yalue/onnxruntime_go, exchanging tensor.Tensor values.
//
// ONNX Runtime is a shared library loaded at run time, not linked: Init (which
// every other function calls) finds it as LibraryPath describes, checks that
// its C API is new enough (MinVersion), and sets up one process-wide
// environment. scripts/install-onnxruntime.sh installs a verified copy into
// the repository's .cache folder, where it is found without configuration.
//
// A Session holds one model. Its inputs may have symbolic dimensions (batch,
// height, width), so one session serves every batch size and resolution; Run
// checks the given tensors against the model's declared inputs before ONNX
// Runtime sees them, because ONNX Runtime's own messages rarely name the
// offending input. Sessions run on the CPU by default, or on an NVIDIA GPU with
// Options.Provider "cuda".
//
// The package needs cgo. Built with CGO_ENABLED=0 it still compiles, and every
// function returns ErrNoCgo.
//
// The environment variable ONNXLOSS_ORT_LOG (verbose, info, warning, error or
// fatal; default fatal) sets how much ONNX Runtime itself prints to stderr.
// The default is quiet because every ONNX Runtime failure also comes back as
// an error value.
package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/onnxloss/onnxloss/tensor"
)

// MinVersion is the oldest ONNX Runtime release whose library this package can
// load: github.com/yalue/onnxruntime_go v1.27.0 is compiled against the C API
// of 1.24.1 (API version 24), and older libraries do not provide it. Newer
// releases do.
const MinVersion = "1.24.1"

// ErrNoCgo is returned by every function of a binary built without cgo.
var ErrNoCgo = errors.New("this binary was built without cgo; commands that run ONNX Runtime need a cgo build " +
	"(CGO_ENABLED=1 go build ./cmd/onnxloss, with gcc installed)")

// ErrNotFound is wrapped by the error of LibraryPath, Init and everything
// else when ONNX Runtime's shared library is not installed where this package
// looks; the error's text lists those places and how to install it.
var ErrNotFound = errors.New("ONNX Runtime's shared library (libonnxruntime.so.1) was not found")

// ErrClosed is returned by Run on a closed Session.
var ErrClosed = errors.New("runtime: session is closed")

// The execution providers that Options.Provider accepts.
const (
	ProviderCPU  = "cpu"
	ProviderCUDA = "cuda"
)

// Options configures a Session. The zero value runs on the CPU with ONNX
// Runtime's default number of threads and its CPU memory arena, without its
// memory pattern (see MemPattern).
type Options struct {
	// Provider is the execution provider: "cpu" (the default, also meant by
	// "") or "cuda".
	Provider string
	// DeviceID selects the GPU for the "cuda" provider.
	DeviceID int
	// Threads is the number of intra-op threads; 0 leaves ONNX Runtime's
	// default (one per physical core).
	Threads int
	// SkipSymbolCheck leaves out Run's check that dimensions sharing a
	// symbolic name agree across inputs, so that a model's own checks
	// meet such inputs (as they do in runtimes without this check). The
	// other checks of Check still run.
	SkipSymbolCheck bool
	// InitializerInputs opens one ONNX Runtime session that takes every
	// input, those that are also initializers (IOInfo.Optional) included,
	// and requires them in every Run: a training loop that always feeds
	// its parameters then holds one session of the graph instead of two.
	InitializerInputs bool
	// NoArena turns off ONNX Runtime's CPU memory arena: the tensors of a
	// run are allocated from the C library's allocator and given back when
	// they die, instead of from blocks that the session keeps until it is
	// closed. Without the arena every run faults in fresh pages for its
	// large tensors, which on the CPU costs more time than it saves memory
	// (about 3 times the steady time of a loss).
	NoArena bool
	// MemPattern turns on ONNX Runtime's memory pattern, which is off by
	// default here: the plan, recorded on a run and reused on later runs of
	// the same input shapes, that allocates every intermediate tensor in
	// one block. That block comes from the arena on the second run, on top
	// of the blocks the first run left there, so with the pattern a session
	// reaches its steady time on its third run instead of its second and
	// holds a third to a half more memory (1.3 to 1.9 times the peak
	// resident memory of the loss sessions that onnxloss bench measures),
	// for no gain in steady time on the CPU.
	MemPattern bool
	// Profile turns on ONNX Runtime's profiler: every run's nodes are
	// timed, and the trace (JSON, one event per node and run, with its op
	// type, shapes and microseconds) is written when the session is
	// closed, to a file whose name is Profile followed by ONNX Runtime's
	// date and time stamp and ".json".
	Profile string
}

// IOInfo describes one input or output of a model.
type IOInfo struct {
	// Name is the input's or output's name in the graph.
	Name string
	// DType is the element type.
	DType tensor.DType
	// Shape holds the declared dimensions, -1 for those that are symbolic or
	// unknown. It is empty both for a scalar and, with UnknownRank, for a
	// tensor whose model declares no shape.
	Shape []int
	// Symbols holds the symbolic name of each dimension (ONNX's dim_param, such
	// as "N"), or "" for fixed and anonymous ones. It is nil when the model
	// was not inspected for names.
	Symbols []string
	// UnknownRank reports that the model declares no shape at all, so any
	// rank is accepted.
	UnknownRank bool
	// Optional marks an input that is also an initializer of the model (a
	// parameter of a training graph): Run uses the stored value unless the
	// input is given. Such inputs are given all together or not at all.
	// The first run that gives them opens a second ONNX Runtime session of
	// the model, from its file for NewSessionFromFile, which must then still
	// exist.
	Optional bool
}

// ShapeString formats the declared shape with symbolic names, such as
// [N 3 H W]; "?" stands for an anonymous dynamic dimension and "[...]" for an
// unknown rank.
func (io IOInfo) ShapeString() string {
	if io.UnknownRank {
		return "[...]"
	}
	parts := make([]string, len(io.Shape))
	for i, d := range io.Shape {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case i < len(io.Symbols) && io.Symbols[i] != "":
			parts[i] = io.Symbols[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// String describes the input or output, such as "input float32 [N C H W]".
func (io IOInfo) String() string {
	return io.Name + " " + dtypeName(io.DType) + " " + io.ShapeString()
}

// onnxTypeNames names the ONNX element types that tensor.DType lacks, for
// error messages.
var onnxTypeNames = map[tensor.DType]string{
	3: "int8", 4: "uint16", 5: "int16", 8: "string", 12: "uint32", 13: "uint64",
	14: "complex64", 15: "complex128", 17: "float8e4m3fn", 18: "float8e4m3fnuz",
	19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4",
}

func dtypeName(d tensor.DType) string {
	if n, ok := onnxTypeNames[d]; ok {
		return n
	}
	return d.String()
}
