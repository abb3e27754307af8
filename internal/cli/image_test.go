package cli_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/testutil/testbin"
)

// tarOf builds a tar of directories (names ending in /), files (name=content) and
// symbolic links (name->target).
func tarOf(t *testing.T, entries ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e, Typeflag: tar.TypeDir, Mode: 0o755}
		var body string
		if name, target, ok := strings.Cut(e, "->"); ok {
			h = &tar.Header{Name: name, Linkname: target, Typeflag: tar.TypeSymlink, Mode: 0o777}
		} else if name, content, ok := strings.Cut(e, "="); ok {
			h = &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))}
			body = content
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestImageHostileInputExit2: names outside the reference grammar, unsafe
// members, tampered blobs and bombs are bad input: one line, exit 2, and the
// store holds no image afterwards.
func TestImageHostileInputExit2(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.tar", tarOf(t, "bin/", "etc/", "etc/motd=hello from the genuine image\n"))
	// An OCI layout tar with a member outside the tree.
	layoutDir := filepath.Join(dir, "layout")
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(tarOf(t, "bin/", "etc/motd=hello from the genuine image\n"), types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	var members []string
	filepath.Walk(layoutDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == layoutDir {
			return err
		}
		rel, _ := filepath.Rel(layoutDir, p)
		if fi.IsDir() {
			members = append(members, rel+"/")
		} else {
			data, _ := os.ReadFile(p)
			members = append(members, rel+"="+string(data))
		}
		return nil
	})
	badLayoutTar := write("bad-layout.tar", tarOf(t, append(members, "../../escaped=x")...))
	// The same layout with its layer blob changed in place (same size).
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(layoutDir, "blobs", "sha256", m.Layers[0].Digest.Hex)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, bytes.Replace(data, []byte("genuine"), []byte("evil!!!"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	// 64 MiB of zeros in a small gzip.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: 64 << 20})
	tw.Write(make([]byte, 64<<20))
	tw.Close()
	zw.Close()
	bombFile := write("bomb.tar.gz", bomb.Bytes())

	cases := map[string]struct {
		args []string
		want string
	}{
		"name a..b":       {[]string{"image", "import", good, "--name", "a..b"}, `bad image name "a..b"`},
		"name a-":         {[]string{"image", "import", good, "--name", "a-"}, "docker/OCI image reference"},
		"name a_":         {[]string{"image", "import", good, "--name", "a_"}, "docker/OCI image reference"},
		"name a___b":      {[]string{"image", "import", good, "--name", "a___b"}, "docker/OCI image reference"},
		"name a.-b":       {[]string{"image", "import", good, "--name", "a.-b"}, "docker/OCI image reference"},
		"bad layout tar":  {[]string{"image", "import", badLayoutTar}, `member "../../escaped": path leaves the tree`},
		"escaping rootfs": {[]string{"image", "import", write("escape.tar", tarOf(t, "bin/", "../escaped=x"))}, `member "../escaped": path leaves the tree`},
		"link rootfs":     {[]string{"image", "import", write("link.tar", tarOf(t, "bin/", "evil->/etc", "evil/passwd=x"))}, `writes through the symbolic link "evil"`},
		"absolute rootfs": {[]string{"image", "import", write("abs.tar", tarOf(t, "bin/", "/etc/pwned=x"))}, "absolute path"},
		"tampered layout": {[]string{"image", "import", layoutDir}, "image content does not match its digest"},
		"bomb":            {[]string{"image", "import", bombFile, "--max-size", "16MiB"}, "unpack to more than 16.0 MiB"},
		"bad max size":    {[]string{"image", "import", good, "--max-size", "lots"}, "--max-size"},
		"bad max entries": {[]string{"image", "import", good, "--max-entries", "0"}, "--max-entries"},
	}
	home := filepath.Join(t.TempDir(), "home")
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := isobenchHome(t, home, tc.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", stderr, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, stderr)
			}
			if out, _, _ := isobenchHome(t, home, "image", "ls"); !strings.HasPrefix(out, "no images") {
				t.Errorf("the refused import left an image:\n%s", out)
			}
		})
	}
}

// TestImageRemoveSaysWhatItRemoved: removing one of two names of an image removes
// only the name, and says so; removing the last removes image and tree.
func TestImageRemoveSaysWhatItRemoved(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	src := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imagetest.MakeBusyboxRootFS(src); err != nil {
		t.Skipf("cannot make the busybox tree: %v", err)
	}
	for _, name := range []string{"a", "b"} {
		if _, stderr, code := isobenchHome(t, home, "image", "import", src, "--name", name); code != 0 {
			t.Fatalf("import %s: exit %d: %s", name, code, stderr)
		}
	}
	out, _, _ := isobenchHome(t, home, "image", "ls")
	fields := strings.Fields(strings.Split(out, "\n")[1])
	short := fields[1]
	stdout, stderr, code := isobenchHome(t, home, "image", "rm", short)
	if code != 2 || !strings.Contains(stderr, "is named a, b: remove the images by name") {
		t.Errorf("rm by a shared digest: exit %d, %q %q", code, stdout, stderr)
	}
	stdout, stderr, code = isobenchHome(t, home, "image", "rm", "a")
	if want := "removed name a; image " + short + " kept: still named b\n"; code != 0 || stdout != want {
		t.Errorf("rm a: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	stdout, stderr, code = isobenchHome(t, home, "image", "rm", "b")
	if want := "removed image b " + short + " (no unpacked root filesystem)\n"; code != 0 || stdout != want {
		t.Errorf("rm b: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
}

// TestImageStoreOfAnotherUser: another user cannot use (or read) root's store;
// they are told so in one line, exit 2.
func TestImageStoreOfAnotherUser(t *testing.T) {
	needRoot(t)
	// t.TempDir's parents are 0700: make one nobody can reach.
	top, err := os.MkdirTemp("", "isobench-image-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(top, "home")
	if _, stderr, code := isobenchHome(t, home, "image", "ls"); code != 0 {
		t.Fatalf("image ls as root: exit %d: %s", code, stderr)
	}
	cmd := exec.Command(testbin.Build(t), "--home", home, "image", "ls")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "belongs to user 0, not to 65534") || strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
		t.Errorf("image ls as nobody: %v, output %q; want exit 2 with one line saying whose store it is", err, out)
	}
}
