package guestassets

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The real Debian cloud kernel (lz4 payload) must yield an x86-64 ELF vmlinux whose
// version string matches the file name, and a second call must reuse the cached file.
func TestExtractVmlinuxFromTheHostKernel(t *testing.T) {
	kernel, err := FindKernel(DefaultKernelGlob)
	if err != nil {
		t.Skip(err.Error())
	}
	out, err := VmlinuxPath(t.TempDir(), kernel)
	if err != nil {
		t.Fatal(err)
	}
	if err := ExtractVmlinux(kernel, out); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatalf("extracted kernel is not an ELF: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("ELF machine %v type %v, want x86-64 executable", f.Machine, f.Type)
	}
	rel, _ := KernelRelease(kernel)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("Linux version "+rel)) {
		t.Errorf("vmlinux lacks the banner %q", "Linux version "+rel)
	}
	st1, _ := os.Stat(out)
	if err := ExtractVmlinux(kernel, out); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(out)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("a second extraction rewrote the cached vmlinux")
	}
	t.Logf("%s -> %s (%d MiB)", kernel, out, len(data)>>20)
}

// fakeBzImage builds a bzImage-shaped file: a boot header pointing at payload, with the
// kernel's 4-byte size trailer after it.
func fakeBzImage(payload []byte, size int) []byte {
	img := make([]byte, 5*512)
	img[0x1f1] = 4
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x20f)
	trailer := binary.LittleEndian.AppendUint32(nil, uint32(size))
	binary.LittleEndian.PutUint32(img[0x248:], 0x40)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(payload)+4))
	img = append(img, make([]byte, 0x40)...)
	img = append(img, payload...)
	img = append(img, trailer...)
	return append(img, make([]byte, 100)...) // more setup code follows in real images
}

func tinyELF(t *testing.T) []byte {
	t.Helper()
	self, err := os.Executable() // the test binary is an ELF file
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestExtractVmlinuxGzipAndZstd(t *testing.T) {
	want := tinyELF(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(want)
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(want, nil)
	for name, payload := range map[string][]byte{"gzip": gz.Bytes(), "zstd": zs} {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "vmlinuz-1"), filepath.Join(dir, "vmlinux")
		if err := os.WriteFile(in, fakeBzImage(payload, len(want)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := ExtractVmlinux(in, out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: extracted %d bytes, want the %d-byte ELF", name, len(got), len(want))
		}
	}
}

func TestExtractVmlinuxRejectsNonKernels(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "k"), filepath.Join(dir, "vmlinux")
	os.WriteFile(in, []byte(strings.Repeat("not a kernel ", 1000)), 0o644)
	if err := ExtractVmlinux(in, out); err == nil {
		t.Fatal("a file without a compressed kernel was accepted")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed extraction left an output file")
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("compressed, but not an ELF"))
	zw.Close()
	os.WriteFile(in, fakeBzImage(gz.Bytes(), 26), 0o644)
	if err := ExtractVmlinux(in, out); err == nil || !strings.Contains(err.Error(), "ELF") {
		t.Fatalf("a non-ELF payload gave %v, want an ELF error", err)
	}
}
