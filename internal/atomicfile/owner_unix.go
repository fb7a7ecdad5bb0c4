//go:build unix

package atomicfile

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of the file it replaces, where the
// process may (root may; others may at most change the group to one of
// theirs). Failing that, the new file belongs to the process, as any new
// file would.
func keepOwner(f *os.File, old fs.FileInfo) {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
		f.Chown(int(st.Uid), int(st.Gid))
	}
}

// checkWritable asks the kernel whether the process may write path: a file
// with write bits for others only, owned by someone else, is not the
// process's to replace even when its folder would allow the rename.
func checkWritable(path string) error {
	const wOK = 2 // W_OK
	if err := syscall.Access(path, wOK); err != nil {
		return &fs.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}
