package modelio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/onnxloss/onnxloss/internal/atomicfile"
	"github.com/onnxloss/onnxloss/onnxpb"
)

// OverwriteError reports an output path that would replace the model being
// written from or one of its external data files.
type OverwriteError struct {
	// Path is the output path as given.
	Path string
	// What names the file it would replace.
	What string
}

func (e *OverwriteError) Error() string {
	return fmt.Sprintf("the output %s is %s; write the result to another file", e.Path, e.What)
}

// CheckOutput reports whether path may receive a model derived from lm,
// before any work is done: not the model file itself, not one of its
// external data files, not the place where one of those files must go next
// to it (*OverwriteError); and nothing that atomicfile refuses to replace.
// A model with external data cannot be written through a symbolic link into
// another folder, where its data files would not be found.
func (lm *Model) CheckOutput(path string) error {
	target, _, err := atomicfile.Resolve(path)
	if err != nil {
		return err
	}
	if lm.Path != "" && atomicfile.Same(path, lm.Path) {
		return &OverwriteError{Path: path, What: "the model being read (" + lm.Path + ")"}
	}
	outDir := filepath.Dir(path)
	for _, f := range lm.External {
		if f.path != "" && atomicfile.Same(path, f.path) {
			return &OverwriteError{Path: path, What: fmt.Sprintf("the model's external data file %q", f.Location)}
		}
		if atomicfile.Same(path, filepath.Join(outDir, localPath(f.Location))) {
			return &OverwriteError{Path: path, What: fmt.Sprintf("where the model's external data file %q goes", f.Location)}
		}
	}
	if len(lm.External) > 0 && atomicfile.Canonical(filepath.Dir(target)) != atomicfile.Canonical(outDir) {
		return fmt.Errorf("%s is a symbolic link to %s in another folder, where the model's external data files would not be found; "+
			"write to the link's target instead", path, target)
	}
	return nil
}

// WriteModel writes m, a model derived from lm (for example by Append), to
// path atomically, after CheckOutput. When lm keeps weights in external
// data files, those files are first copied next to path under the same
// relative locations (streamed, never held in memory, and never hard-linked:
// a later change to either copy must not reach the other). A data file
// already at the destination is kept when it is the same file or has the
// same content, and is an error otherwise; a destination that would lie
// outside path's folder through a symbolic link is an error too. On failure
// nothing new is left behind.
func (lm *Model) WriteModel(path string, m *onnxpb.ModelProto) error {
	if err := lm.CheckOutput(path); err != nil {
		return err
	}
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	var undo func()
	if len(lm.External) > 0 {
		if lm.Path == "" {
			return errors.New("the model keeps weights in external data but was not read from a file, so the data cannot be found")
		}
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		undo, err = placeExternal(lm, filepath.Dir(path))
		if err != nil {
			return err
		}
	}
	if err := WriteFile(path, b); err != nil {
		if undo != nil {
			undo()
		}
		return err
	}
	return nil
}

// placeExternal makes the model's external data files available under dir.
// undo removes the files and folders it created.
func placeExternal(lm *Model, dir string) (_ func(), err error) {
	var created []string // files and folders, in creation order
	undo := func() {
		for i := len(created) - 1; i >= 0; i-- {
			os.Remove(created[i])
		}
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	root := atomicfile.Canonical(dir)
	for _, f := range lm.External {
		if f.path == "" {
			return nil, fmt.Errorf("external data %q was not found when the model was read", f.Location)
		}
		dst := filepath.Join(dir, localPath(f.Location))
		made, err := placeFile(f.path, dst, root)
		created = append(created, made...)
		if err != nil {
			return nil, fmt.Errorf("external data %q: %w", f.Location, err)
		}
	}
	return undo, nil
}

// placeFile makes dst hold the content of src, creating the folders above
// it; every folder must resolve inside root. made lists what it created.
func placeFile(src, dst, root string) (made []string, err error) {
	si, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if di, err := os.Stat(dst); err == nil {
		if os.SameFile(si, di) {
			return nil, nil
		}
		if !di.Mode().IsRegular() {
			return nil, fmt.Errorf("%s exists and is not a regular file", dst)
		}
		same, err := sameContent(src, dst)
		if err != nil {
			return nil, err
		}
		if !same {
			return nil, fmt.Errorf("%s already exists with other content; write the model to another folder or remove that file", dst)
		}
		return nil, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if _, err := os.Lstat(dst); err == nil {
		return nil, fmt.Errorf("%s is a symbolic link to a file that does not exist; remove it", dst)
	}
	// Folders: each one that exists must resolve inside root, so that a
	// link in the output folder cannot send the data elsewhere.
	var missing []string
	for d := filepath.Dir(dst); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			if !within(atomicfile.Canonical(d), []string{root}) {
				return nil, fmt.Errorf("%s leads outside the output folder through a symbolic link", d)
			}
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return made, err
		}
		made = append(made, missing[i])
	}
	if err := copyFile(src, dst); err != nil {
		return made, err
	}
	return append(made, dst), nil
}

// copyFile copies src to a new file dst. io.Copy between files lets the
// kernel copy without passing the data through user space.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Create(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// sameContent compares two files chunk by chunk.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}
