//go:build unix

package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// onlyFiles fails when dir holds anything but the named entries (a
// temporary file left behind, say).
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteNewAndReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.bin")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o644 || read(t, p) != "one" {
		t.Fatalf("new file: %v, %v", st.Mode(), err)
	}
	// Replacing keeps the old file's mode.
	for _, mode := range []fs.FileMode{0o600, 0o755, 0o200} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(p, []byte("two")); err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != mode {
			t.Errorf("replaced a %v file; the new one has %v", mode, st.Mode().Perm())
		}
	}
	onlyFiles(t, dir, "a.bin")
}

func TestWriteFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.bin")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte(strings.Repeat("x", 1<<20)))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	if read(t, p) != "old" {
		t.Error("a failed write changed the file")
	}
	onlyFiles(t, dir, "a.bin")
	// A failure before the file exists leaves nothing.
	if err := Write(filepath.Join(dir, "b.bin"), func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Error(err)
	}
	onlyFiles(t, dir, "a.bin")
}

func TestWriteRefusesReadOnly(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ro.bin")
	if err := os.WriteFile(p, []byte("keep"), 0o444); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(p, []byte("new"))
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only file: %v", err)
	}
	if read(t, p) != "keep" {
		t.Error("the read-only file was replaced")
	}
	onlyFiles(t, dir, "ro.bin")
}

func TestWriteRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sub, fifo} {
		err := WriteFile(p, []byte("x"))
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: %v, want ErrNotRegular", p, err)
		}
		if st, err := os.Lstat(p); err != nil || st.Mode().IsRegular() {
			t.Errorf("%s was replaced", p)
		}
	}
	onlyFiles(t, dir, "pipe", "sub")
}

// TestWriteRefusesDevNull needs root: only root may rename over /dev/null,
// which is the mistake this guards against.
func TestWriteRefusesDevNull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root could replace /dev/null")
	}
	err := WriteFile("/dev/null", []byte("x"))
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a device") {
		t.Errorf("/dev/null: %v", err)
	}
	st, err := os.Stat("/dev/null")
	if err != nil || st.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a device: %v %v", st.Mode(), err)
	}
	if err := Create("/dev/null", func(io.Writer) error { return nil }); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create /dev/null: %v", err)
	}
}

func TestWriteFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "data", "real.bin")
	if err := os.Mkdir(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// link → link2 → data/real.bin, relative links.
	if err := os.Symlink("data/real.bin", filepath.Join(dir, "link2")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("link2", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v", err)
	}
	if read(t, real) != "new" {
		t.Error("the link's target was not written")
	}
	if st, _ := os.Stat(real); st.Mode().Perm() != 0o600 {
		t.Errorf("target mode %v, want 0600", st.Mode().Perm())
	}
	onlyFiles(t, dir, "data", "link", "link2")
	onlyFiles(t, filepath.Dir(real), "real.bin")

	// A link to a read-only file is refused like the file.
	os.Chmod(real, 0o444)
	if err := WriteFile(link, []byte("x")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("link to a read-only file: %v", err)
	}
	// A dangling link is refused and creates nothing.
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("nowhere/file.bin", dangling); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dangling, []byte("x")); !errors.Is(err, ErrDanglingLink) {
		t.Errorf("dangling link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("writing through a dangling link created its target")
	}
	// A link to a device is refused like the device.
	devLink := filepath.Join(dir, "null")
	if err := os.Symlink("/dev/null", devLink); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(devLink, []byte("x")); !errors.Is(err, ErrNotRegular) {
		t.Errorf("link to /dev/null: %v", err)
	}
}

func TestWriteKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	p := filepath.Join(t.TempDir(), "theirs.bin")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 4321 || s.Gid != 4322 {
		t.Errorf("owner %d:%d, want 4321:4322", s.Uid, s.Gid)
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "new.bin")
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	if err := Create(p, write("first")); err != nil {
		t.Fatal(err)
	}
	if err := Create(p, write("second")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over a file: %v", err)
	}
	if read(t, p) != "first" {
		t.Error("Create replaced a file")
	}
	// The name taken while the content is written: still no replacement.
	q := filepath.Join(dir, "race.bin")
	err := Create(q, func(w io.Writer) error {
		if err := os.WriteFile(q, []byte("theirs"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := io.WriteString(w, "mine")
		return err
	})
	if !errors.Is(err, fs.ErrExist) || read(t, q) != "theirs" {
		t.Errorf("Create raced: %v, file %q", err, read(t, q))
	}
	if err := Create(filepath.Join(dir, "failed.bin"), func(io.Writer) error { return errors.New("boom") }); err == nil {
		t.Error("a failing writer gave no error")
	}
	onlyFiles(t, dir, "new.bin", "race.bin")
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
}

// TestRemoveTemporary checks that the temporary file of a write in
// progress is removed on request (as when a signal ends the program), and
// that the write then fails without touching the old file.
func TestRemoveTemporary(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.bin")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	err := Write(p, func(w io.Writer) error {
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			t.Errorf("no temporary file while writing: %v", entries)
		}
		RemoveTemporary()
		onlyFiles(t, dir, "a.bin")
		_, err := io.WriteString(w, "new")
		return err
	})
	if err == nil {
		t.Error("the write succeeded after its temporary file was removed")
	}
	if read(t, p) != "old" {
		t.Error("the old file changed")
	}
	onlyFiles(t, dir, "a.bin")
}
