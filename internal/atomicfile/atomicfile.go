// Package atomicfile writes files so that nothing is lost, half written or
// silently replaced: every file onnxloss writes (models, external data,
// .npy tensors, golden files) goes through it.
//
// The rules, for a path that already exists:
//
//   - A regular file is replaced atomically: the new content goes to a
//     temporary file in the same folder, which is synced and renamed over
//     the old one, so a reader sees the old file or the complete new one and
//     a failure leaves the old file as it was and no temporary file behind.
//     The new file keeps the old one's permission bits (and, where the
//     process may set them, its owner and group).
//   - A read-only file (no write permission bit set, whoever the process
//     runs as) is refused, not replaced: ErrReadOnly.
//   - Anything that is not a regular file (a device such as /dev/null, a
//     named pipe, a socket, a folder) is refused: ErrNotRegular. A rename
//     would replace the device node itself, so onnxloss never writes
//     through to one; write to standard output instead where a command
//     offers it.
//   - A symbolic link is followed: its final target is written atomically
//     under the rules above and the link itself is kept. A link whose
//     target does not exist is refused (ErrDanglingLink) rather than
//     creating a file wherever it points.
//
// A new file is created with permissions 0644.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// The refusals. Errors returned by this package wrap one of these when the
// path exists and is not something it may replace.
var (
	// ErrNotRegular: the path is a device, named pipe, socket or folder.
	ErrNotRegular = errors.New("not a regular file")
	// ErrReadOnly: the path is a regular file without write permission.
	ErrReadOnly = errors.New("the file is read-only")
	// ErrDanglingLink: the path is a symbolic link to nothing.
	ErrDanglingLink = errors.New("a symbolic link to a file that does not exist")
)

// newFileMode is the mode of a file that did not exist before.
const newFileMode fs.FileMode = 0o644

// WriteFile writes data to path under the package's rules.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path's content with what fn writes, under the package's
// rules. fn writes to a buffered temporary file; when fn or anything after
// it fails, the temporary file is removed and path is untouched.
func Write(path string, fn func(w io.Writer) error) error {
	target, old, err := Resolve(path)
	if err != nil {
		return err
	}
	mode := newFileMode
	if old != nil {
		mode = old.Mode().Perm()
	}
	tmp, err := writeTemp(target, mode, old, fn)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer inFlight.done(tmp)
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	syncDir(filepath.Dir(target))
	return nil
}

// Create writes a new file at path with what fn writes. It never replaces
// anything: when path exists, or comes to exist while fn runs, it fails with
// an error that wraps fs.ErrExist and leaves what is there untouched. The
// file appears complete or not at all.
func Create(path string, fn func(w io.Writer) error) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("writing %s: %w", path, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := writeTemp(path, newFileMode, nil, fn)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer inFlight.done(tmp)
	defer os.Remove(tmp)
	// A hard link, unlike a rename, fails when the name is taken.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("writing %s: %w", path, fs.ErrExist)
		}
		// File systems without hard links: the name was free a moment ago.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("writing %s: %w", path, fs.ErrExist)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	syncDir(filepath.Dir(path))
	return nil
}

// Resolve returns the file that writing path would replace: path itself, or
// the final target of a symbolic link, with its current FileInfo (nil when
// nothing exists there yet). It returns an error wrapping ErrNotRegular,
// ErrReadOnly or ErrDanglingLink when the package refuses to write there.
func Resolve(path string) (target string, old fs.FileInfo, err error) {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path, nil, nil
	case err != nil:
		return "", nil, fmt.Errorf("writing %s: %w", path, err)
	}
	target = path
	if st.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", nil, fmt.Errorf("writing %s: %w; create the target first or remove the link", path, ErrDanglingLink)
			}
			return "", nil, fmt.Errorf("writing %s: %w", path, err)
		}
		if st, err = os.Stat(target); err != nil {
			return "", nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if !st.Mode().IsRegular() {
		return "", nil, fmt.Errorf("writing %s: %w (it is %s); onnxloss only replaces regular files", path, ErrNotRegular, kind(st.Mode()))
	}
	if st.Mode().Perm()&0o222 == 0 {
		return "", nil, fmt.Errorf("writing %s: %w (mode %v); make it writable or write elsewhere", path, ErrReadOnly, st.Mode().Perm())
	}
	if err := checkWritable(target); err != nil {
		return "", nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return target, st, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeCharDevice != 0, m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// writeTemp writes fn's output to a new temporary file next to target,
// syncs and closes it, and returns its name. On error nothing is left.
func writeTemp(target string, mode fs.FileMode, old fs.FileInfo, fn func(w io.Writer) error) (name string, err error) {
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return "", err
	}
	inFlight.add(f.Name())
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			inFlight.done(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err = fn(bw); err != nil {
		return "", err
	}
	if err = bw.Flush(); err != nil {
		return "", err
	}
	// CreateTemp makes the file private (0600).
	if err = f.Chmod(mode); err != nil {
		return "", err
	}
	if old != nil {
		keepOwner(f, old)
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes a rename in dir durable. Not every file system supports
// syncing a folder and the data itself is already synced, so a failure is
// not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Same reports whether the paths a and b name the same file: the same path
// once symbolic links (in the file and every folder above it) are resolved,
// or, for files that exist, the same file on disk (hard links included). A
// path that does not exist yet is compared by its resolved folder and name.
func Same(a, b string) bool {
	if Canonical(a) == Canonical(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// Canonical returns path made absolute with every symbolic link resolved.
// For a path that does not exist, the longest part that does is resolved
// and the rest is appended as written (cleaned).
func Canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	rest := ""
	for p := abs; ; {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return abs
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// inFlight holds the temporary files being written, for RemoveTemporary.
var inFlight = &tempFiles{names: map[string]bool{}}

type tempFiles struct {
	mu    sync.Mutex
	names map[string]bool
}

func (t *tempFiles) add(name string) {
	t.mu.Lock()
	t.names[name] = true
	t.mu.Unlock()
}

func (t *tempFiles) done(name string) {
	t.mu.Lock()
	delete(t.names, name)
	t.mu.Unlock()
}

// RemoveTemporary removes the temporary files of the writes in progress. A
// program calls it when a signal ends it in the middle of a write, so that
// no temporary file outlives it; the files being replaced stay as they were.
func RemoveTemporary() {
	inFlight.mu.Lock()
	defer inFlight.mu.Unlock()
	for name := range inFlight.names {
		os.Remove(name)
		delete(inFlight.names, name)
	}
}
