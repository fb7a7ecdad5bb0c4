//go:build cgo

package runtime

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// clearLibEnv unsets every variable that steers discovery.
func clearLibEnv(t *testing.T) {
	t.Helper()
	for _, v := range append(libEnvVars, "ONNXLOSS_ORT_VERSION") {
		t.Setenv(v, "")
	}
}

func TestFindLibraryEnv(t *testing.T) {
	clearLibEnv(t)
	dir := t.TempDir()
	lib := filepath.Join(dir, "libonnxruntime.so.1")
	if err := os.WriteFile(lib, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ONNXLOSS_ORT_LIB", lib)
	if p, err := findLibrary(); err != nil || p != lib {
		t.Errorf("with ONNXLOSS_ORT_LIB: %q, %v; want %q", p, err, lib)
	}

	t.Setenv("ONNXLOSS_ORT_LIB", "")
	t.Setenv("ONNXRUNTIME_SHARED_LIBRARY_PATH", lib)
	if p, err := findLibrary(); err != nil || p != lib {
		t.Errorf("with ONNXRUNTIME_SHARED_LIBRARY_PATH: %q, %v; want %q", p, err, lib)
	}

	// A bad explicit setting is an error, not a reason to look elsewhere.
	t.Setenv("ONNXLOSS_ORT_LIB", filepath.Join(dir, "nope.so"))
	_, err := findLibrary()
	wantErr(t, err, "ONNXLOSS_ORT_LIB="+filepath.Join(dir, "nope.so"), "no such file", "unset it")
	t.Setenv("ONNXLOSS_ORT_LIB", dir)
	_, err = findLibrary()
	wantErr(t, err, "is a folder", lib)
}

func TestFindLibraryProjectCache(t *testing.T) {
	clearLibEnv(t)
	root := t.TempDir()
	for _, v := range []string{"1.30.0", "1.24.1", "1.9.0", ".install-onnxruntime.abc"} {
		dir := filepath.Join(root, ".cache", "onnxruntime", v)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, libName), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	want := func(version string) string {
		return filepath.Join(root, ".cache", "onnxruntime", version, libName)
	}
	if p, err := findLibrary(); err != nil || p != want("1.24.1") {
		t.Errorf("found %q, %v; want the default version from two folders up, %q", p, err, want("1.24.1"))
	}
	t.Setenv("ONNXLOSS_ORT_VERSION", "1.30.0")
	if p, err := findLibrary(); err != nil || p != want("1.30.0") {
		t.Errorf("with ONNXLOSS_ORT_VERSION=1.30.0 found %q, %v", p, err)
	}
	if err := os.Remove(want("1.24.1")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ONNXLOSS_ORT_VERSION", "")
	if p, err := findLibrary(); err != nil || p != want("1.30.0") {
		t.Errorf("without the default version found %q, %v; want the newest, 1.30.0", p, err)
	}
}

func TestFindLibraryUserCache(t *testing.T) {
	clearLibEnv(t)
	t.Chdir(t.TempDir())
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	dir := filepath.Join(cache, "onnxloss", "onnxruntime", "1.25.0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, libName)
	if err := os.WriteFile(lib, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := findLibrary(); err != nil || p != lib {
		t.Errorf("found %q, %v; want %q", p, err, lib)
	}
}

func TestFindLibraryNotFound(t *testing.T) {
	clearLibEnv(t)
	t.Chdir(t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	p, err := findLibrary()
	if err == nil {
		if strings.HasPrefix(p, "/usr/") || strings.HasPrefix(p, "/lib") {
			t.Skipf("this system has ONNX Runtime installed at %s", p)
		}
		t.Fatalf("found %q in an empty setting", p)
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error does not wrap ErrNotFound: %v", err)
	}
	wantErr(t, err, "scripts/install-onnxruntime.sh", "export ONNXLOSS_ORT_LIB=/path/to/libonnxruntime.so.1",
		"/usr/local/lib", "ldconfig", filepath.Join(os.Getenv("XDG_CACHE_HOME"), "onnxloss", "onnxruntime"), MinVersion)
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.24.1", "1.24.1", 0},
		{"1.24.10", "1.24.9", 1},
		{"1.9.0", "1.24.1", -1},
		{"1.24", "1.24.1", -1},
		{"1.24.1-rc1", "1.24.1", -1},
		{"2.0.0", "1.99.99", 1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := compareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestParseLdconfig(t *testing.T) {
	out := []byte(`1234 libs found in cache ` + "`/etc/ld.so.cache'" + `
	libonnxruntime_providers_shared.so (libc6,x86-64) => /opt/ort/libonnxruntime_providers_shared.so
	libonnxruntime.so (libc6,x86-64) => /opt/ort/libonnxruntime.so
	libonnxruntime.so.1 (libc6,x86-64) => /opt/ort/libonnxruntime.so.1
	libm.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libm.so.6
`)
	if got := parseLdconfig(out); got != "/opt/ort/libonnxruntime.so.1" {
		t.Errorf("parseLdconfig = %q", got)
	}
	if got := parseLdconfig([]byte("\tlibm.so.6 (libc6,x86-64) => /lib/libm.so.6\n")); got != "" {
		t.Errorf("parseLdconfig without ONNX Runtime = %q", got)
	}
}

// runHelper runs this test binary as the helper program of TestMain with the
// given environment changes, in a fresh process where Init has not run.
func runHelper(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=init", "ONNXLOSS_ORT_LIB=", "ONNXRUNTIME_SHARED_LIBRARY_PATH=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	return string(out)
}

func TestInitWithEnv(t *testing.T) {
	requireORT(t)
	lib, err := LibraryPath()
	if err != nil {
		t.Fatal(err)
	}
	// A link in another folder shows that the variable, not the search, chose it.
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.Symlink(lib, other); err != nil {
		t.Fatal(err)
	}
	for _, name := range libEnvVars {
		out := runHelper(t, name+"="+other)
		for _, want := range []string{"path=" + other + "\n", "init-error=<nil>", "loaded=" + other + "\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: helper output lacks %q:\n%s", name, want, out)
			}
		}
	}
}

func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "libonnxruntime.so.1")
	if err := os.WriteFile(text, []byte("not a library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, lib string
		want      []string
	}{
		{"missing", filepath.Join(dir, "missing.so"), []string{"init-error=runtime: ONNXLOSS_ORT_LIB=" + filepath.Join(dir, "missing.so"), "no such file"}},
		{"not a library", text, []string{"init-error=runtime: cannot load ONNX Runtime's shared library " + text}},
		{"not ONNX Runtime", "/lib/x86_64-linux-gnu/libm.so.6", []string{"is not ONNX Runtime's shared library", "OrtGetApiBase"}},
		{"too old", fakeOldLibrary(t, dir), []string{"ONNX Runtime 1.22.0 at", "is too old", "needs ONNX Runtime " + MinVersion + " or newer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runHelper(t, "ONNXLOSS_ORT_LIB="+tc.lib)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("helper output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestInitNotFound(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), helperEnv+"=init", "ONNXLOSS_ORT_LIB=", "ONNXRUNTIME_SHARED_LIBRARY_PATH=",
		"XDG_CACHE_HOME="+dir, "ONNXLOSS_ORT_VERSION=")
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if strings.Contains(out, "init-error=<nil>") {
		t.Skipf("ONNX Runtime is installed on this system:\n%s", out)
	}
	for _, w := range []string{"notfound=true", "scripts/install-onnxruntime.sh", "export ONNXLOSS_ORT_LIB="} {
		if !strings.Contains(out, w) {
			t.Errorf("helper output lacks %q:\n%s", w, out)
		}
	}
}

// fakeOldLibrary compiles, with the C compiler cgo uses, a shared library
// that answers OrtGetApiBase as ONNX Runtime 1.22.0 does: its version
// string, and no API table for the newer C API version onnxruntime_go asks
// for.
func fakeOldLibrary(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "fake_ort.c")
	lib := filepath.Join(dir, "old", "libonnxruntime.so.1")
	code := `#include <stdint.h>
#include <stddef.h>
typedef struct { const void *(*GetApi)(uint32_t); const char *(*GetVersionString)(void); } OrtApiBase;
static const int table = 0;
static const void *get_api(uint32_t v) { return v <= 22 ? (const void *)&table : NULL; }
static const char *version(void) { return "1.22.0"; }
static const OrtApiBase base = {get_api, version};
const OrtApiBase *OrtGetApiBase(void) { return &base; }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("compiling a fake ONNX Runtime 1.22.0: %v\n%s", err, out)
	}
	return lib
}
