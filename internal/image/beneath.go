package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Files the store and the importers read by path (an OCI layout's blobs, index
// and marker) are opened one component at a time with O_NOFOLLOW, so a symbolic
// link planted anywhere below the directory is refused rather than followed.

// openBeneath opens the regular file rel below dir for reading, following no
// symbolic link below dir. Anything but a regular file (a link, a FIFO, a device)
// is refused with ErrUnsafeContent.
func openBeneath(dir, rel string) (*os.File, error) {
	fd, err := openDirBeneath(dir, path.Dir(rel))
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
	f, err := unix.Openat(fd, path.Base(rel), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%w: %s is a symbolic link", ErrUnsafeContent, filepath.Join(dir, rel))
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, rel), Err: err}
	}
	file := os.NewFile(uintptr(f), filepath.Join(dir, rel))
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		file.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file (%s)", ErrUnsafeContent, filepath.Join(dir, rel), fi.Mode().Type())
	}
	return file, nil
}

// openDirBeneath opens the directory rel below dir ("." for dir itself) without
// following a symbolic link below dir, and returns its descriptor.
func openDirBeneath(dir, rel string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	sofar := dir
	for _, c := range strings.Split(path.Clean(rel), "/") {
		if c == "." {
			continue
		}
		if c == ".." || c == "" {
			unix.Close(fd)
			return -1, fmt.Errorf("%w: %q leaves %s", ErrUnsafeContent, rel, dir)
		}
		sofar = filepath.Join(sofar, c)
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("%w: %s is a symbolic link or not a directory", ErrUnsafeContent, sofar)
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: sofar, Err: err}
		}
		fd = next
	}
	return fd, nil
}

// readDirBeneath lists the directory rel below dir without following links.
func readDirBeneath(dir, rel string) ([]fs.DirEntry, error) {
	fd, err := openDirBeneath(dir, rel)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, rel))
	defer f.Close()
	return f.ReadDir(-1)
}

// maxMetadataSize bounds JSON files (index.json, manifests, configs) read whole.
const maxMetadataSize = 4 << 20

// copyLayoutDir copies the OCI image layout at src into dst (which exists): its
// oci-layout and index.json files and its sha256 blobs, each a regular file reached
// without following a symbolic link, within b's limits. Importing from the copy
// means nothing in src can change or redirect what is read afterwards.
func copyLayoutDir(ctx context.Context, src, dst string, b *budget) error {
	for _, name := range []string{"oci-layout", "index.json"} {
		if err := copyBeneath(src, name, filepath.Join(dst, name), maxMetadataSize, b); err != nil {
			return err
		}
	}
	entries, err := readDirBeneath(src, "blobs/sha256")
	if errors.Is(err, fs.ErrNotExist) {
		return nil // an empty layout; reading its index says what is missing
	}
	if err != nil {
		return fmt.Errorf("reading OCI layout %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "blobs", "sha256"), 0o700); err != nil {
		return fmt.Errorf("copying OCI layout: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("copying OCI layout: %w", err)
		}
		if !isDigestHex(e.Name()) {
			continue // not a blob; the layout never refers to it
		}
		if err := b.addEntry(); err != nil {
			return err
		}
		rel := "blobs/sha256/" + e.Name()
		if err := copyBeneath(src, rel, filepath.Join(dst, rel), -1, b); err != nil {
			return err
		}
	}
	return nil
}

// copyBeneath copies the regular file rel below dir to dst (a new file), at most
// max bytes when max >= 0, counting the bytes against b.
func copyBeneath(dir, rel, dst string, max int64, b *budget) error {
	in, err := openBeneath(dir, rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w %s: no %s: not an OCI image layout", ErrUnknownFormat, dir, rel)
		}
		return err
	}
	defer in.Close()
	var r io.Reader = b.reader(in)
	if max >= 0 {
		fi, err := in.Stat()
		if err != nil {
			return err
		}
		if fi.Size() > max {
			return fmt.Errorf("%w: %s is %s, more than the %s an OCI layout's %s may be", ErrTooLarge, filepath.Join(dir, rel), FormatBytes(fi.Size()), FormatBytes(max), rel)
		}
		r = io.LimitReader(r, max)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("copying OCI layout: %w", err)
	}
	defer out.Close()
	if _, err := io.Copy(out, r); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("copying %s: %w", filepath.Join(dir, rel), err)
	}
	return out.Close()
}

// unpackLayoutTar extracts an OCI image layout archive into dir. A layout holds
// only directories and regular files, so anything else is refused, as is every
// member name that could leave dir; b bounds what is written.
func unpackLayoutTar(ctx context.Context, r io.Reader, dir string, b *budget) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpacking OCI layout: %w", err)
	}
	defer root.Close()
	tr := tar.NewReader(b.reader(r))
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unpacking OCI layout: %w", err)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return err
			}
			return fmt.Errorf("%w: corrupt or truncated tar after %d members: %v", ErrUnknownFormat, n, err)
		}
		if err := b.addEntry(); err != nil {
			return err
		}
		p, err := memberPath(h.Name)
		if err != nil {
			return unsafeMember(h.Name, err.Error())
		}
		switch h.Typeflag {
		case tar.TypeXGlobalHeader:
		case tar.TypeDir:
			if err := root.MkdirAll(p, 0o700); err != nil {
				return fmt.Errorf("unpacking OCI layout: %w", err)
			}
		case tar.TypeReg:
			if err := b.addFile(h.Size); err != nil {
				return err
			}
			if err := root.MkdirAll(path.Dir(p), 0o700); err != nil {
				return fmt.Errorf("unpacking OCI layout: %w", err)
			}
			f, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return unsafeMember(h.Name, "appears twice")
			}
			if err != nil {
				return fmt.Errorf("unpacking OCI layout: %w", err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				if errors.Is(err, ErrTooLarge) {
					return err
				}
				return fmt.Errorf("unpacking OCI layout member %q: %w", h.Name, err)
			}
		default:
			return unsafeMember(h.Name, fmt.Sprintf("an OCI layout holds only directories and regular files, not type %q", string(h.Typeflag)))
		}
	}
}

func isDigestHex(s string) bool { return len(s) == 64 && isHex(s) }
