package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Formats is the list of what Import reads, for error messages and help.
const Formats = "a docker-archive tar (docker save), an OCI image layout (directory or tar), or a root filesystem (directory, tar or tar.gz)"

// Import formats, as named in an image's Source.
const (
	FormatDockerArchive = "docker-archive"
	FormatOCILayout     = "oci-layout"
	FormatOCILayoutTar  = "oci-layout-tar"
	FormatRootFSDir     = "rootfs-dir"
	FormatRootFSTar     = "rootfs-tar"
)

// Images made from root filesystems are dated by their newest file rather than by
// the clock, so that importing the same tree again gives the same digest. The
// store keeps the import time in its index.

// newestInDir returns the latest modification time in the tree at dir.
func newestInDir(dir string) (time.Time, error) {
	var newest time.Time
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		return nil
	})
	return newest, err
}

// rootfsMarkers are top-level entries of which a root filesystem has at least one.
var rootfsMarkers = []string{"bin", "sbin", "usr", "etc", "lib"}

// Import adds the image at src to the store under name (default: src's base name
// without extensions). The format is detected from the content; see Formats.
func (s *Store) Import(ctx context.Context, src, name string) (*Image, error) {
	abs, err := filepath.Abs(src)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrNoSource, src, err)
	}
	if name == "" {
		name = NameFromPath(src)
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrNoSource, src, errors.Unwrap(err))
	}
	tmp, err := os.MkdirTemp(s.tmpDir(), "isobench-import-")
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", src, err)
	}
	defer removeTree(tmp)

	format, img, err := s.readSource(ctx, abs, fi, tmp)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("importing %s: %w", src, err)
	}
	return s.put(img, name, format+" "+abs, "")
}

// readSource detects src's format and opens it as an image; tmp is scratch space
// that lives until the image is written to the store.
func (s *Store) readSource(ctx context.Context, src string, fi fs.FileInfo, tmp string) (string, v1.Image, error) {
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(src, "oci-layout")); err == nil {
			img, err := imageFromLayout(src)
			return FormatOCILayout, img, err
		}
		if !hasRootFSMarker(func(n string) bool { _, err := os.Lstat(filepath.Join(src, n)); return err == nil }) {
			return "", nil, unknownFormat(src, "directory has neither an oci-layout file nor bin, usr or etc")
		}
		created, err := newestInDir(src)
		if err != nil {
			return "", nil, fmt.Errorf("%w %s: %v", ErrNoSource, src, err)
		}
		layerFile := filepath.Join(tmp, "layer.tar.gz")
		if err := packDir(ctx, src, layerFile); err != nil {
			return "", nil, fmt.Errorf("importing %s: %w", src, err)
		}
		img, err := singleLayerImage(layerFile, "isobench image import: root filesystem directory "+src, created)
		return FormatRootFSDir, img, err
	}
	if !fi.Mode().IsRegular() {
		return "", nil, unknownFormat(src, "not a regular file or directory")
	}

	gzipped, top, newest, err := scanTar(src)
	if err != nil {
		return "", nil, err
	}
	opener := fileOpener(src, gzipped)
	switch {
	case top["manifest.json"]:
		img, err := tarball.Image(opener, nil)
		if err != nil {
			return "", nil, unknownFormat(src, fmt.Sprintf("reading it as a docker archive: %v", err))
		}
		// Check now that the layers are readable, rather than failing half-way through the write.
		if _, err := img.Manifest(); err != nil {
			return "", nil, unknownFormat(src, fmt.Sprintf("reading it as a docker archive: %v", err))
		}
		return FormatDockerArchive, img, nil
	case top["oci-layout"] && top["index.json"]:
		dir := filepath.Join(tmp, "layout")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("importing %s: %w", src, err)
		}
		rc, err := opener()
		if err != nil {
			return "", nil, fmt.Errorf("%w %s: %v", ErrNoSource, src, err)
		}
		defer rc.Close()
		if err := unpackTar(ctx, rc, dir); err != nil {
			return "", nil, fmt.Errorf("importing %s: %w", src, err)
		}
		img, err := imageFromLayout(dir)
		return FormatOCILayoutTar, img, err
	case hasRootFSMarker(func(n string) bool { return top[n] }):
		layerFile := src
		if !gzipped {
			// Compress once here, so the layer is not compressed again on every read.
			layerFile = filepath.Join(tmp, "layer.tar.gz")
			if err := gzipFile(src, layerFile); err != nil {
				return "", nil, fmt.Errorf("importing %s: %w", src, err)
			}
		}
		img, err := singleLayerImage(layerFile, "isobench image import: root filesystem tar "+src, newest)
		return FormatRootFSTar, img, err
	}
	return "", nil, unknownFormat(src, "tar holds no manifest.json, no oci-layout and no bin, usr or etc")
}

func unknownFormat(src, why string) error {
	return fmt.Errorf("%w: %s: %s; want %s", ErrUnknownFormat, src, why, Formats)
}

func hasRootFSMarker(exists func(string) bool) bool {
	for _, m := range rootfsMarkers {
		if exists(m) {
			return true
		}
	}
	return false
}

// scanTar reads the whole (possibly gzip-compressed) tar at file, so that a
// truncated or corrupt archive is found before anything is written, and returns
// its top-level entry names and its newest modification time.
func scanTar(file string) (gzipped bool, top map[string]bool, newest time.Time, err error) {
	f, err := os.Open(file)
	if err != nil {
		return false, nil, newest, fmt.Errorf("%w %s: %v", ErrNoSource, file, errors.Unwrap(err))
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	if bytes.HasPrefix(magic, []byte{0x1f, 0x8b}) {
		gzipped = true
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil, newest, unknownFormat(file, fmt.Sprintf("corrupt gzip: %v", err))
		}
		defer zr.Close()
		r = zr
	} else if bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return false, nil, newest, unknownFormat(file, "zstd compression is not supported, decompress it first")
	} else {
		r = f // lets tar skip file contents by seeking
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, nil, newest, fmt.Errorf("%w %s: %v", ErrNoSource, file, err)
		}
	}
	tr := tar.NewReader(r)
	top = map[string]bool{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return false, nil, newest, unknownFormat(file, "empty or not a tar archive")
			}
			break
		}
		if err != nil {
			if n == 0 {
				return false, nil, newest, unknownFormat(file, "not a tar archive")
			}
			return false, nil, newest, unknownFormat(file, fmt.Sprintf("corrupt or truncated tar after %d entries: %v", n, err))
		}
		if h.ModTime.After(newest) {
			newest = h.ModTime
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if first, _, _ := strings.Cut(name, "/"); first != "" {
			top[first] = true
		}
	}
	if gzipped {
		// Read to the gzip trailer so its checksum is verified.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return false, nil, newest, unknownFormat(file, fmt.Sprintf("corrupt gzip: %v", err))
		}
	}
	return gzipped, top, newest, nil
}

// fileOpener opens file, decompressing it when gzipped.
func fileOpener(file string, gzipped bool) tarball.Opener {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(file)
		if err != nil || !gzipped {
			return f, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, nil
	}
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := gzipTo(out, in); err != nil {
		return err
	}
	return out.Close()
}

// imageFromLayout picks the image for this machine from an OCI image layout: the
// only image, or the one for linux on this architecture in a multi-platform index.
func imageFromLayout(dir string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, unknownFormat(dir, fmt.Sprintf("reading OCI layout: %v", err))
	}
	var found []v1.Image
	var walk func(ii v1.ImageIndex, depth int) error
	walk = func(ii v1.ImageIndex, depth int) error {
		m, err := ii.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range m.Manifests {
			if p := d.Platform; p != nil && (p.OS != "linux" || p.Architecture != goruntime.GOARCH) {
				continue // another platform, or an attestation ("unknown/unknown")
			}
			switch {
			case d.MediaType.IsImage():
				img, err := ii.Image(d.Digest)
				if err != nil {
					return err
				}
				found = append(found, img)
			case d.MediaType.IsIndex() && depth < 4:
				child, err := ii.ImageIndex(d.Digest)
				if err != nil {
					return err
				}
				if err := walk(child, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(idx, 0); err != nil {
		return nil, unknownFormat(dir, fmt.Sprintf("reading OCI layout: %v", err))
	}
	switch len(found) {
	case 0:
		return nil, unknownFormat(dir, "OCI layout holds no image for linux/"+goruntime.GOARCH)
	case 1:
		if _, err := found[0].Manifest(); err != nil {
			return nil, unknownFormat(dir, fmt.Sprintf("reading OCI layout: %v", err))
		}
		return found[0], nil
	}
	return nil, unknownFormat(dir, fmt.Sprintf("OCI layout holds %d images for linux/%s: import a layout with one image", len(found), goruntime.GOARCH))
}

// NameFromPath makes an image name from a file or directory name: the base name
// without archive extensions, lower-cased, other characters replaced by '-'.
func NameFromPath(p string) string {
	base := filepath.Base(filepath.Clean(p))
	for _, ext := range []string{".tar.gz", ".tgz", ".tar", ".gz", ".oci"} {
		if strings.HasSuffix(strings.ToLower(base), ext) && len(base) > len(ext) {
			base = base[:len(base)-len(ext)]
			break
		}
	}
	var b strings.Builder
	for _, c := range strings.ToLower(base) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteRune('-')
		}
	}
	name := strings.TrimLeft(b.String(), "._-")
	if len(name) > 128 {
		name = name[:128]
	}
	if name == "" {
		return "imported"
	}
	return name
}
