// Package overlay gives each container its own writable layer over the image's shared,
// read-only root filesystem, so no container changes what the next one sees.
package overlay

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mount mounts an overlay of lower at dir/rootfs, with its upper and work directories in
// dir. It returns the mounted path.
func Mount(lower, dir string) (string, error) {
	target := filepath.Join(dir, "rootfs")
	upper := filepath.Join(dir, "upper")
	work := filepath.Join(dir, "work")
	for _, d := range []string{target, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("making overlay directory: %w", err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return target, nil
}
