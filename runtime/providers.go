//go:build cgo

package runtime

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/onnxpb"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"
)

// The libraries that ONNX Runtime's CUDA build loads from the folder of its
// core library. The npm package onnxruntime-node ships only the core library.
var cudaProviderLibs = []string{"libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"}

var providers = []string{ProviderCPU, ProviderCUDA}

// provider returns the canonical provider name, or an error listing the valid
// ones.
func (o Options) provider() (string, error) {
	p := strings.ToLower(strings.TrimSpace(o.Provider))
	if p == "" {
		return ProviderCPU, nil
	}
	for _, v := range providers {
		if p == v {
			return p, nil
		}
	}
	return "", fmt.Errorf("runtime: unknown execution provider %q (valid: %s)", o.Provider, strings.Join(providers, ", "))
}

func (o Options) validate() (string, error) {
	p, err := o.provider()
	if err != nil {
		return "", err
	}
	if o.Threads < 0 {
		return "", fmt.Errorf("runtime: Options.Threads is %d; want 0 (ONNX Runtime's default) or more", o.Threads)
	}
	if o.DeviceID < 0 {
		return "", fmt.Errorf("runtime: Options.DeviceID is %d; want a GPU index, 0 or more", o.DeviceID)
	}
	return p, nil
}

// newSessionOptions makes session options for a validated provider name.
// The caller destroys them.
func newSessionOptions(provider string, opts Options) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("runtime: creating session options: %w", err)
	}
	if opts.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("runtime: setting %d intra-op threads: %w", opts.Threads, err)
		}
	}
	if opts.Profile != "" {
		if err := so.EnableProfiling(opts.Profile); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("runtime: turning on the profiler: %w", err)
		}
	}
	if opts.NoArena {
		if err := so.SetCpuMemArena(false); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("runtime: turning off the CPU memory arena: %w", err)
		}
	}
	if !opts.MemPattern {
		if err := so.SetMemPattern(false); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("runtime: turning off the memory pattern: %w", err)
		}
	}
	if provider == ProviderCUDA {
		if err := appendCUDA(so, opts.DeviceID); err != nil {
			so.Destroy()
			return nil, err
		}
	}
	return so, nil
}

func appendCUDA(so *ort.SessionOptions, deviceID int) error {
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return cudaError(err, deviceID)
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{"device_id": strconv.Itoa(deviceID)}); err != nil {
		return cudaError(err, deviceID)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return cudaError(err, deviceID)
	}
	return nil
}

// cudaError explains what the CUDA provider needs, because ONNX Runtime's
// message ("Failed to load shared library") names neither the files nor the
// folder.
func cudaError(err error, deviceID int) error {
	lib, _ := LibraryPath()
	dir := filepath.Dir(lib)
	var missing []string
	for _, n := range cudaProviderLibs {
		if !isFile(filepath.Join(dir, n)) {
			missing = append(missing, n)
		}
	}
	version, _ := Version()
	var b strings.Builder
	fmt.Fprintf(&b, "runtime: the CUDA execution provider (device %d) is not available: ", deviceID)
	if len(missing) > 0 {
		fmt.Fprintf(&b, "%s missing from %s. ", strings.Join(missing, " and "), dir)
	}
	fmt.Fprintf(&b, "The CUDA provider needs libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so "+
		"from the CUDA build of exactly ONNX Runtime %s, next to the core library %s (the npm package onnxruntime-node ships only the core library), "+
		"a CUDA runtime and cuDNN of the versions that build expects, and an NVIDIA GPU (ONNX Runtime said: %v)", version, lib, err)
	return &wrapped{msg: b.String(), err: err}
}

// ProviderAvailable reports whether sessions can run on the named execution
// provider ("cpu" or "cuda"): nil if so, else an error that says what is
// missing. It configures the provider and opens a one-node model with it,
// which for CUDA loads the provider libraries and selects GPU 0; tests and
// commands use it to decide whether to try a GPU at all.
func ProviderAvailable(name string) (err error) {
	defer recoverError(&err)
	p, err := Options{Provider: name}.provider()
	if err != nil {
		return err
	}
	if err := Init(); err != nil {
		return err
	}
	so, err := newSessionOptions(p, Options{})
	if err != nil {
		return err
	}
	defer so.Destroy()
	probe, err := identityModel()
	if err != nil {
		return fmt.Errorf("runtime: encoding the probe model: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(probe, []string{"x"}, []string{"y"}, so)
	if err != nil {
		if p == ProviderCUDA {
			return cudaError(err, 0)
		}
		return fmt.Errorf("runtime: opening a model on the %s provider: %w", p, err)
	}
	s.Destroy()
	return nil
}

// identityModel returns a serialized ONNX model, y = Identity(x) with x and y
// float32 [1].
func identityModel() ([]byte, error) {
	valueInfo := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{
				Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}}}}}}}}
	}
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:   proto.String("onnxloss_probe"),
			Node:   []*onnxpb.NodeProto{{OpType: proto.String("Identity"), Input: []string{"x"}, Output: []string{"y"}}},
			Input:  []*onnxpb.ValueInfoProto{valueInfo("x")},
			Output: []*onnxpb.ValueInfoProto{valueInfo("y")},
		},
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// recoverError turns a panic (onnxruntime_go panics on some misuse) into an
// error, so that none crosses the package boundary.
func recoverError(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("runtime: internal error: %v", r)
	}
}
