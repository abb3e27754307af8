package image_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/testutil"
)

func TestBuildOptionsResolved(t *testing.T) {
	r, err := image.BuildOptions{}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "default" || r.Suite != "bookworm" || !strings.HasPrefix(r.Mirror, "http") || len(r.Packages) != len(image.DefaultPackages) {
		t.Errorf("defaults = %+v", r)
	}
	same, err := image.BuildOptions{Packages: []string{"fio", "sysbench", "fio"}}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	reordered, err := image.BuildOptions{Packages: []string{"sysbench", "fio"}}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if same.RecipeHash() != reordered.RecipeHash() {
		t.Error("package order or duplicates change the recipe hash")
	}
	if same.RecipeHash() == r.RecipeHash() {
		t.Error("different packages give the same recipe hash")
	}
	other := r
	other.Mirror = "http://example.org/debian"
	if other.RecipeHash() == r.RecipeHash() {
		t.Error("mirror is not part of the recipe hash")
	}
	for _, bad := range []image.BuildOptions{
		{Suite: "Bookworm!"},
		{Mirror: "ftp.debian.org"},
		{Packages: []string{"fio; rm -rf /"}},
		{Name: "UPPER"},
	} {
		if _, err := bad.Resolved(); !errors.Is(err, image.ErrBadOption) && !errors.Is(err, image.ErrBadName) {
			t.Errorf("Resolved(%+v) error = %v, want a bad option", bad, err)
		}
	}
}

// TestBuildDefaultImage builds (or finds) the real default image, checks that a
// second Build is a cache hit, and that the benchmark tools run in the tree.
func TestBuildDefaultImage(t *testing.T) {
	img := imagetest.Default(t)
	s, err := image.Open(imagetest.Home(t))
	if err != nil {
		t.Fatal(err)
	}
	again, built, err := s.Build(context.Background(), image.BuildOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if built || again.Digest != img.Digest {
		t.Errorf("second Build: built=%v digest %s, want cache hit of %s", built, again.Digest, img.Digest)
	}
	if !strings.HasPrefix(img.Source, "debootstrap bookworm recipe sha256:") || img.Recipe == "" {
		t.Errorf("source %q recipe %q", img.Source, img.Recipe)
	}
	if cached, err := s.Cached(image.BuildOptions{Packages: []string{"fio"}}); err != nil || cached != nil {
		t.Errorf("Cached with another recipe = %v, %v; want a miss", cached, err)
	}
	ctx := context.Background()
	for _, tool := range []string{"sh", "sysbench", "fio", "iperf3", "apache2", "ps", "mpstat", "nicstat", "iftop"} {
		if ok, err := img.HasTool(ctx, tool); err != nil || !ok {
			t.Errorf("default image lacks %s: %v", tool, err)
		}
	}
	root, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("chroot", root, "sysbench", "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sysbench ") {
		t.Errorf("sysbench in the image: %v: %s", err, out)
	}
	if debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb")); len(debs) != 0 {
		t.Errorf("%d .deb files left in the image", len(debs))
	}
	if data, err := os.ReadFile(filepath.Join(root, "etc/resolv.conf")); err != nil || len(data) != 0 {
		t.Errorf("etc/resolv.conf = %q, %v; want the host's settings removed", data, err)
	}
}

// TestBuildCancelled stops a build during debootstrap and checks that nothing
// stays behind: no temp dir, no mounts, no image.
func TestBuildCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (debootstrap)")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("debootstrap not installed")
	}
	s := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	_, _, err := s.Build(ctx, image.BuildOptions{Name: "cancelled", Packages: []string{"procps"}}, nil)
	if err == nil {
		t.Fatal("Build finished within 4 seconds; cannot test cancelling")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Build error = %v, want the context's", err)
	}
	if left, _ := os.ReadDir(filepath.Join(s.Home(), "tmp")); len(left) != 0 {
		t.Errorf("cancelled build left %d temp entries", len(left))
	}
	if left := testutil.MountsUnder(t, s.Home()); len(left) > 0 {
		t.Errorf("cancelled build left mounts under %s: %v", s.Home(), left)
	}
	if _, err := s.Get("cancelled"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("cancelled build left an image: %v", err)
	}
}
