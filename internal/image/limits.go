package image

import (
	"errors"
	"fmt"
	"io"
)

// Errors for hostile or oversized content; like the other input errors they are
// the user's to fix (exit status 2).
var (
	// ErrUnsafeContent: an archive member or image file could harm the host if used
	// (a path leaving the tree, a link to outside, writing through a link, a symbolic
	// link where a file was expected).
	ErrUnsafeContent = errors.New("unsafe image content")
	// ErrTooLarge: unpacking would exceed the size or entry limit.
	ErrTooLarge = errors.New("image too large")
	// ErrDigestMismatch: content does not match the digest or size that names it.
	ErrDigestMismatch = errors.New("image content does not match its digest")
)

// Limits bound what one image may unpack to, so that a small compressed archive
// (a "gzip bomb") cannot fill the disk.
type Limits struct {
	// MaxBytes is the most uncompressed tar data all layers of one image may hold.
	MaxBytes int64
	// MaxEntries is the most archive members all layers of one image may hold.
	MaxEntries int64
}

// Default limits: the default benchmark image unpacks to about 0.33 GiB and 12,500
// entries, so these leave room for larger imports while stopping bombs; raise
// them with `isobench image import --max-size/--max-entries`.
const (
	DefaultMaxBytes   = 1 << 30
	DefaultMaxEntries = 500_000
)

// DefaultLimits is what Open gives a store.
var DefaultLimits = Limits{MaxBytes: DefaultMaxBytes, MaxEntries: DefaultMaxEntries}

// Check refuses limits that are not positive.
func (l Limits) Check() error {
	if l.MaxBytes <= 0 || l.MaxEntries <= 0 {
		return fmt.Errorf("%w: unpack limits must be positive, got %d bytes and %d entries", ErrBadOption, l.MaxBytes, l.MaxEntries)
	}
	return nil
}

// budget counts bytes and entries against Limits for one image.
type budget struct {
	lim            Limits
	bytes, entries int64
	files          int64  // sizes of regular files, as their headers give them
	what           string // "image layers", "archive", ... for messages
	// recorded: the limits are what the store counted when it stored the image,
	// so going beyond them means the content changed since.
	recorded bool
}

func newBudget(lim Limits, what string) *budget {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxBytes
	}
	if lim.MaxEntries <= 0 {
		lim.MaxEntries = DefaultMaxEntries
	}
	return &budget{lim: lim, what: what}
}

func (b *budget) addEntry() error {
	b.entries++
	if b.entries > b.lim.MaxEntries {
		return fmt.Errorf("%w: %s hold more than %d entries (%s)", ErrTooLarge, b.what, b.lim.MaxEntries, b.hint("--max-entries"))
	}
	return nil
}

// addFile counts a regular file's size as its header gives it: a sparse file
// takes far less archive than it writes to disk.
func (b *budget) addFile(size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: negative file size %d", ErrUnsafeContent, size)
	}
	b.files += size
	if b.files > b.lim.MaxBytes {
		return b.tooLarge()
	}
	return nil
}

func (b *budget) tooLarge() error {
	return fmt.Errorf("%w: %s unpack to more than %s (%s)", ErrTooLarge, b.what, FormatBytes(b.lim.MaxBytes), b.hint("--max-size"))
}

func (b *budget) hint(flag string) string {
	if b.recorded {
		return "more than when the image was stored: it was altered since; import it again"
	}
	return "raise the limit with " + flag + " if the image is genuine"
}

// reader counts what r yields against the byte limit; reading past it fails.
func (b *budget) reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r io.Reader
	b *budget
}

func (br *budgetReader) Read(p []byte) (int, error) {
	if left := br.b.lim.MaxBytes - br.b.bytes; int64(len(p)) > left+1 {
		p = p[:left+1] // read one byte past the limit to tell "at" from "over"
	}
	n, err := br.r.Read(p)
	br.b.bytes += int64(n)
	if br.b.bytes > br.b.lim.MaxBytes {
		return n, br.b.tooLarge()
	}
	return n, err
}

// FormatBytes writes a byte count with a binary unit, like 1.5 GiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
