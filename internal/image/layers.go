package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
)

// Magic numbers of the layer compressions Import reads.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// zstdMaxMemory bounds what a zstd frame may make the decoder allocate.
const zstdMaxMemory = 256 << 20

// memberVisitor gets every checked member of every layer, in order; tr is
// positioned at the member's content.
type memberVisitor func(tr *tar.Reader, h *tar.Header, a action) error

// layerSource says how to read an image's layers.
type layerSource struct {
	// uncompressed: read Layer.Uncompressed and check only diff IDs. For docker
	// archives, whose layer digests go-containerregistry computes from the content
	// itself (there is nothing else to check them against).
	uncompressed bool
	// openBlob opens a layer blob by digest; nil means Layer.Compressed.
	openBlob func(v1.Hash) (io.ReadCloser, error)
	// manifest is the digest the image's manifest must hash to, when known.
	manifest v1.Hash
	// recorded: the limits are the sizes the store recorded for the image.
	recorded bool
}

// checkMetadata checks the raw manifest against the digest it is known by (if
// any) and the raw config against the manifest's config descriptor.
func checkMetadata(img v1.Image, m *v1.Manifest, want v1.Hash) error {
	raw, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("%w: reading manifest: %v", ErrUnknownFormat, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(raw)); want.Hex != "" && got != want {
		return fmt.Errorf("%w: the manifest is %s, but it is stored as %s: the image was altered or damaged; refusing it", ErrDigestMismatch, got, want)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("%w: reading image config: %v", ErrUnknownFormat, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(cfg)); got != m.Config.Digest || int64(len(cfg)) != m.Config.Size {
		return fmt.Errorf("%w: the image config is %s (%d bytes), but the manifest names %s (%d bytes): the image was altered or damaged; refusing it",
			ErrDigestMismatch, got, len(cfg), m.Config.Digest, m.Config.Size)
	}
	return nil
}

// readImage reads every layer of img once: it checks the manifest and config
// against their digests, each layer blob against its digest and size, each
// uncompressed layer against its diff ID, every archive member against the
// tree rules (treeChecker), and the totals against lim. visit, when not nil, gets
// each member (to unpack it). It returns the totals, which the store records so
// that unpacking later allows exactly as much.
func readImage(ctx context.Context, img v1.Image, src layerSource, lim Limits, visit memberVisitor) (Limits, error) {
	m, err := img.Manifest()
	if err != nil {
		return Limits{}, fmt.Errorf("%w: reading manifest: %v", ErrUnknownFormat, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Limits{}, fmt.Errorf("%w: reading image config: %v", ErrUnknownFormat, err)
	}
	if err := checkMetadata(img, m, src.manifest); err != nil {
		return Limits{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return Limits{}, fmt.Errorf("%w: listing layers: %v", ErrUnknownFormat, err)
	}
	if len(m.Layers) != len(layers) || len(cf.RootFS.DiffIDs) != len(layers) {
		return Limits{}, fmt.Errorf("%w: the manifest lists %d layers and the config %d diff IDs", ErrDigestMismatch, len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	b := newBudget(lim, "the image's layers")
	b.recorded = src.recorded
	checker := newTreeChecker()
	for i, l := range layers {
		if !m.Layers[i].MediaType.IsLayer() {
			return Limits{}, fmt.Errorf("%w: layer %d has media type %s, not a layer", ErrUnknownFormat, i+1, m.Layers[i].MediaType)
		}
		in := layerInput{number: i + 1, count: len(layers), desc: m.Layers[i], diffID: cf.RootFS.DiffIDs[i]}
		switch {
		case src.uncompressed:
			in.open = l.Uncompressed
		case src.openBlob != nil:
			in.open = func() (io.ReadCloser, error) { return src.openBlob(m.Layers[i].Digest) }
			in.blob = true
		default:
			in.open = l.Compressed
			in.blob = true
		}
		checker.nextLayer()
		if err := readLayer(ctx, in, b, checker, visit); err != nil {
			return Limits{}, err
		}
	}
	// Unpacking allows what was counted here: the archive bytes or, when sparse
	// files make them larger, the file sizes.
	return Limits{MaxBytes: max(b.bytes, b.files), MaxEntries: b.entries}, nil
}

// layerInput is one layer to read and what its bytes must hash to.
type layerInput struct {
	number, count int
	open          func() (io.ReadCloser, error)
	blob          bool // open gives the blob (compressed or not): desc's digest and size are checked
	desc          v1.Descriptor
	diffID        v1.Hash
}

func (in layerInput) name() string { return fmt.Sprintf("layer %d of %d", in.number, in.count) }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func readLayer(ctx context.Context, in layerInput, b *budget, checker *treeChecker, visit memberVisitor) error {
	rc, err := in.open()
	if err != nil {
		return fmt.Errorf("reading %s: %w", in.name(), err)
	}
	defer rc.Close()
	var blobHash hash.Hash
	var blobBytes *countingReader
	var src io.Reader = rc
	if in.blob {
		// One byte more than declared is enough to tell the size is wrong.
		blobBytes = &countingReader{r: io.LimitReader(rc, in.desc.Size+1)}
		blobHash = sha256.New()
		src = io.TeeReader(blobBytes, blobHash)
	}
	br := bufio.NewReaderSize(src, 1<<20)
	err = readLayerTar(ctx, in, br, b, checker, visit)
	if in.blob {
		// Read the rest of the blob whatever happened above: content that is not
		// what its digest says is the error to report first.
		if _, derr := io.Copy(io.Discard, br); derr != nil && err == nil {
			err = fmt.Errorf("reading %s: %w", in.name(), derr)
		}
		got := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", blobHash.Sum(nil))}
		if got != in.desc.Digest || blobBytes.n != in.desc.Size {
			size := fmt.Sprintf("%d bytes", blobBytes.n)
			if blobBytes.n > in.desc.Size {
				size = fmt.Sprintf("more than %d bytes", in.desc.Size)
			}
			return fmt.Errorf("%w: %s is %s (%s), but the manifest names %s (%d bytes): the image was altered or damaged; refusing it",
				ErrDigestMismatch, in.name(), got, size, in.desc.Digest, in.desc.Size)
		}
	}
	return err
}

// readLayerTar decompresses the layer in br, checks its members and its diff ID.
func readLayerTar(ctx context.Context, in layerInput, br *bufio.Reader, b *budget, checker *treeChecker, visit memberVisitor) error {
	magic, _ := br.Peek(4)
	var stream io.Reader = br
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: %s: corrupt gzip: %v", ErrUnknownFormat, in.name(), err)
		}
		defer zr.Close()
		stream = zr
	case bytes.Equal(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(zstdMaxMemory))
		if err != nil {
			return fmt.Errorf("%w: %s: corrupt zstd: %v", ErrUnknownFormat, in.name(), err)
		}
		defer zr.Close()
		stream = zr
	}
	diff := sha256.New()
	// Everything the tar reader consumes is counted and hashed for the diff ID.
	tarStream := io.TeeReader(b.reader(stream), diff)
	tr := tar.NewReader(tarStream)
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("reading %s: %w", in.name(), err)
			}
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return err
			}
			return fmt.Errorf("%w: %s: corrupt or truncated tar after %d members: %v", ErrUnknownFormat, in.name(), n, err)
		}
		if err := b.addEntry(); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeGNUSparse {
			if err := b.addFile(h.Size); err != nil {
				return err
			}
		}
		a, err := checker.check(h)
		if err != nil {
			return fmt.Errorf("%s: %w", in.name(), err)
		}
		if visit != nil {
			if err := visit(tr, h, a); err != nil {
				if errors.Is(err, ErrTooLarge) {
					return err
				}
				return fmt.Errorf("%s: member %q: %w", in.name(), h.Name, err)
			}
		}
	}
	// Padding after the end-of-archive marker belongs to the diff ID too; reading to
	// the end also checks the gzip trailer.
	if _, err := io.Copy(io.Discard, tarStream); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("%w: %s: corrupt compressed stream: %v", ErrUnknownFormat, in.name(), err)
	}
	got := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", diff.Sum(nil))}
	if got != in.diffID {
		return fmt.Errorf("%w: %s unpacks to %s, but the image config names %s: the image was altered or damaged; refusing it",
			ErrDigestMismatch, in.name(), got, in.diffID)
	}
	return nil
}
