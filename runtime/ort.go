//go:build cgo

package runtime

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// The two members of ONNX Runtime's OrtApiBase. The C API promises that this
// struct never changes, so declaring it here avoids depending on a header
// that must match the library.
typedef struct {
	const void *(*GetApi)(uint32_t version);
	const char *(*GetVersionString)(void);
} onnxloss_ort_api_base;

typedef const onnxloss_ort_api_base *(*onnxloss_get_api_base_fn)(void);

// onnxloss_probe loads the library at path and reports its version string and
// whether it provides C API version api. It returns 0 when the library is an
// ONNX Runtime library; the library then stays loaded when the API is there,
// since onnxruntime_go loads it next anyway. Other results: 1 dlopen failed,
// 2 no OrtGetApiBase, 3 OrtGetApiBase returned NULL; err holds the reason.
static int onnxloss_probe(const char *path, uint32_t api, char *version, size_t vlen,
                          int *api_ok, char *err, size_t errlen) {
	void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "unknown dlopen error");
		return 1;
	}
	onnxloss_get_api_base_fn fn = (onnxloss_get_api_base_fn)dlsym(h, "OrtGetApiBase");
	if (!fn) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "no symbol OrtGetApiBase");
		dlclose(h);
		return 2;
	}
	const onnxloss_ort_api_base *base = fn();
	if (!base) {
		snprintf(err, errlen, "OrtGetApiBase returned NULL");
		dlclose(h);
		return 3;
	}
	const char *v = base->GetVersionString ? base->GetVersionString() : NULL;
	snprintf(version, vlen, "%s", v ? v : "");
	*api_ok = base->GetApi != NULL && base->GetApi(api) != NULL;
	if (!*api_ok) {
		dlclose(h);
	}
	return 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// apiVersion is ORT_API_VERSION in the header that onnxruntime_go v1.27.0 is
// compiled with; it moves with MinVersion when go.mod updates the bindings.
const apiVersion = 24

var (
	initOnce    sync.Once
	initErr     error
	initVersion string
	loadedPath  atomic.Pointer[string]
)

// Init loads ONNX Runtime's shared library (found as LibraryPath says) and
// creates the process-wide ONNX Runtime environment. Only the first call does
// the work; it is safe for concurrent use, and later calls return the first
// call's result. Every other function of the package calls it, so calling it
// directly is only needed to report a missing library early.
//
// A library older than MinVersion gives an error that names its version and
// the version needed.
func Init() error {
	initOnce.Do(func() { initErr = initialize() })
	return initErr
}

// loadedLibrary returns the library that Init loaded, if any. LibraryPath
// uses it so that the answer stays true after the environment changes.
func loadedLibrary() (string, bool) {
	if p := loadedPath.Load(); p != nil {
		return *p, true
	}
	return "", false
}

func initialize() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runtime: initialising ONNX Runtime: internal error: %v", r)
		}
	}()
	if ort.IsInitialized() {
		// Someone in this process set up onnxruntime_go already; share it.
		initVersion = ort.GetVersion()
		return nil
	}
	path, err := findLibrary()
	if err != nil {
		return err
	}
	version, err := probe(path)
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(logLevel()); err != nil {
		return fmt.Errorf("runtime: initialising ONNX Runtime %s from %s: %w", version, path, err)
	}
	initVersion = version
	loadedPath.Store(&path)
	return nil
}

// probe checks that path is an ONNX Runtime library with the C API that
// onnxruntime_go needs, and returns its version. Doing this before
// onnxruntime_go loads the library turns its "Error setting ORT API base: 2"
// into a message that names both versions.
func probe(path string) (string, error) {
	cPath := C.CString(path)
	defer C.free(unsafe.Pointer(cPath))
	var version, reason [512]C.char
	var apiOK C.int
	rc := C.onnxloss_probe(cPath, C.uint32_t(apiVersion), &version[0], C.size_t(len(version)), &apiOK, &reason[0], C.size_t(len(reason)))
	v := C.GoString(&version[0])
	why := C.GoString(&reason[0])
	switch rc {
	case 0:
	case 1:
		hint := ""
		if strings.Contains(why, "GLIBC") {
			hint = " (the library needs a newer C or C++ runtime than this system has)"
		}
		return "", fmt.Errorf("runtime: cannot load ONNX Runtime's shared library %s: %s%s", path, why, hint)
	default:
		return "", fmt.Errorf("runtime: %s is not ONNX Runtime's shared library: %s", path, why)
	}
	if apiOK == 0 {
		return v, fmt.Errorf("runtime: ONNX Runtime %s at %s is too old: github.com/yalue/onnxruntime_go v1.27.0 needs ONNX Runtime %s or newer (C API version %d); install one with scripts/install-onnxruntime.sh or point ONNXLOSS_ORT_LIB at a newer library",
			v, path, MinVersion, apiVersion)
	}
	return v, nil
}

func logLevel() ort.EnvironmentOption {
	switch strings.ToLower(os.Getenv("ONNXLOSS_ORT_LOG")) {
	case "verbose":
		return ort.WithLogLevelVerbose()
	case "info":
		return ort.WithLogLevelInfo()
	case "warning":
		return ort.WithLogLevelWarning()
	case "error":
		return ort.WithLogLevelError()
	}
	return ort.WithLogLevelFatal()
}

// Version returns the version of the loaded ONNX Runtime library, such as
// "1.24.1", calling Init first.
func Version() (string, error) {
	if err := Init(); err != nil {
		return "", err
	}
	return initVersion, nil
}
