// Package image keeps benchmark images as OCI image layouts in a content-addressed
// cache, builds the default image with debootstrap, imports images from other
// formats, and unpacks an image's root filesystem for the drivers.
package image

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// EnvHome names the environment variable that moves isobench's cache and state.
const EnvHome = "ISOBENCH_HOME"

// DefaultHome is where isobench keeps images and state unless told otherwise.
const DefaultHome = "/var/lib/isobench"

// DefaultName is the name of the image `isobench image build` makes.
const DefaultName = "default"

// Home returns the cache directory: flag value if set, else $ISOBENCH_HOME, else DefaultHome.
func Home(flag string) string {
	if flag != "" {
		return flag
	}
	if v := os.Getenv(EnvHome); v != "" {
		return v
	}
	return DefaultHome
}

// Image is one image in the store.
type Image struct {
	// Name is the image's name in the store ("default", or what import was given).
	Name string `json:"name"`
	// Digest is the manifest digest, "sha256:...".
	Digest string `json:"digest"`
	// Source says where it came from ("debootstrap bookworm recipe sha256:...", "docker-archive FILE", ...).
	Source string `json:"source"`
	// Recipe is the build recipe hash of built images, empty for imported ones.
	Recipe  string    `json:"recipe,omitempty"`
	Created time.Time `json:"created"`
	// Size is the compressed size of its layers in bytes.
	Size int64 `json:"size"`
	// Unpacked and Entries are what its layers hold uncompressed, as counted when
	// it was stored; unpacking allows no more. Zero when the store did not record them.
	Unpacked int64 `json:"unpacked,omitempty"`
	Entries  int64 `json:"entries,omitempty"`

	store *Store
}

// LayoutPath is the OCI image layout directory that holds the image.
func (i *Image) LayoutPath() string { return i.store.layoutDir() }

// V1 opens the image from the store's layout. The layout reader opens blobs by
// path, so every blob the image refers to is checked first to be a regular file,
// not a link that something planted in the store.
func (i *Image) V1() (v1.Image, error) {
	h, err := v1.NewHash(i.Digest)
	if err != nil {
		return nil, fmt.Errorf("opening image %s: %w", i.Name, err)
	}
	if err := i.store.checkBlobFile(h); err != nil {
		return nil, fmt.Errorf("opening image %s: %w", i.Name, err)
	}
	img, err := i.store.layout().Image(h)
	if err != nil {
		return nil, fmt.Errorf("opening image %s from %s: %w", i.Name, i.LayoutPath(), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("opening image %s from %s: %w", i.Name, i.LayoutPath(), err)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if err := i.store.checkBlobFile(d.Digest); err != nil {
			return nil, fmt.Errorf("opening image %s: %w", i.Name, err)
		}
	}
	return img, nil
}

// DockerTag is the tag WriteDockerArchive uses when given none: the name and the
// first digest digits, so that engines hold one tag per image version.
func (i *Image) DockerTag() string {
	return "isobench-" + i.Name + ":" + i.shortHex()
}

func (i *Image) shortHex() string {
	h := strings.TrimPrefix(i.Digest, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// ShortDigest is the first 12 hex digits of the digest, for tables.
func (i *Image) ShortDigest() string { return i.shortHex() }

// WriteDockerArchive writes the image as a `docker save` archive (for `docker load`
// and `podman load`) tagged tag, or DockerTag() when tag is empty.
func (i *Image) WriteDockerArchive(w io.Writer, tag string) error {
	if tag == "" {
		tag = i.DockerTag()
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("writing image %s as docker archive: bad tag %q: %w", i.Name, tag, err)
	}
	img, err := i.V1()
	if err != nil {
		return err
	}
	if err := tarball.Write(ref, img, w); err != nil {
		return fmt.Errorf("writing image %s as docker archive: %w", i.Name, err)
	}
	return nil
}
