package clusterrun

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArchiveRoundTrip(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "raw", "runc"), 0o755)
	os.WriteFile(filepath.Join(src, "samples.jsonl"), []byte(`{"v":1}`+"\n"), 0o644)
	big := bytes.Repeat([]byte("0123456789"), 20000)
	os.WriteFile(filepath.Join(src, "raw", "runc", "out"), big, 0o644)
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	var stream bytes.Buffer
	stream.WriteString("progress 1\nprogress 2\n")
	if err := WriteArchive(&stream, src); err != nil {
		t.Fatal(err)
	}
	var progress []string
	dst := filepath.Join(t.TempDir(), "node")
	if err := ReadStream(&stream, dst, func(l string) { progress = append(progress, l) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(progress, ",") != "progress 1,progress 2" {
		t.Errorf("progress %v", progress)
	}
	got, err := os.ReadFile(filepath.Join(dst, "raw", "runc", "out"))
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("file came back different (%v)", err)
	}
	if _, err := os.Lstat(filepath.Join(dst, "link")); !os.IsNotExist(err) {
		t.Errorf("a symlink was carried over (%v)", err)
	}
}

func TestArchiveDamageAndTruncationAreRefused(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "samples.jsonl"), bytes.Repeat([]byte("x"), 5000), 0o644)
	var stream bytes.Buffer
	if err := WriteArchive(&stream, src); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(stream.String(), "\n")
	// Flip one base64 character in the middle.
	damaged := append([]string(nil), lines...)
	b := []byte(damaged[2])
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	damaged[2] = string(b)
	err := ReadStream(strings.NewReader(strings.Join(damaged, "\n")), filepath.Join(t.TempDir(), "d"), func(string) {})
	if err == nil {
		t.Error("a damaged archive was accepted")
	}
	truncated := strings.Join(lines[:3], "\n")
	if err := ReadStream(strings.NewReader(truncated), filepath.Join(t.TempDir(), "t"), func(string) {}); err == nil || !strings.Contains(err.Error(), "ended inside") {
		t.Errorf("truncated archive: %v", err)
	}
	if err := ReadStream(strings.NewReader("just logs\n"), filepath.Join(t.TempDir(), "n"), func(string) {}); err == nil || !strings.Contains(err.Error(), "without a run archive") {
		t.Errorf("no archive: %v", err)
	}
}

// hostileArchive builds a marked archive holding one entry.
func hostileArchive(hdr *tar.Header, body []byte) string {
	var tb bytes.Buffer
	gz := gzip.NewWriter(&tb)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(hdr)
	tw.Write(body)
	tw.Close()
	gz.Close()
	sum := sha256.Sum256(tb.Bytes())
	return fmt.Sprintf("%s\n%s\n%s %s %d\n", beginMarker, base64.StdEncoding.EncodeToString(tb.Bytes()), endMarker, hex.EncodeToString(sum[:]), tb.Len())
}

func TestHostileArchivesAreRefused(t *testing.T) {
	for name, hdr := range map[string]*tar.Header{
		"climbs out": {Typeflag: tar.TypeReg, Name: "../escape", Size: 1, Mode: 0o644},
		"absolute":   {Typeflag: tar.TypeReg, Name: "/etc/evil", Size: 1, Mode: 0o644},
		"symlink":    {Typeflag: tar.TypeSymlink, Name: "l", Linkname: "/etc", Mode: 0o777},
	} {
		parent := t.TempDir()
		err := ReadStream(strings.NewReader(hostileArchive(hdr, []byte("x"))), filepath.Join(parent, "node"), func(string) {})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := os.Stat(filepath.Join(parent, "escape")); err == nil {
			t.Errorf("%s: wrote outside the directory", name)
		}
	}
}
