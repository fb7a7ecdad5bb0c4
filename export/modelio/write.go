package modelio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnxloss/onnxloss/onnxpb"
)

// WriteModel writes m, a model derived from lm (for example by Append), to
// path atomically. When lm keeps weights in external data files, those files
// are placed next to path first, under the same relative locations: hard
// linked where the file system allows and copied otherwise (streamed, never
// held in memory). A data file already at the destination is kept when its
// content is identical and is an error otherwise. On failure nothing new is
// left behind.
func (lm *Model) WriteModel(path string, m *onnxpb.ModelProto) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	var created []string
	if len(lm.External) > 0 {
		if lm.Path == "" {
			return errors.New("the model keeps weights in external data but was not read from a file, so the data cannot be found")
		}
		created, err = placeExternal(lm, filepath.Dir(path))
		if err != nil {
			return err
		}
	}
	if err := WriteFile(path, b); err != nil {
		for _, p := range created {
			os.Remove(p)
		}
		return err
	}
	return nil
}

// placeExternal makes the model's external data files available under dir
// and returns the files it created.
func placeExternal(lm *Model, dir string) (created []string, err error) {
	srcDir := filepath.Dir(lm.Path)
	defer func() {
		if err != nil {
			for _, p := range created {
				os.Remove(p)
			}
			created = nil
		}
	}()
	for _, f := range lm.External {
		rel := filepath.FromSlash(strings.ReplaceAll(f.Location, `\`, "/"))
		src, dst := filepath.Join(srcDir, rel), filepath.Join(dir, rel)
		made, err := placeFile(src, dst)
		if err != nil {
			return created, fmt.Errorf("external data %q: %w", f.Location, err)
		}
		if made {
			created = append(created, dst)
		}
	}
	return created, nil
}

// placeFile makes dst hold the content of src; made reports whether dst is
// new.
func placeFile(src, dst string) (made bool, err error) {
	si, err := os.Stat(src)
	if err != nil {
		return false, err
	}
	if di, err := os.Stat(dst); err == nil {
		if os.SameFile(si, di) {
			return false, nil
		}
		same, err := sameContent(src, dst)
		if err != nil {
			return false, err
		}
		if !same {
			return false, fmt.Errorf("%s already exists with other content; write the model to another folder or remove that file", dst)
		}
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	if err := os.Link(src, dst); err == nil {
		return true, nil
	}
	return true, copyFile(src, dst)
}

// copyFile copies src to dst through a temporary file renamed into place, so
// dst never holds part of the data.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	if _, err = io.Copy(out, in); err != nil {
		return err
	}
	if err = out.Chmod(0o644); err != nil {
		return err
	}
	if err = out.Sync(); err != nil {
		return err
	}
	if err = out.Close(); err != nil {
		return err
	}
	return os.Rename(out.Name(), dst)
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
