// Package mounts reads this process's mount table (through moby/sys/mountinfo) and takes
// down what isobench mounted.
package mounts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Mount is one entry of the mount table.
type Mount = mountinfo.Info

// All is the whole mount table, in the kernel's order (later mounts later).
func All() ([]*Mount, error) {
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	return ms, nil
}

// Under lists the mount points at or below dir, deepest (latest) first.
func Under(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	ms, err := All()
	if err != nil {
		return nil, err
	}
	var out []string
	for i := len(ms) - 1; i >= 0; i-- {
		if Within(ms[i].Mountpoint, dir) {
			out = append(out, ms[i].Mountpoint)
		}
	}
	return out, nil
}

// Within tells whether path is dir or below it.
func Within(path, dir string) bool {
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

// under is Under; tests replace it to make the mount table unreadable.
var under = Under

// UnmountAll lazily unmounts every mount at or below dir, deepest first, then removes
// dir. It refuses to remove a tree whose mounts it could not read, or where a mount is
// left: removing files through a mount would delete what is mounted (an image's rootfs).
// It is safe to call when nothing is mounted or dir is gone.
func UnmountAll(dir string) error {
	points, err := under(dir)
	if err != nil {
		return fmt.Errorf("not removing %s: %w", dir, err)
	}
	var errs []error
	for _, m := range points {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("not removing %s: %w", dir, errors.Join(errs...))
	}
	left, err := under(dir)
	if err != nil {
		return fmt.Errorf("not removing %s: %w", dir, err)
	}
	if len(left) > 0 {
		return fmt.Errorf("not removing %s: %s is still mounted", dir, left[0])
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}
