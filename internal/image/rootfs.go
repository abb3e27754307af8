package image

import (
	"context"
	"errors"
	"fmt"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// unpackVersion names the unpacking rules (apply.go). Trees are kept under names
// that carry it, so a tree unpacked under older rules (which kept setuid bits and
// device nodes, and did not check digests) is never reused: it is removed once
// nothing mounts it.
const unpackVersion = "2"

// unpackPrefix starts the names of trees being unpacked.
const unpackPrefix = ".unpack-"

// treeName is the name of an image's unpacked tree in <home>/rootfs.
func treeName(digest string) string {
	return strings.TrimPrefix(digest, "sha256:") + ".v" + unpackVersion
}

func (i *Image) rootfsPath() string {
	return filepath.Join(i.store.rootfsDir(), treeName(i.Digest))
}

// RootFS returns the image's unpacked root filesystem, <home>/rootfs/<digest-hex>.v2.
// The first caller (in any process) unpacks it into a temporary directory and
// renames that into place; everyone else waits for it and then reuses the tree.
// Unpacking checks every layer blob against its digest and diff ID again (the
// tree is only ever made from verified content), refuses unsafe members, keeps
// within the sizes recorded when the image was stored, and leaves out what
// apply.go says. Drivers must not write to it: they mount it read-only as an
// overlay's lower layer.
func (i *Image) RootFS(ctx context.Context) (_ string, err error) {
	dir := i.rootfsPath()
	if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
		return dir, nil
	}
	hex := strings.TrimPrefix(i.Digest, "sha256:")
	unlock, err := i.store.lock(ctx, "rootfs-"+hex)
	if err != nil {
		return "", err
	}
	defer unlock()
	if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
		return dir, nil // unpacked by whoever held the lock before us
	} else if err == nil {
		return "", fmt.Errorf("unpacking image %s: %s is not a directory: remove it", i.Name, dir)
	}
	img, err := i.V1()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(i.store.rootfsDir(), unpackPrefix+hex+"-")
	if err != nil {
		return "", fmt.Errorf("unpacking image %s: %w", i.Name, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			if rerr := removeTree(tmp); rerr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up a failed unpack: %w", rerr))
			}
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return "", fmt.Errorf("unpacking image %s: %w", i.Name, err)
	}
	defer root.Close()
	lim, recorded := i.store.Limits, false
	if i.Unpacked > 0 && i.Entries > 0 {
		lim, recorded = Limits{MaxBytes: i.Unpacked, MaxEntries: i.Entries}, true
	}
	a := newApplier(root)
	want, err := v1.NewHash(i.Digest)
	if err != nil {
		return "", fmt.Errorf("unpacking image %s: %w", i.Name, err)
	}
	if _, err := readImage(ctx, img, layerSource{openBlob: i.store.openBlob, manifest: want, recorded: recorded}, lim, a.apply); err != nil {
		return "", fmt.Errorf("unpacking image %s: %w", i.Name, err)
	}
	if err := a.finish(); err != nil {
		return "", fmt.Errorf("unpacking image %s: %w", i.Name, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("unpacking image %s: moving tree into place: %w", i.Name, err)
	}
	renamed = true
	return dir, nil
}

// toolDirs are where HasTool looks, in PATH order.
var toolDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// HasTool reports whether the image has an executable file called name in one of
// the usual PATH directories. Symbolic links are followed inside the image's tree,
// never out to the host's.
func (i *Image) HasTool(ctx context.Context, name string) (bool, error) {
	if name == "" || strings.Contains(name, "/") {
		return false, fmt.Errorf("looking for tool %q: want a bare command name", name)
	}
	root, err := i.RootFS(ctx)
	if err != nil {
		return false, err
	}
	for _, dir := range toolDirs {
		p, err := resolveIn(root, path.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("looking for %s in image %s: %w", name, i.Name, err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return true, nil
		}
	}
	return false, nil
}

// resolveIn resolves the absolute in-image path name inside the tree at root, as
// if root were "/": absolute symlinks restart at root and ".." stops at root. It
// returns the host path of the final, non-symlink file.
func resolveIn(root, name string) (string, error) {
	const maxLinks = 40
	links := 0
	var done []string // resolved components so far, without symlinks
	todo := strings.Split(strings.Trim(path.Clean("/"+name), "/"), "/")
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		host := filepath.Join(append([]string{root}, append(done, c)...)...)
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("resolving %s: too many symbolic links", name)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return filepath.Join(append([]string{root}, done...)...), nil
}
