package image_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/image/imagetest"
)

func TestOpenMakesLayout(t *testing.T) {
	s := openStore(t)
	for _, p := range []string{"images/oci-layout", "images/index.json", "rootfs"} {
		if _, err := os.Stat(filepath.Join(s.Home(), p)); err != nil {
			t.Errorf("Open did not make %s: %v", p, err)
		}
	}
	// Opening again keeps what is there.
	img, err := s.Import(context.Background(), busyboxDir(t), "bb")
	if err != nil {
		t.Fatal(err)
	}
	again, err := image.Open(s.Home())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Get("bb"); err != nil || got.Digest != img.Digest {
		t.Errorf("reopened store: Get(bb) = %v, %v", got, err)
	}
}

func TestGetAndRemove(t *testing.T) {
	s := openStore(t)
	dir := busyboxDir(t)
	a, err := s.Import(context.Background(), dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Import(context.Background(), dir, "b")
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest {
		t.Errorf("same directory imported twice gave digests %s and %s; packing is not deterministic", a.Digest, b.Digest)
	}
	for _, q := range []string{"a", a.Digest, a.Digest[:7+8], strings.TrimPrefix(a.Digest, "sha256:")[:6]} {
		if got, err := s.Get(q); err != nil || got.Digest != a.Digest {
			t.Errorf("Get(%q) = %v, %v", q, got, err)
		}
	}
	_, err = s.Get("nope")
	if !errors.Is(err, image.ErrNotFound) || !strings.Contains(err.Error(), `build it with "isobench image build" or import it with "isobench image import"`) {
		t.Errorf("Get(nope) error = %v", err)
	}
	root, err := a.RootFS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// b shares a's image: removing a keeps the blobs and the tree.
	r, err := s.Remove("a")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "removed name a; image "+a.ShortDigest()+" kept: still named b"; got != want {
		t.Errorf("Remove(a) says %q, want %q", got, want)
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("removing a removed the tree b still uses: %v", err)
	}
	if _, err := s.Get("a"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("a still there after Remove: %v", err)
	}
	if _, err := b.V1(); err != nil {
		t.Errorf("b unreadable after removing a: %v", err)
	}
	r, err = s.Remove("b")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "removed image b "+a.ShortDigest()+" and its root filesystem "+root; got != want {
		t.Errorf("Remove(b) says %q, want %q", got, want)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("tree still there after removing the last image: %v", err)
	}
	blobs, err := os.ReadDir(filepath.Join(s.Home(), "images", "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 0 {
		t.Errorf("%d blobs left after removing every image", len(blobs))
	}
	if _, err := s.Remove("b"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
}

func TestImportReplacesName(t *testing.T) {
	s := openStore(t)
	dir := busyboxDir(t)
	first, err := s.Import(context.Background(), dir, "bb")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "motd"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := s.Import(context.Background(), dir, "bb")
	if err != nil {
		t.Fatal(err)
	}
	if first.Digest == second.Digest {
		t.Fatal("changed tree gave the same digest")
	}
	images, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || images[0].Digest != second.Digest {
		t.Errorf("after re-import: %+v, want only %s", images, second.Digest)
	}
	if _, err := first.V1(); err == nil {
		t.Error("the replaced image's blobs were not collected")
	}
}

func TestImagetestBusybox(t *testing.T) {
	t.Setenv(imagetest.EnvHome, t.TempDir())
	first := imagetest.Busybox(t)
	second := imagetest.Busybox(t)
	if first.Digest != second.Digest || first.Name != imagetest.BusyboxName {
		t.Errorf("Busybox twice: %s %s, %s %s", first.Name, first.Digest, second.Name, second.Digest)
	}
	checkBusyboxTree(t, first)
}
