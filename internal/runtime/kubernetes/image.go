package kubernetes

import (
	"context"
	"fmt"
	"io"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/isobench/isobench/internal/image"
)

// CRINamespace is the containerd namespace the CRI plugin (the kubelet's images) uses.
const CRINamespace = "k8s.io"

// ImageRef is the name of img in the node's containerd.
func ImageRef(img *image.Image) string {
	return "docker.io/isobench/" + img.Name + ":" + img.ShortDigest()
}

// importImage puts img into the CRI namespace of the containerd at socket (unless there),
// so pods run it with imagePullPolicy Never and no registry.
func importImage(ctx context.Context, socket string, img *image.Image) (string, error) {
	ref := ImageRef(img)
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second), containerd.WithDefaultNamespace(CRINamespace))
	if err != nil {
		return "", fmt.Errorf("the node's containerd at %s: %w (is the cluster up? scripts/k8s/cluster.sh up)", socket, err)
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, CRINamespace)
	cimg, err := c.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(img.WriteDockerArchive(pw, "isobench/"+img.Name+":"+img.ShortDigest())) }()
		imgs, ierr := c.Import(ctx, pr, containerd.WithIndexName(ref))
		pr.CloseWithError(ierr)
		if ierr != nil {
			return "", fmt.Errorf("importing %s into containerd at %s: %w", ref, socket, ierr)
		}
		if len(imgs) == 0 {
			return "", fmt.Errorf("importing %s into containerd at %s: no image in the archive", ref, socket)
		}
		cimg, err = c.GetImage(ctx, ref)
	}
	if err != nil {
		return "", fmt.Errorf("image %s in containerd at %s: %w", ref, socket, err)
	}
	if ok, err := cimg.IsUnpacked(ctx, "overlayfs"); err != nil || !ok {
		if err := cimg.Unpack(ctx, "overlayfs"); err != nil {
			return "", fmt.Errorf("unpacking %s in containerd at %s: %w", ref, socket, err)
		}
	}
	return ref, nil
}
