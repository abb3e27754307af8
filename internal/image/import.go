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
	"golang.org/x/sys/unix"
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
// Everything is checked before anything is stored: member names and links,
// digests of blobs and layers, and the store's Limits.
func (s *Store) Import(ctx context.Context, src, name string) (_ *Image, err error) {
	if err := s.Limits.Check(); err != nil {
		return nil, err
	}
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
	// The source itself is what the user named (it may be a link they made);
	// nothing below it is followed.
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrNoSource, src, errors.Unwrap(err))
	}
	tmp, err := os.MkdirTemp(s.tmpDir(), "isobench-import-")
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", src, err)
	}
	defer func() {
		if rerr := removeTree(tmp); rerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up after importing %s: %w", src, rerr))
		}
	}()

	format, img, layers, err := s.readSource(ctx, abs, fi, tmp)
	if err != nil {
		return nil, withHint(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("importing %s: %w", src, err)
	}
	stored, err := s.put(ctx, img, name, format+" "+abs, "", layers, s.Limits)
	if err != nil {
		// stored is not nil when only removing unused trees failed.
		return stored, withHint(fmt.Errorf("importing %s: %w", src, err))
	}
	return stored, nil
}

// withHint ends a refusal of hostile content with what the user can do.
func withHint(err error) error {
	switch {
	case errors.Is(err, ErrUnsafeContent):
		return fmt.Errorf("%w (rebuild the image without such members)", err)
	case errors.Is(err, ErrDigestMismatch):
		return fmt.Errorf("%w (import a genuine copy)", err)
	}
	return err
}

// readSource detects src's format and opens it as an image; tmp is scratch space
// that lives until the image is written to the store. It returns how put reads
// the image's layers.
func (s *Store) readSource(ctx context.Context, src string, fi fs.FileInfo, tmp string) (string, v1.Image, layerSource, error) {
	var blobs layerSource
	if fi.IsDir() {
		if _, err := os.Lstat(filepath.Join(src, "oci-layout")); err == nil {
			dir := filepath.Join(tmp, "layout")
			if err := os.Mkdir(dir, 0o700); err != nil {
				return "", nil, blobs, fmt.Errorf("importing %s: %w", src, err)
			}
			if err := copyLayoutDir(ctx, src, dir, newBudget(s.Limits, "the OCI layout")); err != nil {
				return "", nil, blobs, fmt.Errorf("importing %s: %w", src, err)
			}
			img, err := imageFromLayout(dir, src)
			return FormatOCILayout, img, blobs, err
		}
		if !hasRootFSMarker(func(n string) bool { _, err := os.Lstat(filepath.Join(src, n)); return err == nil }) {
			return "", nil, blobs, unknownFormat(src, "directory has neither an oci-layout file nor bin, usr or etc")
		}
		created, err := newestInDir(src)
		if err != nil {
			return "", nil, blobs, fmt.Errorf("%w %s: %v", ErrNoSource, src, err)
		}
		layerFile := filepath.Join(tmp, "layer.tar.gz")
		if err := packDir(ctx, src, layerFile); err != nil {
			return "", nil, blobs, fmt.Errorf("importing %s: %w", src, err)
		}
		img, err := singleLayerImage(layerFile, "isobench image import: root filesystem directory "+src, created)
		return FormatRootFSDir, img, blobs, err
	}
	if !fi.Mode().IsRegular() {
		return "", nil, blobs, unknownFormat(src, "not a regular file or directory")
	}

	// Work on a private copy: everything checked is then what gets stored, even
	// if someone changes the source file while the import runs.
	local := filepath.Join(tmp, "source")
	if err := copySource(src, local, s.Limits); err != nil {
		return "", nil, blobs, err
	}
	gzipped, top, newest, err := scanTar(local, src, s.Limits)
	if err != nil {
		return "", nil, blobs, err
	}
	opener := fileOpener(local, gzipped)
	switch {
	case top["manifest.json"]:
		img, err := tarball.Image(opener, nil)
		if err != nil {
			return "", nil, blobs, unknownFormat(src, fmt.Sprintf("reading it as a docker archive: %v", err))
		}
		// Check now that the layers are readable, rather than failing half-way through the write.
		if _, err := img.Manifest(); err != nil {
			return "", nil, blobs, unknownFormat(src, fmt.Sprintf("reading it as a docker archive: %v", err))
		}
		return FormatDockerArchive, img, layerSource{uncompressed: true}, nil
	case top["oci-layout"] && top["index.json"]:
		dir := filepath.Join(tmp, "layout")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return "", nil, blobs, fmt.Errorf("importing %s: %w", src, err)
		}
		rc, err := opener()
		if err != nil {
			return "", nil, blobs, fmt.Errorf("%w %s: %v", ErrNoSource, src, err)
		}
		defer rc.Close()
		if err := unpackLayoutTar(ctx, rc, dir, newBudget(s.Limits, "the OCI layout archive")); err != nil {
			return "", nil, blobs, fmt.Errorf("importing %s: %w", src, err)
		}
		img, err := imageFromLayout(dir, src)
		return FormatOCILayoutTar, img, blobs, err
	case hasRootFSMarker(func(n string) bool { return top[n] }):
		layerFile := local
		if !gzipped {
			// Compress once here, so the layer is not compressed again on every read.
			layerFile = filepath.Join(tmp, "layer.tar.gz")
			if err := gzipFile(local, layerFile); err != nil {
				return "", nil, blobs, fmt.Errorf("importing %s: %w", src, err)
			}
		}
		img, err := singleLayerImage(layerFile, "isobench image import: root filesystem tar "+src, newest)
		return FormatRootFSTar, img, blobs, err
	}
	return "", nil, blobs, unknownFormat(src, "tar holds no manifest.json, no oci-layout and no bin, usr or etc")
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

// copySource copies the regular file src to dst (a new file), refusing one
// larger than the limit.
func copySource(src, dst string, lim Limits) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrNoSource, src, errors.Unwrap(err))
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrNoSource, src, err)
	}
	if !fi.Mode().IsRegular() {
		return unknownFormat(src, "not a regular file or directory")
	}
	tooLarge := fmt.Errorf("%w: %s is larger than the %s limit (raise it with --max-size if the image is genuine)", ErrTooLarge, src, FormatBytes(lim.MaxBytes))
	if fi.Size() > lim.MaxBytes {
		return tooLarge
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("importing %s: %w", src, err)
	}
	defer out.Close()
	n, err := io.Copy(out, io.LimitReader(in, lim.MaxBytes+1))
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrNoSource, src, err)
	}
	if n > lim.MaxBytes {
		return tooLarge
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("importing %s: %w", src, err)
	}
	return nil
}

// scanTar reads the whole (possibly gzip-compressed) tar at local (a copy of
// file, which names it in messages), so that a
// truncated or corrupt archive, an unsafe member (treeChecker) or one beyond the
// limits is found before anything is written, and returns its top-level entry
// names and its newest modification time.
func scanTar(local, file string, lim Limits) (gzipped bool, top map[string]bool, newest time.Time, err error) {
	f, err := os.Open(local)
	if err != nil {
		return false, nil, newest, fmt.Errorf("%w %s: %v", ErrNoSource, file, errors.Unwrap(err))
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	if bytes.HasPrefix(magic, gzipMagic) {
		gzipped = true
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil, newest, unknownFormat(file, fmt.Sprintf("corrupt gzip: %v", err))
		}
		defer zr.Close()
		r = zr
	} else if bytes.Equal(magic, zstdMagic) {
		return false, nil, newest, unknownFormat(file, "zstd compression is not supported, decompress it first")
	} else {
		r = f // lets tar skip file contents by seeking
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, nil, newest, fmt.Errorf("%w %s: %v", ErrNoSource, file, err)
		}
	}
	b := newBudget(lim, "the archive")
	if gzipped {
		r = b.reader(r)
	}
	tr := tar.NewReader(r)
	checker := newTreeChecker()
	top = map[string]bool{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return false, nil, newest, unknownFormat(file, "empty or not a tar archive")
			}
			break
		}
		if errors.Is(err, ErrTooLarge) {
			return false, nil, newest, fmt.Errorf("%s: %w", file, err)
		}
		if err != nil {
			if n == 0 {
				return false, nil, newest, unknownFormat(file, "not a tar archive")
			}
			return false, nil, newest, unknownFormat(file, fmt.Sprintf("corrupt or truncated tar after %d entries: %v", n, err))
		}
		if err := b.addEntry(); err != nil {
			return false, nil, newest, fmt.Errorf("%s: %w", file, err)
		}
		if _, err := checker.check(h); err != nil {
			return false, nil, newest, fmt.Errorf("%s: %w; refusing to import it", file, err)
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
			if errors.Is(err, ErrTooLarge) {
				return false, nil, newest, fmt.Errorf("%s: %w", file, err)
			}
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

// imageFromLayout picks the image for this machine from an OCI image layout (a
// copy isobench made in dir of what src held): the only image, or the one for
// linux on this architecture in a multi-platform index. Manifests and indexes
// are checked against the digests that name them.
func imageFromLayout(dir, src string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, unknownFormat(src, fmt.Sprintf("reading OCI layout: %v", err))
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
			if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
				continue
			}
			if err := checkLayoutBlob(dir, d); err != nil {
				return err
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
		if errors.Is(err, ErrDigestMismatch) || errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		return nil, unknownFormat(src, fmt.Sprintf("reading OCI layout: %v", err))
	}
	switch len(found) {
	case 0:
		return nil, unknownFormat(src, "OCI layout holds no image for linux/"+goruntime.GOARCH)
	case 1:
		m, err := found[0].Manifest()
		if err != nil {
			return nil, unknownFormat(src, fmt.Sprintf("reading OCI layout: %v", err))
		}
		// The config is read whole: bound it before anything parses it.
		if err := checkLayoutBlob(dir, m.Config); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, unknownFormat(src, fmt.Sprintf("reading OCI layout: image config %s is missing", m.Config.Digest))
			}
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		return found[0], nil
	}
	return nil, unknownFormat(src, fmt.Sprintf("OCI layout holds %d images for linux/%s: import a layout with one image", len(found), goruntime.GOARCH))
}

// checkLayoutBlob checks a manifest, index or config blob of the layout copy in
// dir before it is parsed: small enough to read whole, and hashing to the digest
// and size its descriptor gives.
func checkLayoutBlob(dir string, d v1.Descriptor) error {
	if d.Digest.Algorithm != "sha256" || !isDigestHex(d.Digest.Hex) {
		return fmt.Errorf("%w: descriptor digest %q", ErrUnknownFormat, d.Digest)
	}
	f, err := openBeneath(dir, "blobs/sha256/"+d.Digest.Hex)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > maxMetadataSize {
		return fmt.Errorf("%w: blob %s (%s) is %s, more than %s", ErrTooLarge, d.Digest, d.MediaType, FormatBytes(fi.Size()), FormatBytes(maxMetadataSize))
	}
	got, n, err := v1.SHA256(f)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", d.Digest, err)
	}
	if got != d.Digest || n != d.Size {
		return fmt.Errorf("%w: the %s blob is %s (%d bytes), but its descriptor names %s (%d bytes): the image was altered or damaged; refusing it", ErrDigestMismatch, d.MediaType, got, n, d.Digest, d.Size)
	}
	return nil
}
