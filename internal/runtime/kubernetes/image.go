package kubernetes

import (
	"context"
	"fmt"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime/containerdimage"
)

// CRINamespace is the containerd namespace the CRI plugin (the kubelet's images) uses.
const CRINamespace = "k8s.io"

// importImage puts img into the CRI namespace of the containerd at socket (unless there),
// so pods run it with imagePullPolicy Never and no registry. It returns the image's name.
func importImage(ctx context.Context, socket string, img *image.Image) (string, error) {
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second), containerd.WithDefaultNamespace(CRINamespace))
	if err != nil {
		return "", fmt.Errorf("the node's containerd at %s: %w (is the cluster up? scripts/k8s/cluster.sh up)", socket, err)
	}
	defer c.Close()
	if _, err := containerdimage.Ensure(namespaces.WithNamespace(ctx, CRINamespace), c, img, "overlayfs"); err != nil {
		return "", fmt.Errorf("containerd at %s: %w", socket, err)
	}
	return containerdimage.Ref(img), nil
}
