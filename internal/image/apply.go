package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// What unpacking keeps from an image, and why:
//   - owners, permissions, sticky bits, symbolic links, hard links, FIFOs,
//     modification times and user.* extended attributes: programs need them.
//   - setuid and setgid bits of files are dropped: every benchmark runs as root
//     inside its container or VM, so none needs them, and a setuid-root file is a
//     way up for anyone who can reach it.
//   - file capabilities (security.capability) and other non-user attributes are
//     dropped for the same reason (and trusted.overlay.* would steer overlayfs).
//   - device nodes are skipped: every runtime provides /dev itself (OCI runtimes
//     and engines make their own, the host driver binds the host's /dev, the VM
//     guest agent mounts devtmpfs), so no benchmark reads a device from the image.
const (
	setIDBits    = unix.S_ISUID | unix.S_ISGID
	keptXattrPfx = "user."
	paxXattrPfx  = "SCHILY.xattr."
)

// applier unpacks checked members into a directory through an os.Root, so that no
// operation can leave the tree; the treeChecker has already refused members that
// would write through a symbolic link, so the root never has to follow one.
type applier struct {
	root    *os.Root
	asRoot  bool // owners can be set
	dirs    []dirMeta
	skipped int // device nodes left out
}

// dirMeta is applied after the whole tree is there, so that a read-only
// directory does not block what goes into it and its time stays as archived.
type dirMeta struct {
	path     string
	mode     uint32
	mtime    time.Time
	uid, gid int
}

func newApplier(root *os.Root) *applier {
	return &applier{root: root, asRoot: os.Geteuid() == 0}
}

// apply is a memberVisitor.
func (a *applier) apply(tr *tar.Reader, h *tar.Header, act action) error {
	for _, d := range act.mkdirs {
		if err := a.root.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("making parent directory: %w", err)
		}
	}
	switch act.kind {
	case actIgnore:
		return nil
	case actWhiteout:
		return a.removeAll(act.path)
	case actOpaque:
		for _, p := range act.remove {
			if err := a.removeAll(p); err != nil {
				return err
			}
		}
		return nil
	}
	if act.replace {
		if err := a.removeAll(act.path); err != nil {
			return err
		}
	}
	mode := uint32(h.Mode) & 0o7777
	switch h.Typeflag {
	case tar.TypeDir:
		if act.path != "." {
			if err := a.root.Mkdir(act.path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("making directory: %w", err)
			}
		}
		// A directory's setgid bit only passes its group on; setuid means nothing there.
		a.dirs = append(a.dirs, dirMeta{path: act.path, mode: mode &^ unix.S_ISUID, mtime: h.ModTime, uid: h.Uid, gid: h.Gid})
		return nil
	case tar.TypeReg, tar.TypeGNUSparse:
		return a.file(tr, h, act.path, mode&^setIDBits)
	case tar.TypeSymlink:
		if err := a.root.Symlink(h.Linkname, act.path); err != nil {
			return fmt.Errorf("making symbolic link: %w", err)
		}
		return a.lchown(act.path, h)
	case tar.TypeLink:
		if err := a.root.Link(act.link, act.path); err != nil {
			return fmt.Errorf("making hard link: %w", err)
		}
		return nil
	case tar.TypeFifo:
		return a.fifo(h, act.path, mode&0o777)
	case tar.TypeChar, tar.TypeBlock:
		a.skipped++
		return nil
	}
	return fmt.Errorf("%w: unsupported member type %q", ErrUnsafeContent, string(h.Typeflag))
}

func (a *applier) removeAll(p string) error {
	if err := a.root.RemoveAll(p); err != nil {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	return nil
}

func (a *applier) lchown(p string, h *tar.Header) error {
	if !a.asRoot {
		return nil
	}
	if err := a.root.Lchown(p, h.Uid, h.Gid); err != nil {
		return fmt.Errorf("setting owner: %w", err)
	}
	return nil
}

func (a *applier) file(tr *tar.Reader, h *tar.Header, p string, mode uint32) error {
	f, err := a.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("creating file: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, tr); err != nil {
		return fmt.Errorf("writing file: %w", err)
	}
	if err := a.setMeta(f, h, mode); err != nil {
		return err
	}
	return f.Close()
}

// setMeta sets owner, then mode (a chown clears set-id bits), then extended
// attributes and times, on an open file.
func (a *applier) setMeta(f *os.File, h *tar.Header, mode uint32) error {
	fd := int(f.Fd())
	if a.asRoot {
		if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
			return fmt.Errorf("setting owner: %w", err)
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("setting mode: %w", err)
	}
	for k, v := range h.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattrPfx)
		if !ok || !strings.HasPrefix(name, keptXattrPfx) {
			continue
		}
		if err := unix.Fsetxattr(fd, name, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("setting attribute %s: %w", name, err)
		}
	}
	mt := unix.NsecToTimeval(h.ModTime.UnixNano())
	if err := unix.Futimes(fd, []unix.Timeval{mt, mt}); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

func (a *applier) fifo(h *tar.Header, p string, mode uint32) error {
	dir, err := a.root.Open(path.Dir(p))
	if err != nil {
		return fmt.Errorf("opening parent directory: %w", err)
	}
	defer dir.Close()
	if err := unix.Mknodat(int(dir.Fd()), path.Base(p), unix.S_IFIFO|mode, 0); err != nil {
		return fmt.Errorf("making fifo: %w", err)
	}
	// The umask took bits from mknod's mode; a FIFO is not a link, so this
	// chmod cannot be redirected.
	if err := unix.Fchmodat(int(dir.Fd()), path.Base(p), mode, 0); err != nil {
		return fmt.Errorf("setting fifo mode: %w", err)
	}
	return a.lchown(p, h)
}

// finish sets directory owners, modes and times, last-made first. The
// root directory gets 0755 unless the archive said otherwise.
func (a *applier) finish() error {
	hasRoot := false
	for _, d := range a.dirs {
		if d.path == "." {
			hasRoot = true
		}
	}
	if !hasRoot {
		a.dirs = append([]dirMeta{{path: ".", mode: 0o755, uid: os.Geteuid(), gid: os.Getegid()}}, a.dirs...)
	}
	done := map[string]bool{}
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		if done[d.path] {
			continue // a later layer's entry for the same directory wins
		}
		done[d.path] = true
		f, err := a.root.OpenFile(d.path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue // whited out or replaced by a later layer
		}
		if err != nil {
			return fmt.Errorf("setting directory %s: %w", d.path, err)
		}
		fd := int(f.Fd())
		err = nil
		if a.asRoot {
			err = unix.Fchown(fd, d.uid, d.gid)
		}
		if err == nil {
			err = unix.Fchmod(fd, d.mode)
		}
		if err == nil && !d.mtime.IsZero() {
			mt := unix.NsecToTimeval(d.mtime.UnixNano())
			err = unix.Futimes(fd, []unix.Timeval{mt, mt})
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("setting directory %s: %w", d.path, err)
		}
	}
	return nil
}
