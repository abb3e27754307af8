package image_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/image/imagetest"
)

func needBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (install busybox-static)")
	}
}

func openStore(t *testing.T) *image.Store {
	t.Helper()
	s, err := image.Open(filepath.Join(t.TempDir(), "home"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// busyboxDir makes a busybox root filesystem directory.
func busyboxDir(t *testing.T) string {
	t.Helper()
	needBusybox(t)
	dir := filepath.Join(t.TempDir(), "busybox-rootfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := imagetest.MakeBusyboxRootFS(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// busyboxV1 makes a go-containerregistry image whose one layer is the busybox tree,
// the way another tool would, to feed the docker-archive and OCI layout importers.
func busyboxV1(t *testing.T, dir string) v1.Image {
	t.Helper()
	layerTar := filepath.Join(t.TempDir(), "layer.tar")
	run(t, "tar", "--numeric-owner", "-C", dir, "-cf", layerTar, ".")
	layer, err := tarball.LayerFromFile(layerTar)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"/bin/sh"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// checkBusyboxTree checks an unpacked busybox image: busybox runs, applet links
// point at it, files have their content.
func checkBusyboxTree(t *testing.T, img *image.Image) {
	t.Helper()
	ctx := context.Background()
	root, err := img.RootFS(ctx)
	if err != nil {
		t.Fatalf("RootFS: %v", err)
	}
	if want := filepath.Join(filepath.Dir(root), strings.TrimPrefix(img.Digest, "sha256:")+".v2"); root != want {
		t.Errorf("RootFS = %s, want %s", root, want)
	}
	out, err := exec.Command(filepath.Join(root, "bin", "busybox"), "echo", "hello from the image").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello from the image" {
		t.Errorf("running the image's busybox: %v: %q", err, out)
	}
	for _, applet := range []string{"sh", "echo", "cat", "sleep", "true", "ls"} {
		target, err := os.Readlink(filepath.Join(root, "bin", applet))
		if err != nil || target != "busybox" {
			t.Errorf("bin/%s: link to %q (%v), want busybox", applet, target, err)
		}
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil || !strings.HasPrefix(string(passwd), "root:x:0:0:") {
		t.Errorf("etc/passwd = %q, %v", passwd, err)
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("root directory mode: %v, %v; want 0755", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp lost its sticky bit: %v, %v", fi.Mode(), err)
	}
	for tool, want := range map[string]bool{"sh": true, "busybox": true, "sysbench": false} {
		got, err := img.HasTool(ctx, tool)
		if err != nil || got != want {
			t.Errorf("HasTool(%s) = %v, %v; want %v", tool, got, err, want)
		}
	}
}

func TestImportEachFormat(t *testing.T) {
	dir := busyboxDir(t)
	src := t.TempDir()
	ref, err := name.NewTag("isobench-busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	v := busyboxV1(t, dir)

	dockerArchive := filepath.Join(src, "busybox-docker.tar")
	if err := tarball.WriteToFile(dockerArchive, ref, v); err != nil {
		t.Fatal(err)
	}
	dockerArchiveGz := filepath.Join(src, "busybox-docker-gz.tar.gz")
	run(t, "sh", "-c", "gzip -c "+dockerArchive+" > "+dockerArchiveGz)
	ociDir := filepath.Join(src, "busybox-oci")
	lp, err := layout.Write(ociDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(v); err != nil {
		t.Fatal(err)
	}
	ociTar := filepath.Join(src, "busybox-oci.tar")
	run(t, "tar", "-C", ociDir, "-cf", ociTar, ".")
	rootfsTarGz := filepath.Join(src, "Busybox RootFS.tar.gz")
	run(t, "tar", "--numeric-owner", "-C", dir, "-czf", rootfsTarGz, ".")
	rootfsTar := filepath.Join(src, "busybox-rootfs-plain.tar")
	run(t, "tar", "--numeric-owner", "-C", dir, "-cf", rootfsTar, ".")

	cases := []struct {
		src, name, wantName, wantFormat string
	}{
		{dockerArchive, "", "busybox-docker", image.FormatDockerArchive},
		{dockerArchiveGz, "", "busybox-docker-gz", image.FormatDockerArchive},
		{ociDir, "oci", "oci", image.FormatOCILayout},
		{ociTar, "", "busybox-oci", image.FormatOCILayoutTar},
		{dir, "", "busybox-rootfs", image.FormatRootFSDir},
		{rootfsTarGz, "", "busybox-rootfs", image.FormatRootFSTar}, // replaces the directory import
		{rootfsTar, "plain", "plain", image.FormatRootFSTar},
	}
	s := openStore(t)
	for _, c := range cases {
		t.Run(filepath.Base(c.src), func(t *testing.T) {
			img, err := s.Import(context.Background(), c.src, c.name)
			if err != nil {
				t.Fatalf("Import(%s): %v", c.src, err)
			}
			if img.Name != c.wantName {
				t.Errorf("name = %q, want %q", img.Name, c.wantName)
			}
			if !strings.HasPrefix(img.Source, c.wantFormat+" ") {
				t.Errorf("source = %q, want format %s", img.Source, c.wantFormat)
			}
			if img.Size <= 0 || img.Created.IsZero() || !strings.HasPrefix(img.Digest, "sha256:") {
				t.Errorf("image facts missing: %+v", img)
			}
			checkBusyboxTree(t, img)
		})
	}

	images, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, img := range images {
		names = append(names, img.Name)
	}
	if got, want := strings.Join(names, ","), "busybox-docker,busybox-docker-gz,busybox-oci,busybox-rootfs,oci,plain"; got != want {
		t.Errorf("List names = %s, want %s", got, want)
	}
	// The docker archive and the OCI layout hold the same image, so the same layers.
	docker, _ := s.Get("busybox-docker")
	oci, _ := s.Get("oci")
	if docker != nil && oci != nil {
		dl, ol := layerDiffIDs(t, docker), layerDiffIDs(t, oci)
		if dl != ol {
			t.Errorf("docker-archive and OCI layout imports of one image differ in layers: %s vs %s", dl, ol)
		}
	}
}

func layerDiffIDs(t *testing.T, img *image.Image) string {
	t.Helper()
	v, err := img.V1()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := v.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range cf.RootFS.DiffIDs {
		ids = append(ids, d.String())
	}
	return strings.Join(ids, ",")
}

func TestDockerArchiveRoundTrip(t *testing.T) {
	s := openStore(t)
	img, err := s.Import(context.Background(), busyboxDir(t), "bb")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "bb.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.WriteDockerArchive(f, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(archive) })
	if err != nil {
		t.Fatalf("reading written archive: %v", err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != img.DockerTag() {
		t.Errorf("archive manifest = %+v, want one image tagged %s", m, img.DockerTag())
	}
	back, err := s.Import(context.Background(), archive, "bb-back")
	if err != nil {
		t.Fatal(err)
	}
	want, got := layerDiffIDs(t, img), layerDiffIDs(t, back)
	if got != want {
		t.Errorf("layers after docker archive round trip = %s, want %s", got, want)
	}
	checkBusyboxTree(t, back)
	if err := img.WriteDockerArchive(f, "Not A Tag!"); err == nil {
		t.Error("WriteDockerArchive accepted a bad tag")
	}
}

func TestImportErrors(t *testing.T) {
	s := openStore(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A truncated gzip tar: the first half of a real one.
	good := filepath.Join(dir, "good.tar.gz")
	run(t, "tar", "-C", busyboxDir(t), "-czf", good, ".")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// A plain tar cut in the middle of busybox's content.
	goodTar := filepath.Join(dir, "good.tar")
	run(t, "tar", "-C", busyboxDir(t), "-cf", goodTar, "./bin/busybox", "./etc")
	tarData, err := os.ReadFile(goodTar)
	if err != nil {
		t.Fatal(err)
	}
	unrelated := filepath.Join(dir, "unrelated")
	if err := os.MkdirAll(filepath.Join(unrelated, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	unrelatedTar := filepath.Join(dir, "unrelated.tar")
	run(t, "tar", "-C", unrelated, "-cf", unrelatedTar, ".")
	brokenLayout := filepath.Join(dir, "broken-layout")
	if err := os.MkdirAll(brokenLayout, 0o755); err != nil {
		t.Fatal(err)
	}
	write("broken-layout/oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	write("broken-layout/index.json", []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+strings.Repeat("a", 64)+`","size":10}]}`))

	cases := []struct {
		name, src string
		want      error
		text      string
	}{
		{"truncated gzip", write("truncated.tar.gz", data[:len(data)/2]), image.ErrUnknownFormat, "corrupt"},
		{"truncated tar", write("truncated.tar", tarData[:len(tarData)/2]), image.ErrUnknownFormat, "corrupt or truncated"},
		{"random bytes", write("random.bin", []byte(strings.Repeat("not an image at all\n", 100))), image.ErrUnknownFormat, "not a tar archive"},
		{"empty file", write("empty.tar", nil), image.ErrUnknownFormat, "not a tar archive"},
		{"unrelated tar", unrelatedTar, image.ErrUnknownFormat, "no manifest.json"},
		{"unrelated dir", unrelated, image.ErrUnknownFormat, "neither an oci-layout"},
		{"layout with missing blob", brokenLayout, image.ErrUnknownFormat, "OCI layout"},
		{"missing", filepath.Join(dir, "no-such-file.tar"), image.ErrNoSource, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Import(context.Background(), c.src, "x")
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("Import(%s) error = %v; want %v mentioning %q", c.src, err, c.want, c.text)
			}
			if c.want == image.ErrUnknownFormat && !strings.Contains(err.Error(), image.Formats) {
				t.Errorf("error does not name the formats: %v", err)
			}
		})
	}
	if _, err := s.Import(context.Background(), good, "Bad Name"); !errors.Is(err, image.ErrBadName) {
		t.Errorf("bad name: error = %v, want ErrBadName", err)
	}
	if images, err := s.List(); err != nil || len(images) != 0 {
		t.Errorf("failed imports left images: %v, %v", images, err)
	}
	if left, _ := os.ReadDir(filepath.Join(s.Home(), "tmp")); len(left) != 0 {
		t.Errorf("failed imports left temp files: %v", left)
	}
}

func TestNameFromPath(t *testing.T) {
	for in, want := range map[string]string{
		"/x/alpine.tar":         "alpine",
		"Busybox RootFS.tar.gz": "busybox-rootfs",
		"dir/layout/":           "layout",
		"rootfs.tgz":            "rootfs",
		"...":                   "imported",
		"/srv/ubuntu-24.04.oci": "ubuntu-24.04",
		"a___b.tar":             "a-b",
		"x-.tar":                "x",
		"a.-b":                  "a-b",
		"a..b.tgz":              "a-b",
		"__init__":              "init",
		"Ünïcode.tar":           "n-code",
	} {
		if got := image.NameFromPath(in); got != want {
			t.Errorf("NameFromPath(%q) = %q, want %q", in, got, want)
		}
		if err := image.CheckName(image.NameFromPath(in)); err != nil {
			t.Errorf("NameFromPath(%q) gives an invalid name: %v", in, err)
		}
	}
}
