// Package safefile writes files into directories that may hold planted symlinks (a run
// directory received from someone else): it never follows a symlink it did not make.
// Directories below a base are opened component by component with O_NOFOLLOW, and every
// file is written to a fresh temporary name (O_CREAT|O_EXCL|O_NOFOLLOW) in that directory
// and renamed over its final name, which replaces a symlink there instead of writing
// through it.
package safefile

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is an open directory whose files are written without following symlinks.
type Dir struct {
	f    *os.File
	path string
}

// ErrSymlink is returned where a symlink stands in a path isobench writes to.
var ErrSymlink = errors.New("is a symlink (isobench never follows a symlink it did not make)")

// Open opens dir itself, creating it (and its parents, which are the caller's own path)
// if missing, and refusing it when its last component is a symlink.
func Open(dir string, perm os.FileMode) (*Dir, error) {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, perm); err != nil {
		return nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	pf, err := os.Open(parent)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", parent, err)
	}
	defer pf.Close()
	base := filepath.Base(dir)
	if dir == parent {
		base = "."
	}
	return openSub(pf, parent, base, perm)
}

// Sub opens (creating if missing) the subdirectory name of d, refusing a symlink.
func (d *Dir) Sub(name string, perm os.FileMode) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return openSub(d.f, d.path, name, perm)
}

func openSub(parent *os.File, parentPath, name string, perm os.FileMode) (*Dir, error) {
	path := filepath.Join(parentPath, name)
	pfd := int(parent.Fd())
	if name != "." {
		if err := unix.Mkdirat(pfd, name, uint32(perm.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || isSymlinkAt(pfd, name) {
			return nil, fmt.Errorf("refusing %s: it %w", path, ErrSymlink)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

func isSymlinkAt(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// Path is the directory's path as it was opened.
func (d *Dir) Path() string { return d.path }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// checkName allows only a plain name: no separator, not "." or "..".
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.ContainsRune(name, 0) {
		return fmt.Errorf("file name %q is not a plain name", name)
	}
	return nil
}

// Write writes the file name in d through fill: into a new temporary file, renamed over
// name when complete, so a reader never sees half a file and a symlink at name is replaced,
// never written through.
func (d *Dir) Write(name string, perm os.FileMode, fill func(io.Writer) error) (err error) {
	if err := checkName(name); err != nil {
		return err
	}
	path := filepath.Join(d.path, name)
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := "." + name + ".tmp-" + hex.EncodeToString(rnd[:])
	dfd := int(d.f.Fd())
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(d.path, tmp))
	defer func() {
		if err != nil {
			f.Close()
			if rerr := unix.Unlinkat(dfd, tmp, 0); rerr != nil && !errors.Is(rerr, unix.ENOENT) {
				err = errors.Join(err, fmt.Errorf("removing %s: %w", f.Name(), rerr))
			}
		}
	}()
	bw := bufio.NewWriter(f)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := unix.Renameat(dfd, tmp, dfd, name); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteBytes writes data as the file name in d (see Write).
func (d *Dir) WriteBytes(name string, perm os.FileMode, data []byte) error {
	return d.Write(name, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFile writes data as dir/name, refusing a symlink at dir and never following one at
// name (see Write); dir is made if missing.
func WriteFile(dir, name string, data []byte, perm os.FileMode) error {
	d, err := Open(dir, 0o755)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.WriteBytes(name, perm, data)
}

// ReadFile reads the regular file name in d, refusing a symlink there, and refusing a
// file longer than limit bytes. A missing file is an error wrapping os.ErrNotExist.
func (d *Dir) ReadFile(name string, limit int64) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(d.path, name)
	fd, err := unix.Openat(int(d.f.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("reading %s: it %w", path, ErrSymlink)
		}
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("reading %s: %w", path, os.ErrNotExist)
		}
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("reading %s: longer than %d bytes", path, limit)
	}
	return b, nil
}

// RemoveFile removes name from d when it is a regular file. Anything else there (a
// symlink, a directory) or nothing at all is left as it is, and removed is false: the
// caller made a regular file, so anything else is not its own.
func (d *Dir) RemoveFile(name string) (removed bool, err error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	dfd := int(d.f.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("removing %s: %w", filepath.Join(d.path, name), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, nil
	}
	// Should a symlink replace the file in between, unlinkat removes the link itself and
	// never touches its target.
	if err := unix.Unlinkat(dfd, name, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("removing %s: %w", filepath.Join(d.path, name), err)
	}
	return true, nil
}
