package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/isobench/isobench/internal/image"
)

// member is one entry of a tar a test builds.
type member struct {
	name, body, link string
	typ              byte
	mode             int64
}

func file(name, body string) member {
	return member{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func dirm(name string) member { return member{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) member {
	return member{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, target string) member {
	return member{name: name, link: target, typ: tar.TypeLink, mode: 0o644}
}

func tarBytes(t *testing.T, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Linkname: m.link, Typeflag: m.typ, Mode: m.mode, Size: int64(len(m.body)), Format: tar.FormatPAX}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, p string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// imageOf makes an image of the given layer tars, uncompressed (static layers, so
// a test can change bytes in place) or gzip-compressed.
func imageOf(t *testing.T, gz bool, layers ...[]byte) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range layers {
		var layer v1.Layer
		if gz {
			layer = static.NewLayer(gzipBytes(t, l), types.OCILayer)
		} else {
			layer = static.NewLayer(l, types.OCIUncompressedLayer)
		}
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "test"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	// static layers have no diff ID of their own when compressed: fix the config.
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.RootFS.DiffIDs = nil
	for _, l := range layers {
		h, _, err := v1.SHA256(bytes.NewReader(l))
		if err != nil {
			t.Fatal(err)
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, h)
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeLayout(t *testing.T, dir string, img v1.Image) string {
	t.Helper()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeDockerArchive(t *testing.T, p string, img v1.Image) string {
	t.Helper()
	ref, err := name.NewTag("hostile:test")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(p, ref, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// treeState describes every file below dir (path, type, mode, size, link target)
// so that a test can tell that nothing changed.
func treeState(t *testing.T, dir string, skip ...string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		for _, s := range skip {
			if rel == s {
				return filepath.SkipDir
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", rel, fi.Mode(), fi.Size())
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			line += " " + string(data)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// hostileSetup is a store, a canary directory outside it that hostile archives
// aim at, and a function that checks neither changed.
type hostileSetup struct {
	store   *image.Store
	outside string
	check   func(t *testing.T)
}

func newHostileSetup(t *testing.T) hostileSetup {
	t.Helper()
	s := openStore(t)
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.MkdirAll(filepath.Join(outside, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(outside, "canary"), []byte("untouched"))
	storeBefore := treeState(t, s.Home(), "locks")
	outsideBefore := treeState(t, outside)
	return hostileSetup{store: s, outside: outside, check: func(t *testing.T) {
		t.Helper()
		if got := treeState(t, outside); got != outsideBefore {
			t.Errorf("the directory outside the store changed:\n%s\nwant:\n%s", got, outsideBefore)
		}
		if got := treeState(t, s.Home(), "locks"); got != storeBefore {
			t.Errorf("the store changed after a refused import:\n%s\nwant:\n%s", got, storeBefore)
		}
	}}
}

// hostileLayers are layer tars that must be refused, each with the words the
// refusal must hold. outside is an absolute directory the archives aim at.
func hostileLayers(t *testing.T, outside string) map[string]struct {
	members []member
	want    string
} {
	up := strings.Repeat("../", 12) + strings.TrimPrefix(outside, "/")
	base := []member{dirm("bin/"), file("bin/sh", "#!/bin/sh\n")}
	with := func(ms ...member) []member { return append(append([]member(nil), base...), ms...) }
	return map[string]struct {
		members []member
		want    string
	}{
		"dotdot":             {with(file(up+"/pwned", "x")), `member "` + up + `/pwned": path leaves the tree ("..")`},
		"dotdot inside":      {with(file("bin/../../pwned", "x")), `member "bin/../../pwned": path leaves the tree ("..")`},
		"absolute":           {with(file(outside+"/pwned", "x")), `member "` + outside + `/pwned": absolute path`},
		"symlink escape":     {with(symlink("bin/up", "../../../../..")), `member "bin/up": symbolic link to "../../../../.." leaves the tree`},
		"write through link": {with(symlink("evil", outside), file("evil/pwned", "x")), `member "evil/pwned": writes through the symbolic link "evil"`},
		"dir through link":   {with(symlink("evil", outside), dirm("evil/sub/")), `member "evil/sub/": writes through the symbolic link "evil"`},
		"hardlink dotdot":    {with(hardlink("bin/hl", up+"/canary")), `member "bin/hl": hard link to "` + up + `/canary": path leaves the tree ("..")`},
		"hardlink absolute":  {with(hardlink("bin/hl", outside+"/canary")), `member "bin/hl": hard link to "` + outside + `/canary": absolute path`},
		"hardlink via link":  {with(symlink("evil", outside), hardlink("bin/hl", "evil/canary")), `member "bin/hl": hard link to "evil/canary" goes through "evil", which is not a directory`},
		"hardlink to link":   {with(symlink("bin/l", "sh"), hardlink("bin/hl", "bin/l")), `member "bin/hl": hard link to "bin/l", which is not a regular file earlier in the archive`},
		"hardlink missing":   {with(hardlink("bin/hl", "bin/later")), `member "bin/hl": hard link to "bin/later", which is not a regular file earlier in the archive`},
		"bad whiteout":       {with(file("bin/.wh..", "")), `member "bin/.wh..": whiteout of no valid name`},
		"file as parent":     {with(file("bin/sh/x", "x")), `member "bin/sh/x": its parent "bin/sh" is not a directory`},
	}
}

// TestImportRefusesUnsafeMembers feeds each hostile layer through every import
// format: refused at import with ErrUnsafeContent and the exact reason, nothing
// written outside the store, nothing added to it.
func TestImportRefusesUnsafeMembers(t *testing.T) {
	h := newHostileSetup(t)
	src := t.TempDir()
	for name, c := range hostileLayers(t, h.outside) {
		layer := tarBytes(t, c.members...)
		slug := strings.ReplaceAll(name, " ", "-")
		layoutDir := writeLayout(t, filepath.Join(src, slug+"-layout"), imageOf(t, true, layer))
		layoutTar := filepath.Join(src, slug+"-layout.tar")
		run(t, "tar", "-C", layoutDir, "-cf", layoutTar, ".")
		sources := map[string]string{
			"rootfs tar":     writeFile(t, filepath.Join(src, slug+".tar"), layer),
			"rootfs tar.gz":  writeFile(t, filepath.Join(src, slug+".tar.gz"), gzipBytes(t, layer)),
			"docker archive": writeDockerArchive(t, filepath.Join(src, slug+"-docker.tar"), imageOf(t, true, layer)),
			"oci layout":     layoutDir,
			"oci layout tar": layoutTar,
		}
		for format, p := range sources {
			t.Run(name+"/"+format, func(t *testing.T) {
				_, err := h.store.Import(context.Background(), p, "hostile")
				if !errors.Is(err, image.ErrUnsafeContent) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Import error = %v\nwant ErrUnsafeContent saying %s", err, c.want)
				}
				h.check(t)
			})
		}
	}
}

// TestImportRefusesUnsafeAcrossLayers: a lower layer plants a link, an upper one
// writes through it.
func TestImportRefusesUnsafeAcrossLayers(t *testing.T) {
	h := newHostileSetup(t)
	lower := tarBytes(t, dirm("bin/"), symlink("etc", h.outside))
	upper := tarBytes(t, file("etc/canary", "pwned"))
	dir := writeLayout(t, filepath.Join(t.TempDir(), "layout"), imageOf(t, true, lower, upper))
	_, err := h.store.Import(context.Background(), dir, "hostile")
	if want := `layer 2 of 2: unsafe image content: member "etc/canary": writes through the symbolic link "etc"`; !errors.Is(err, image.ErrUnsafeContent) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Import error = %v\nwant %s", err, want)
	}
	h.check(t)
}

// TestImportRefusesUnsafeLayoutTar: the OCI layout archive itself holds bad members.
func TestImportRefusesUnsafeLayoutTar(t *testing.T) {
	h := newHostileSetup(t)
	good := writeLayout(t, filepath.Join(t.TempDir(), "layout"), imageOf(t, true, tarBytes(t, dirm("bin/"), file("bin/sh", "x"))))
	read := func(p string) string {
		data, err := os.ReadFile(filepath.Join(good, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	blobs, err := os.ReadDir(filepath.Join(good, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	base := []member{file("oci-layout", read("oci-layout")), file("index.json", read("index.json")), dirm("blobs/"), dirm("blobs/sha256/")}
	var blobMembers []member
	for _, b := range blobs {
		blobMembers = append(blobMembers, file("blobs/sha256/"+b.Name(), read("blobs/sha256/"+b.Name())))
	}
	first := "blobs/sha256/" + blobs[0].Name()
	cases := map[string]struct {
		members []member
		want    string
	}{
		"dotdot":    {append(append(base, blobMembers...), file("../../pwned", "x")), `member "../../pwned": path leaves the tree ("..")`},
		"absolute":  {append(append(base, blobMembers...), file(h.outside+"/pwned", "x")), `member "` + h.outside + `/pwned": absolute path`},
		"symlink":   {append(append(base, blobMembers[1:]...), symlink(first, "/etc/passwd")), `member "` + first + `": an OCI layout holds only directories and regular files, not type "2"`},
		"hardlink":  {append(append(base, blobMembers...), hardlink("blobs/sha256/extra", first)), `member "blobs/sha256/extra": an OCI layout holds only directories and regular files, not type "1"`},
		"twice":     {append(append(base, blobMembers...), blobMembers[0]), `member "` + first + `": appears twice`},
		"via link":  {append(append(base, symlink("blobs/x", h.outside)), file("blobs/x/pwned", "x")), `member "blobs/x/pwned": writes through the symbolic link "blobs/x"`},
		"link leak": {append(append(base, blobMembers...), symlink("up", "../../..")), `member "up": symbolic link to "../../.." leaves the tree`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(t.TempDir(), "layout.tar"), tarBytes(t, c.members...))
			_, err := h.store.Import(context.Background(), p, "hostile")
			if !errors.Is(err, image.ErrUnsafeContent) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Import error = %v\nwant ErrUnsafeContent saying %s", err, c.want)
			}
			h.check(t)
		})
	}
}

// TestImportNeverFollowsLinksInLayoutDir: a layout directory whose blob or index is
// a symbolic link (to the genuine content even) or a FIFO is refused, not followed.
func TestImportNeverFollowsLinksInLayoutDir(t *testing.T) {
	h := newHostileSetup(t)
	img := imageOf(t, true, tarBytes(t, dirm("bin/"), file("bin/sh", "x")))
	layer, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := layer[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, file, want string }{
		{"blob link", "blobs/sha256/" + ld.Hex, "blobs/sha256/" + ld.Hex + " is a symbolic link"},
		{"index link", "index.json", "index.json is a symbolic link"},
		{"blobs dir link", "blobs", "blobs is a symbolic link or not a directory"},
		{"blob fifo", "blobs/sha256/" + ld.Hex, "is not a regular file (p"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeLayout(t, filepath.Join(t.TempDir(), "layout"), img)
			p := filepath.Join(dir, c.file)
			elsewhere := filepath.Join(t.TempDir(), "moved")
			if err := os.Rename(p, elsewhere); err != nil {
				t.Fatal(err)
			}
			if c.name == "blob fifo" {
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Symlink(elsewhere, p); err != nil {
				t.Fatal(err)
			}
			_, err := h.store.Import(context.Background(), dir, "hostile")
			if !errors.Is(err, image.ErrUnsafeContent) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Import error = %v\nwant ErrUnsafeContent saying %s", err, c.want)
			}
			h.check(t)
		})
	}
}

// replaceOnce replaces old by new (same length) in the file at p, once.
func replaceOnce(t *testing.T, p, old, new string) {
	t.Helper()
	if len(old) != len(new) {
		t.Fatal("replacement must keep the size")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(data, []byte(old)) != 1 {
		t.Fatalf("%s holds %q %d times, want once", p, old, bytes.Count(data, []byte(old)))
	}
	writeFile(t, p, bytes.Replace(data, []byte(old), []byte(new), 1))
}

const genuineMotd = "hello from the genuine image\n"

func genuineLayer(t *testing.T) []byte {
	return tarBytes(t, dirm("bin/"), dirm("etc/"), file("etc/motd", genuineMotd))
}

func blobPath(dir string, h v1.Hash) string { return filepath.Join(dir, "blobs", "sha256", h.Hex) }

// TestImportRefusesTamperedLayout swaps blobs of a layout for other content of the
// same size: refused with ErrDigestMismatch, nothing stored.
func TestImportRefusesTamperedLayout(t *testing.T) {
	h := newHostileSetup(t)
	plain := imageOf(t, false, genuineLayer(t))
	gz := imageOf(t, true, genuineLayer(t))
	digestOf := func(img v1.Image, what string) v1.Hash {
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		switch what {
		case "layer":
			return m.Layers[0].Digest
		case "config":
			return m.Config.Digest
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name   string
		img    v1.Image
		tamper func(dir string)
		want   string
	}{
		{"uncompressed layer, same size, valid tar", plain, func(dir string) {
			replaceOnce(t, blobPath(dir, digestOf(plain, "layer")), "genuine", "evil!!!")
		}, "layer 1 of 1 is sha256:"},
		{"gzip layer swapped for random bytes", gz, func(dir string) {
			p := blobPath(dir, digestOf(gz, "layer"))
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, bytes.Repeat([]byte{0x1f, 0x8b, 0x42}, int(fi.Size()))[:fi.Size()])
		}, "layer 1 of 1 is sha256:"},
		{"config", plain, func(dir string) {
			replaceOnce(t, blobPath(dir, digestOf(plain, "config")), "amd64", "arm64")
		}, "the application/vnd.oci.image.config.v1+json blob is sha256:"},
		{"manifest", plain, func(dir string) {
			replaceOnce(t, blobPath(dir, digestOf(plain, "manifest")), "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tax")
		}, "the application/vnd.oci.image.manifest.v1+json blob is sha256:"},
	}
	for _, c := range cases {
		for _, asTar := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/tar=%v", c.name, asTar), func(t *testing.T) {
				dir := writeLayout(t, filepath.Join(t.TempDir(), "layout"), c.img)
				c.tamper(dir)
				src := dir
				if asTar {
					src = filepath.Join(t.TempDir(), "layout.tar")
					run(t, "tar", "-C", dir, "-cf", src, ".")
				}
				_, err := h.store.Import(context.Background(), src, "tampered")
				if !errors.Is(err, image.ErrDigestMismatch) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Import error = %v\nwant ErrDigestMismatch saying %s", err, c.want)
				}
				h.check(t)
			})
		}
	}
	t.Run("docker archive layer", func(t *testing.T) {
		p := writeDockerArchive(t, filepath.Join(t.TempDir(), "docker.tar"), plain)
		replaceOnce(t, p, "genuine", "evil!!!")
		_, err := h.store.Import(context.Background(), p, "tampered")
		if want := "layer 1 of 1 unpacks to sha256:"; !errors.Is(err, image.ErrDigestMismatch) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Import error = %v\nwant ErrDigestMismatch saying %s", err, want)
		}
		h.check(t)
	})
}

// TestStoreNeverReusesUnverifiedContent: content in the store that does not match
// its digest (a damaged blob, a tree unpacked by an older isobench) is never used:
// unpacking refuses it, and importing the genuine image replaces it.
func TestStoreNeverReusesUnverifiedContent(t *testing.T) {
	s := openStore(t)
	img := imageOf(t, false, genuineLayer(t))
	dir := writeLayout(t, filepath.Join(t.TempDir(), "layout"), img)
	stored, err := s.Import(context.Background(), dir, "genuine")
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(stored.Digest, "sha256:")
	// What an attacker (or an older isobench that did not verify) left: a tampered
	// blob under the genuine digest and a tree unpacked from it.
	storeBlob := blobPath(filepath.Join(s.Home(), "images"), m.Layers[0].Digest)
	replaceOnce(t, storeBlob, "genuine", "evil!!!")
	oldTree := filepath.Join(s.Home(), "rootfs", hex)
	if err := os.MkdirAll(filepath.Join(oldTree, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(oldTree, "etc", "motd"), []byte("hello from the evil!!! image\n"))

	if root, err := stored.RootFS(context.Background()); !errors.Is(err, image.ErrDigestMismatch) {
		t.Fatalf("RootFS over a tampered blob = %s, %v; want ErrDigestMismatch", root, err)
	}
	if left, _ := filepath.Glob(filepath.Join(s.Home(), "rootfs", ".unpack-*")); len(left) != 0 {
		t.Errorf("refused unpack left %v", left)
	}
	again, err := s.Import(context.Background(), dir, "genuine")
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != stored.Digest {
		t.Fatalf("genuine re-import digest %s, first %s", again.Digest, stored.Digest)
	}
	data, err := os.ReadFile(storeBlob)
	if err != nil || !bytes.Contains(data, []byte(genuineMotd)) {
		t.Errorf("the store still holds the tampered blob after the genuine import (%v)", err)
	}
	root, err := again.RootFS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if motd, err := os.ReadFile(filepath.Join(root, "etc", "motd")); err != nil || string(motd) != genuineMotd {
		t.Errorf("unpacked motd = %q, %v; want the genuine one", motd, err)
	}
	if _, err := os.Stat(oldTree); !os.IsNotExist(err) {
		t.Errorf("the unverified tree %s is still there: %v", oldTree, err)
	}
}

// writeBomb writes a gzip-compressed rootfs tar holding one file of size zero
// bytes: about 1 MiB on disk per GiB inside.
func writeBomb(t *testing.T, p string, size int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeroReader{}, size); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestImportRefusesBombs: a 1 MiB gzip holding 1 GiB is refused under the default
// limit, smaller bombs under a configured one, in every format, as is an archive
// with too many members; nothing is left behind.
func TestImportRefusesBombs(t *testing.T) {
	h := newHostileSetup(t)
	src := t.TempDir()
	big := filepath.Join(src, "bomb-1g.tar.gz")
	writeBomb(t, big, 1<<30)
	if fi, err := os.Stat(big); err != nil || fi.Size() > 2<<20 {
		t.Fatalf("bomb is %v bytes (%v), want about 1 MiB", fi.Size(), err)
	}
	if h.store.Limits != image.DefaultLimits || image.DefaultLimits.MaxBytes != 1<<30 {
		t.Fatalf("store limits %+v, want the defaults of 1 GiB", h.store.Limits)
	}
	_, err := h.store.Import(context.Background(), big, "bomb")
	if want := "image too large: the archive unpack to more than 1.0 GiB (raise the limit with --max-size"; !errors.Is(err, image.ErrTooLarge) || !strings.Contains(err.Error(), want) {
		t.Fatalf("1 GiB bomb: error = %v\nwant ErrTooLarge saying %s", err, want)
	}
	h.check(t)

	// Smaller bombs against a configured limit, wrapped in every format.
	h.store.Limits = image.Limits{MaxBytes: 16 << 20, MaxEntries: image.DefaultMaxEntries}
	small := filepath.Join(src, "bomb-64m.tar.gz")
	writeBomb(t, small, 64<<20)
	data, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	layer := static.NewLayer(data, types.OCILayer)
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	layoutDir := writeLayout(t, filepath.Join(src, "bomb-layout"), img)
	layoutTar := filepath.Join(src, "bomb-layout.tar")
	run(t, "tar", "-C", layoutDir, "-cf", layoutTar, ".")
	for format, c := range map[string]struct{ src, want string }{
		"rootfs tar.gz":  {small, "the archive unpack to more than 16.0 MiB"},
		"oci layout":     {layoutDir, "the image's layers unpack to more than 16.0 MiB"},
		"oci layout tar": {layoutTar, "the image's layers unpack to more than 16.0 MiB"},
		"docker archive": {writeDockerArchive(t, filepath.Join(src, "bomb-docker.tar"), img), "the image's layers unpack to more than 16.0 MiB"},
	} {
		t.Run(format, func(t *testing.T) {
			_, err := h.store.Import(context.Background(), c.src, "bomb")
			if !errors.Is(err, image.ErrTooLarge) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v\nwant ErrTooLarge saying %s", err, c.want)
			}
			h.check(t)
		})
	}

	t.Run("sparse", func(t *testing.T) {
		// 2 GiB of holes in a 10 KiB archive: the file sizes count, not the archive's.
		h.store.Limits = image.DefaultLimits
		tree := filepath.Join(t.TempDir(), "tree")
		if err := os.MkdirAll(filepath.Join(tree, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(tree, "bin", "sparse"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(2 << 30); err != nil {
			t.Fatal(err)
		}
		f.Close()
		p := filepath.Join(t.TempDir(), "sparse.tar")
		run(t, "tar", "--sparse", "-C", tree, "-cf", p, ".")
		if fi, err := os.Stat(p); err != nil || fi.Size() > 1<<20 {
			t.Fatalf("sparse archive is %v bytes (%v), want a few KiB", fi.Size(), err)
		}
		_, err = h.store.Import(context.Background(), p, "sparse")
		if want := "the image's layers unpack to more than 1.0 GiB"; !errors.Is(err, image.ErrTooLarge) || !strings.Contains(err.Error(), want) {
			t.Fatalf("error = %v\nwant ErrTooLarge saying %s", err, want)
		}
		h.check(t)

		// A genuine sparse file within the limit imports and unpacks (written out).
		other := openStore(t)
		if err := os.Truncate(filepath.Join(tree, "bin", "sparse"), 8<<20); err != nil {
			t.Fatal(err)
		}
		small := filepath.Join(t.TempDir(), "small-sparse.tar")
		run(t, "tar", "--sparse", "-C", tree, "-cf", small, ".")
		img, err := other.Import(context.Background(), small, "sparse")
		if err != nil {
			t.Fatal(err)
		}
		root, err := img.RootFS(context.Background())
		if err != nil {
			t.Fatalf("RootFS of an image with a sparse file: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(root, "bin", "sparse")); err != nil || fi.Size() != 8<<20 {
			t.Errorf("unpacked sparse file: %v, %v; want 8 MiB", fi, err)
		}
	})

	t.Run("entries", func(t *testing.T) {
		h.store.Limits = image.Limits{MaxBytes: 1 << 30, MaxEntries: 100}
		ms := []member{dirm("bin/")}
		for i := range 200 {
			ms = append(ms, file(fmt.Sprintf("bin/f%d", i), ""))
		}
		p := writeFile(t, filepath.Join(t.TempDir(), "many.tar"), tarBytes(t, ms...))
		_, err := h.store.Import(context.Background(), p, "many")
		if want := "the archive hold more than 100 entries (raise the limit with --max-entries"; !errors.Is(err, image.ErrTooLarge) || !strings.Contains(err.Error(), want) {
			t.Fatalf("error = %v\nwant ErrTooLarge saying %s", err, want)
		}
		h.check(t)
	})
}

// TestStoreIsPrivate: the store's directories are 0700 (home 0711), an existing
// store made with 0755 is tightened, links and foreign directories are refused, and
// a setuid-root binary from an image is of no use to another user.
func TestStoreIsPrivate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a command as user nobody")
	}
	home := filepath.Join(t.TempDir(), "home")
	// An old store: every directory 0755.
	for _, d := range []string{"images", "rootfs", "tmp", "locks", "run"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := layout.Write(filepath.Join(home, "images"), empty.Index); err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{home}, filepath.Join(home, "images")) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := image.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(home); m != 0o711 {
		t.Errorf("home mode %o, want 711", m)
	}
	for _, d := range []string{"images", "rootfs", "tmp", "locks", "run", "assets"} {
		if m := mode(filepath.Join(home, d)); m != 0o700 {
			t.Errorf("%s mode %o, want 700", d, m)
		}
	}

	// The attack: a setuid-root copy of a shell-capable binary in an image.
	dir := busyboxDir(t)
	suid := filepath.Join(dir, "bin", "suid-busybox")
	data, err := os.ReadFile(filepath.Join(dir, "bin", "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, suid, data)
	if err := os.Chmod(suid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	img, err := s.Import(context.Background(), dir, "suid")
	if err != nil {
		t.Fatal(err)
	}
	root, err := img.RootFS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(filepath.Join(root, "bin", "suid-busybox")); m&os.ModeSetuid != 0 {
		t.Errorf("unpacked copy is still setuid: %v", m)
	}
	if fi, err := os.Stat(filepath.Join(root, "bin", "suid-busybox")); err != nil || fi.Mode()&os.ModeSetuid != 0 {
		t.Errorf("unpacked copy is still setuid: %v, %v", fi.Mode(), err)
	}
	cmd := exec.Command(filepath.Join(root, "bin", "suid-busybox"), "id", "-u")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("user nobody ran the image's binary from the store: %q", out)
	} else if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("user nobody running the image's binary: %v %q, want permission denied", err, out)
	}

	// Links and foreign directories in the home are refused, not followed.
	t.Run("link", func(t *testing.T) {
		h := filepath.Join(t.TempDir(), "home")
		if err := os.MkdirAll(h, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(t.TempDir(), filepath.Join(h, "rootfs")); err != nil {
			t.Fatal(err)
		}
		if _, err := image.Open(h); !errors.Is(err, image.ErrHome) || !strings.Contains(err.Error(), "rootfs is a symbolic link or not a directory") {
			t.Errorf("Open with rootfs a link: %v", err)
		}
	})
	t.Run("foreign", func(t *testing.T) {
		h := filepath.Join(t.TempDir(), "home")
		if err := os.MkdirAll(filepath.Join(h, "tmp"), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(h, "tmp"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := image.Open(h); !errors.Is(err, image.ErrHome) || !strings.Contains(err.Error(), "tmp belongs to user 65534") {
			t.Errorf("Open with tmp owned by nobody: %v", err)
		}
	})
}

// TestReimportRemovesReplacedTree: re-importing a name removes the tree of the
// image it replaced once no image uses it, and keeps a tree another name uses.
func TestReimportRemovesReplacedTree(t *testing.T) {
	s := openStore(t)
	dir := busyboxDir(t)
	first, err := s.Import(context.Background(), dir, "bb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(context.Background(), dir, "other"); err != nil {
		t.Fatal(err)
	}
	firstTree, err := first.RootFS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "etc", "motd"), []byte("second\n"))
	second, err := s.Import(context.Background(), dir, "bb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(firstTree); err != nil {
		t.Errorf("re-import removed the tree that image other still uses: %v", err)
	}
	secondTree, err := second.RootFS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "etc", "motd"), []byte("third\n"))
	if _, err := s.Import(context.Background(), dir, "bb"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secondTree); !os.IsNotExist(err) {
		t.Errorf("re-import left the replaced tree %s: %v", secondTree, err)
	}
	if _, err := os.Stat(firstTree); err != nil {
		t.Errorf("tree of image other gone: %v", err)
	}
	// A digest that two names share cannot be removed by digest.
	if _, err := s.Import(context.Background(), dir, "same"); err != nil {
		t.Fatal(err)
	}
	bb, err := s.Get("bb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(bb.ShortDigest()); !errors.Is(err, image.ErrAmbiguous) || !strings.Contains(err.Error(), "is named bb, same: remove the images by name") {
		t.Errorf("Remove by a shared digest: %v", err)
	}
}

func TestCheckName(t *testing.T) {
	for _, good := range []string{"a", "default", "busybox-test", "ubuntu-24.04", "a.b", "a_b", "a__b", "a---b", "x1", strings.Repeat("a", 128)} {
		if err := image.CheckName(good); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", good, err)
		}
	}
	for _, bad := range []string{"a..b", "a-", "a_", "a___b", "a.-b", "", "-a", ".a", "_a", "A", "a/b", "a:b", "a@b", "a b", strings.Repeat("a", 129)} {
		err := image.CheckName(bad)
		if !errors.Is(err, image.ErrBadName) || !strings.Contains(err.Error(), image.NameGrammar) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName naming the grammar", bad, err)
		}
	}
}

// TestStoreNeverFollowsPlantedLinks: a blob in the store replaced by a symbolic
// link (even to the genuine content) is refused when the image is opened or
// unpacked, and a genuine import replaces it.
func TestStoreNeverFollowsPlantedLinks(t *testing.T) {
	s := openStore(t)
	img := imageOf(t, false, genuineLayer(t))
	dir := writeLayout(t, filepath.Join(t.TempDir(), "layout"), img)
	stored, err := s.Import(context.Background(), dir, "genuine")
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	storeBlob := blobPath(filepath.Join(s.Home(), "images"), m.Layers[0].Digest)
	elsewhere := filepath.Join(t.TempDir(), "blob")
	if err := os.Rename(storeBlob, elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, storeBlob); err != nil {
		t.Fatal(err)
	}
	want := "images/blobs/sha256/" + m.Layers[0].Digest.Hex + " is a symbolic link"
	if _, err := stored.V1(); !errors.Is(err, image.ErrUnsafeContent) || !strings.Contains(err.Error(), want) {
		t.Errorf("V1 with a linked blob: %v; want ErrUnsafeContent saying %s", err, want)
	}
	if _, err := stored.RootFS(context.Background()); !errors.Is(err, image.ErrUnsafeContent) || !strings.Contains(err.Error(), want) {
		t.Errorf("RootFS with a linked blob: %v; want ErrUnsafeContent saying %s", err, want)
	}
	again, err := s.Import(context.Background(), dir, "genuine")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(storeBlob); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("store blob after the genuine import: %v, %v; want a regular file", fi.Mode(), err)
	}
	if _, err := again.RootFS(context.Background()); err != nil {
		t.Errorf("RootFS after the genuine import: %v", err)
	}
}

// TestMountedTreeKeptThenCollected: a replaced image's tree that a run still has
// mounted is kept, and removed by CollectUnused (isobench cleanup) once unmounted.
func TestMountedTreeKeptThenCollected(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: bind mounts the tree")
	}
	s := openStore(t)
	dir := busyboxDir(t)
	first, err := s.Import(context.Background(), dir, "bb")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := first.RootFS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(tree, mnt, "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	mounted := true
	defer func() {
		if mounted {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	}()
	writeFile(t, filepath.Join(dir, "etc", "motd"), []byte("second\n"))
	if _, err := s.Import(context.Background(), dir, "bb"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tree, "bin", "busybox")); err != nil {
		t.Fatalf("re-import removed a tree that is still mounted: %v", err)
	}
	if _, err := image.CollectUnused(s.Home()); err == nil || !strings.Contains(err.Error(), "still mounted at "+mnt) {
		t.Errorf("CollectUnused with the tree mounted: %v", err)
	}
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	removed, err := image.CollectUnused(s.Home())
	if err != nil || len(removed) != 1 || removed[0] != tree {
		t.Errorf("CollectUnused = %v, %v; want [%s]", removed, err, tree)
	}
	if _, err := os.Stat(tree); !os.IsNotExist(err) {
		t.Errorf("tree still there: %v", err)
	}
}

// TestUnpackRefusesTamperedStoreConfig: a config blob changed in the store after
// import is caught when the tree is unpacked.
func TestUnpackRefusesTamperedStoreConfig(t *testing.T) {
	s := openStore(t)
	img := imageOf(t, false, genuineLayer(t))
	stored, err := s.Import(context.Background(), writeLayout(t, filepath.Join(t.TempDir(), "layout"), img), "genuine")
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	replaceOnce(t, blobPath(filepath.Join(s.Home(), "images"), m.Config.Digest), "amd64", "arm64")
	_, err = stored.RootFS(context.Background())
	if want := "the image config is sha256:"; !errors.Is(err, image.ErrDigestMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("RootFS error = %v\nwant ErrDigestMismatch saying %s", err, want)
	}
	if left, _ := os.ReadDir(filepath.Join(s.Home(), "rootfs")); len(left) != 0 {
		t.Errorf("refused unpack left %v", left)
	}
}
