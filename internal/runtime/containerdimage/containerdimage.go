// Package containerdimage puts an isobench image into a containerd namespace, as the
// containerd driver and the kubernetes driver's node both need it: loaded from the
// image's docker archive unless already there, unpacked for a snapshotter.
package containerdimage

import (
	"context"
	"fmt"
	"io"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/isobench/isobench/internal/image"
)

// Ref is containerd's name for img: one per image version.
func Ref(img *image.Image) string {
	return "docker.io/isobench/" + img.Name + ":" + img.ShortDigest()
}

// Ensure imports img into the namespace of ctx unless it is there, and unpacks it with
// snapshotter unless it is unpacked.
func Ensure(ctx context.Context, c *containerd.Client, img *image.Image, snapshotter string) (containerd.Image, error) {
	ref := Ref(img)
	cimg, err := c.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(img.WriteDockerArchive(pw, "isobench/"+img.Name+":"+img.ShortDigest())) }()
		imgs, ierr := c.Import(ctx, pr, containerd.WithIndexName(ref))
		pr.CloseWithError(ierr)
		if ierr != nil {
			return nil, fmt.Errorf("importing %s: %w", ref, ierr)
		}
		if len(imgs) == 0 {
			return nil, fmt.Errorf("importing %s: no image in the archive", ref)
		}
		cimg, err = c.GetImage(ctx, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if ok, err := cimg.IsUnpacked(ctx, snapshotter); err != nil || !ok {
		if err := cimg.Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("unpacking %s with %s: %w", ref, snapshotter, err)
		}
	}
	return cimg, nil
}
