//go:build cgo

package runtime

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	libName = "libonnxruntime.so.1"
	// defaultVersion is what scripts/install-onnxruntime.sh installs without
	// --version: preferred among several cached versions because it is the
	// one onnxruntime_go v1.27.0 was written for.
	defaultVersion = "1.24.1"
)

// The environment variables that name the library, in order of precedence.
// The second is the one onnxruntime_go's own tests read.
var libEnvVars = []string{"ONNXLOSS_ORT_LIB", "ONNXRUNTIME_SHARED_LIBRARY_PATH"}

// LibraryPath returns the path of the ONNX Runtime shared library that Init
// loads (or has loaded). It looks, in order, at:
//
//  1. $ONNXLOSS_ORT_LIB, then $ONNXRUNTIME_SHARED_LIBRARY_PATH: a file path;
//     when set, nothing else is searched.
//  2. The project cache .cache/onnxruntime/<version>/libonnxruntime.so.1,
//     where scripts/install-onnxruntime.sh puts it, in the current folder and
//     every folder above it, then next to the executable (and above it); also
//     libonnxruntime.so.1 right next to the executable.
//  3. The user cache: $XDG_CACHE_HOME/onnxloss/onnxruntime/<version>/ or
//     ~/.cache/onnxloss/onnxruntime/<version>/.
//  4. The system: libonnxruntime.so* in /usr/local/lib, /usr/lib,
//     /usr/lib/<arch>-linux-gnu and /usr/lib64, then what `ldconfig -p` lists.
//
// Among several versions in a cache, $ONNXLOSS_ORT_VERSION picks one;
// without it 1.24.1 is preferred, then the newest. When nothing is found the
// error wraps ErrNotFound and says where it looked and how to install the
// library.
func LibraryPath() (string, error) {
	if loaded, ok := loadedLibrary(); ok {
		return loaded, nil
	}
	return findLibrary()
}

func findLibrary() (string, error) {
	for _, name := range libEnvVars {
		p := os.Getenv(name)
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			return "", fmt.Errorf("runtime: %s=%s: %w; point it at ONNX Runtime's shared library (%s, version %s or newer) or unset it",
				name, p, errors.Unwrap(err), libName, MinVersion)
		case fi.IsDir():
			return "", fmt.Errorf("runtime: %s=%s is a folder; point it at the library file in it, such as %s",
				name, p, filepath.Join(p, libName))
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p, nil
	}

	want := strings.TrimSpace(os.Getenv("ONNXLOSS_ORT_VERSION"))
	var looked []string
	cacheDir := filepath.Join(".cache", "onnxruntime")
	if wd, err := os.Getwd(); err == nil {
		if p := walkUp(wd, cacheDir, want); p != "" {
			return p, nil
		}
		looked = append(looked, fmt.Sprintf("%s/<version>/ in %s and every folder above it", cacheDir, wd))
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir := filepath.Dir(exe)
		if p := filepath.Join(dir, libName); isFile(p) {
			return p, nil
		}
		if p := walkUp(dir, cacheDir, want); p != "" {
			return p, nil
		}
		looked = append(looked, fmt.Sprintf("%s and %s/<version>/ next to the executable, in %s and above",
			libName, cacheDir, dir))
	}
	if ucd, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(ucd, "onnxloss", "onnxruntime")
		if p := pickVersion(dir, want); p != "" {
			return p, nil
		}
		looked = append(looked, dir+"/<version>/")
	}
	sys := systemDirs()
	for _, dir := range sys {
		if p := systemLibrary(dir); p != "" {
			return p, nil
		}
	}
	looked = append(looked, "libonnxruntime.so* in "+strings.Join(sys, ", "))
	if p := ldconfigLibrary(); p != "" {
		return p, nil
	}
	looked = append(looked, "the dynamic linker's cache (ldconfig -p)")
	return "", notFoundError(looked, want)
}

func notFoundError(looked []string, want string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "runtime: %v", ErrNotFound)
	if want != "" {
		fmt.Fprintf(&b, " (version %s, from $ONNXLOSS_ORT_VERSION)", want)
	}
	fmt.Fprintf(&b, ".\nLooked at $%s and $%s (not set), then:\n", libEnvVars[0], libEnvVars[1])
	for _, l := range looked {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	b.WriteString("To fix it, either:\n")
	version := defaultVersion
	if want != "" {
		version = want // the script reads $ONNXLOSS_ORT_VERSION too
	}
	fmt.Fprintf(&b, "  run scripts/install-onnxruntime.sh in a checkout of onnxloss (it installs ONNX Runtime %s into .cache/onnxruntime/), or\n", version)
	fmt.Fprintf(&b, "  export %s=/path/to/%s (ONNX Runtime %s or newer for linux/%s)", libEnvVars[0], libName, MinVersion, goruntime.GOARCH)
	return &wrapped{msg: b.String(), err: ErrNotFound}
}

// wrapped is an error with its own text that still matches err with errors.Is.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// walkUp looks for a cached library under start/rel, then in the same place
// in every parent folder.
func walkUp(start, rel, want string) string {
	for dir := start; ; {
		if p := pickVersion(filepath.Join(dir, rel), want); p != "" {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// pickVersion returns the library in cache/<version>/: the wanted version if
// one is named, else defaultVersion, else the newest.
func pickVersion(cache, want string) string {
	if want != "" {
		if p := filepath.Join(cache, want, libName); isFile(p) {
			return p
		}
		return ""
	}
	entries, err := os.ReadDir(cache)
	if err != nil {
		return ""
	}
	var versions []string
	for _, e := range entries {
		// Skip the install script's staging folders.
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			versions = append(versions, e.Name())
		}
	}
	sort.Slice(versions, func(i, j int) bool {
		vi, vj := versions[i], versions[j]
		if (vi == defaultVersion) != (vj == defaultVersion) {
			return vi == defaultVersion
		}
		return compareVersions(vi, vj) > 0
	})
	for _, v := range versions {
		if p := filepath.Join(cache, v, libName); isFile(p) {
			return p
		}
	}
	return ""
}

func systemDirs() []string {
	dirs := []string{"/usr/local/lib", "/usr/lib"}
	switch goruntime.GOARCH {
	case "amd64":
		dirs = append(dirs, "/usr/lib/x86_64-linux-gnu")
	case "arm64":
		dirs = append(dirs, "/usr/lib/aarch64-linux-gnu")
	}
	return append(dirs, "/usr/lib64")
}

// systemLibrary prefers the names a dynamic linker would use, then the most
// specific versioned file.
func systemLibrary(dir string) string {
	for _, n := range []string{libName, "libonnxruntime.so"} {
		if p := filepath.Join(dir, n); isFile(p) {
			return p
		}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "libonnxruntime.so.*"))
	sort.Slice(matches, func(i, j int) bool {
		return compareVersions(strings.TrimPrefix(filepath.Base(matches[i]), "libonnxruntime.so."),
			strings.TrimPrefix(filepath.Base(matches[j]), "libonnxruntime.so.")) > 0
	})
	for _, p := range matches {
		if isFile(p) {
			return p
		}
	}
	return ""
}

// ldconfigLibrary asks the dynamic linker's cache, which also covers folders
// configured in /etc/ld.so.conf.d.
func ldconfigLibrary() string {
	bin, err := exec.LookPath("ldconfig")
	if err != nil {
		for _, p := range []string{"/sbin/ldconfig", "/usr/sbin/ldconfig"} {
			if isFile(p) {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-p").Output()
	if err != nil {
		return ""
	}
	return parseLdconfig(out)
}

// parseLdconfig picks libonnxruntime from `ldconfig -p` output, whose lines
// look like "\tlibonnxruntime.so.1 (libc6,x86-64) => /usr/lib/libonnxruntime.so.1".
func parseLdconfig(out []byte) string {
	var found []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "libonnxruntime.so") {
			continue
		}
		_, p, ok := strings.Cut(line, "=>")
		if !ok {
			continue
		}
		p = strings.TrimSpace(p)
		if filepath.Base(p) == libName {
			return p
		}
		found = append(found, p)
	}
	if len(found) > 0 {
		return found[0]
	}
	return ""
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// compareVersions compares dotted version strings numerically ("1.24.10" >
// "1.24.9"); a pre-release suffix sorts before the release, and a part that is
// not a number compares as text.
func compareVersions(a, b string) int {
	a, aPre, _ := strings.Cut(a, "-")
	b, bPre, _ := strings.Cut(b, "-")
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case x == y:
			continue
		case xerr == nil && yerr == nil:
			return cmp.Compare(xn, yn)
		case x == "":
			return -1
		case y == "":
			return 1
		default:
			return strings.Compare(x, y)
		}
	}
	switch {
	case aPre == bPre:
		return 0
	case aPre == "":
		return 1
	case bPre == "":
		return -1
	}
	return strings.Compare(aPre, bPre)
}
