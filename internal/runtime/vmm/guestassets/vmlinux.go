package guestassets

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/isobench/isobench/internal/filehash"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Payload formats a bzImage may carry, by the magic that starts the compressed kernel.
var payloadMagics = []struct {
	name  string
	magic []byte
}{
	{"gzip", []byte{0x1f, 0x8b, 0x08}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}}, // lz4 legacy frame (lz4 -l), what the kernel uses
	{"bzip2", []byte("BZh")},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{"lzma", []byte{0x5d, 0x00, 0x00}},
	{"lzo", []byte{0x89, 'L', 'Z', 'O'}},
}

// ExtractVmlinux writes the uncompressed ELF kernel (vmlinux) that a bzImage carries to
// out, as Firecracker and Cloud Hypervisor boot only that. The payload is located by the
// boot protocol header (payload_offset, payload_length) and, failing that, by scanning
// for compression magics; gzip, zstd, lz4 (Debian's cloud kernel) and bzip2 are
// decompressed, xz, lzma and lzo are reported as unsupported. out is written through a
// temporary name, so an existing out is a complete kernel: it is left as it is (callers
// put the kernel's hash in the name to cache per kernel).
func ExtractVmlinux(bzImage, out string) error {
	if _, err := os.Stat(out); err == nil {
		return nil
	}
	img, err := os.ReadFile(bzImage)
	if err != nil {
		return fmt.Errorf("reading kernel: %w", err)
	}
	kernel, err := vmlinuxFrom(img)
	if err != nil {
		return fmt.Errorf("extracting vmlinux from %s: %w", bzImage, err)
	}
	return buildOnce(out, func(tmp string) error {
		if err := os.WriteFile(tmp, kernel, 0o644); err != nil {
			return fmt.Errorf("writing vmlinux: %w", err)
		}
		return nil
	})
}

// vmlinuxFrom finds and decompresses the ELF kernel inside a bzImage.
func vmlinuxFrom(img []byte) ([]byte, error) {
	if isELF(img) {
		return img, nil // already a vmlinux
	}
	var tried []string
	for _, start := range payloadCandidates(img) {
		for _, m := range payloadMagics {
			if !bytes.HasPrefix(img[start.off:], m.magic) {
				continue
			}
			data := img[start.off:]
			if start.length > 0 && start.off+start.length <= len(img) {
				data = img[start.off : start.off+start.length]
			}
			k, err := decompress(m.name, data)
			if err == nil && isELF(k) {
				if _, err := elf.NewFile(bytes.NewReader(k)); err != nil {
					tried = append(tried, fmt.Sprintf("%s at %#x: not a valid ELF: %v", m.name, start.off, err))
					continue
				}
				return k, nil
			}
			if err == nil {
				err = errors.New("result is not an ELF file")
			}
			tried = append(tried, fmt.Sprintf("%s at %#x: %v", m.name, start.off, err))
		}
	}
	if len(tried) == 0 {
		return nil, errors.New("no compressed kernel found (not a bzImage?)")
	}
	return nil, fmt.Errorf("no payload decompressed to an ELF kernel: %v", tried)
}

type payloadStart struct{ off, length int }

// payloadCandidates lists where the payload may start: first where the boot protocol
// header says (boot protocol 2.08+), then every offset where a known magic appears.
func payloadCandidates(img []byte) []payloadStart {
	var out []payloadStart
	if len(img) > 0x250 && string(img[0x202:0x206]) == "HdrS" && binary.LittleEndian.Uint16(img[0x206:]) >= 0x208 {
		setupSects := int(img[0x1f1])
		if setupSects == 0 {
			setupSects = 4
		}
		off := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(img[0x248:]))
		length := int(binary.LittleEndian.Uint32(img[0x24c:]))
		if off < len(img) {
			out = append(out, payloadStart{off, length})
		}
	}
	var scanned []int
	for _, m := range payloadMagics {
		for i := 0; ; {
			j := bytes.Index(img[i:], m.magic)
			if j < 0 {
				break
			}
			scanned = append(scanned, i+j)
			i += j + 1
		}
	}
	sort.Ints(scanned)
	for _, off := range scanned {
		if len(out) > 0 && out[0].off == off {
			continue
		}
		out = append(out, payloadStart{off: off})
	}
	return out
}

func isELF(b []byte) bool { return len(b) > 4 && string(b[:4]) == elf.ELFMAG }

func decompress(format string, data []byte) ([]byte, error) {
	switch format {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		zr.Multistream(false) // the kernel's size trailer follows the stream
		return io.ReadAll(zr)
	case "zstd":
		zr, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		// The kernel appends its uncompressed size (4 bytes) after the zstd frame.
		return zr.DecodeAll(trimSizeTrailer(data), nil)
	case "lz4":
		return unlz4Legacy(data)
	case "bzip2":
		return io.ReadAll(bzip2.NewReader(bytes.NewReader(data)))
	default:
		return nil, fmt.Errorf("%s-compressed kernels are not supported; use a kernel compressed with gzip, zstd, lz4 or bzip2, or give an uncompressed vmlinux", format)
	}
}

// trimSizeTrailer drops the 4-byte little-endian uncompressed size the kernel build
// appends to its compressed payload, when data ends with one that is plausible.
func trimSizeTrailer(data []byte) []byte {
	if len(data) > 8 {
		if n := binary.LittleEndian.Uint32(data[len(data)-4:]); n > uint32(len(data)) && n < 1<<30 {
			return data[:len(data)-4]
		}
	}
	return data
}

// lz4LegacyMagic starts every frame of the lz4 legacy format; each block is a 4-byte
// little-endian compressed size and the block, and decompresses to at most 8 MiB.
const (
	lz4LegacyMagic    = 0x184c2102
	lz4LegacyBlockMax = 8 << 20
)

// unlz4Legacy decompresses the lz4 legacy format as the kernel's own unlz4 does: frames
// of blocks, ending at the data's end or at the kernel's 4-byte size trailer.
func unlz4Legacy(data []byte) ([]byte, error) {
	var out []byte
	buf := make([]byte, lz4LegacyBlockMax)
	p := 0
	for len(data)-p >= 4 {
		n := int(binary.LittleEndian.Uint32(data[p:]))
		if n == lz4LegacyMagic {
			p += 4
			continue
		}
		if len(data)-p == 4 {
			// The size trailer; check it when it is there.
			if n != len(out) {
				return nil, fmt.Errorf("lz4: decompressed %d bytes, the kernel says %d", len(out), n)
			}
			break
		}
		if n == 0 || n > len(data)-p-4 {
			if len(out) == 0 {
				return nil, fmt.Errorf("lz4: bad block size %d at %d", n, p)
			}
			break // past the last block (trailing bytes)
		}
		m, err := lz4.UncompressBlock(data[p+4:p+4+n], buf)
		if err != nil {
			return nil, fmt.Errorf("lz4 block at %d: %w", p, err)
		}
		out = append(out, buf[:m]...)
		p += 4 + n
	}
	if len(out) == 0 {
		return nil, errors.New("lz4: no data")
	}
	return out, nil
}

// VmlinuxPath is where the assets cache keeps the vmlinux extracted from kernel: named
// by the kernel's release and hash, so an updated kernel gets a new file.
func VmlinuxPath(assetDir, kernel string) (string, error) {
	sum, err := filehash.SHA256(kernel)
	if err != nil {
		return "", err
	}
	name := filepath.Base(kernel)
	if rel, err := KernelRelease(kernel); err == nil {
		name = rel
	}
	return filepath.Join(assetDir, "vmlinux-"+name+"-"+sum[:12]), nil
}
