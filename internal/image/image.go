// Package image keeps benchmark images as OCI image layouts in a content-addressed
// cache, builds the default image with debootstrap, imports images from other
// formats, and unpacks an image's root filesystem for the drivers.
package image

import (
	"os"
	"time"
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
	Source  string    `json:"source"`
	Created time.Time `json:"created"`
	// Size is the compressed size of its layers in bytes.
	Size int64 `json:"size"`

	store *Store
}
