package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

func (i *Image) rootfsPath() string {
	return filepath.Join(i.store.rootfsDir(), strings.TrimPrefix(i.Digest, "sha256:"))
}

// RootFS returns the image's unpacked root filesystem, <home>/rootfs/<digest-hex>.
// The first caller (in any process) unpacks it into a temporary directory and
// renames that into place; everyone else waits for it and then reuses the tree.
// Drivers must not write to it: they mount it read-only as an overlay's lower layer.
func (i *Image) RootFS(ctx context.Context) (string, error) {
	dir := i.rootfsPath()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	unlock, err := i.store.lock(ctx, "rootfs-"+strings.TrimPrefix(i.Digest, "sha256:"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil // unpacked by whoever held the lock before us
	}
	img, err := i.V1()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(i.store.rootfsDir(), ".isobench-unpack-")
	if err != nil {
		return "", fmt.Errorf("unpacking image %s: %w", i.Name, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = removeTree(tmp)
		}
	}()
	// MkdirTemp makes 0700; images without a "." entry would keep it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("unpacking image %s: %w", i.Name, err)
	}
	// Extract flattens the layers, applying whiteouts, into one tar stream.
	stream := mutate.Extract(img)
	defer stream.Close()
	if err := unpackTar(ctx, stream, tmp); err != nil {
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
