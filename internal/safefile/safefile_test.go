package safefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// victim is a file outside the directory written to, which a planted symlink points at.
func victim(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(p, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func assertUntouched(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "precious" {
		t.Errorf("%s changed: %q, %v", p, b, err)
	}
}

func TestASymlinkAtTheFileIsReplacedNotFollowed(t *testing.T) {
	v := victim(t)
	dir := t.TempDir()
	if err := os.Symlink(v, filepath.Join(dir, "report.html")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dir, "report.html", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertUntouched(t, v)
	st, err := os.Lstat(filepath.Join(dir, "report.html"))
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("report.html is not a regular file now: %v %v", st, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "report.html")); string(b) != "new" {
		t.Errorf("content %q", b)
	}
}

func TestAPlantedTemporaryNameIsNeverUsed(t *testing.T) {
	v := victim(t)
	dir := t.TempDir()
	for _, name := range []string{"report.html.tmp", ".report.html.tmp"} {
		if err := os.Symlink(v, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(dir, "report.html", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertUntouched(t, v)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestASymlinkedDirectoryIsRefused(t *testing.T) {
	target := t.TempDir()
	run := t.TempDir()
	if err := os.Symlink(target, filepath.Join(run, "report")); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(filepath.Join(run, "report"), "report.html", []byte("new"), 0o644)
	if !errors.Is(err, ErrSymlink) {
		t.Errorf("err = %v, want ErrSymlink", err)
	}
	d, err := Open(run, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.Symlink(target, filepath.Join(run, "charts")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sub("charts", 0o755); !errors.Is(err, ErrSymlink) {
		t.Errorf("Sub over a symlink: err = %v, want ErrSymlink", err)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("written through the symlink: %v", entries)
	}
}

func TestNamesMustBePlain(t *testing.T) {
	d, err := Open(t.TempDir(), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"", ".", "..", "../x", "a/b"} {
		if err := d.WriteBytes(name, 0o644, nil); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestAFailedFillLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	boom := errors.New("boom")
	if err := d.Write("x", 0o644, func(w io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestReadFileRefusesASymlink(t *testing.T) {
	v := victim(t)
	dir := t.TempDir()
	if err := os.Symlink(v, filepath.Join(dir, "list")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 11), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if b, err := d.ReadFile("list", 100); !errors.Is(err, ErrSymlink) {
		t.Errorf("read through a symlink: %q, %v", b, err)
	}
	if _, err := d.ReadFile("missing", 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
	if _, err := d.ReadFile("big", 10); err == nil {
		t.Error("an 11-byte file was read with a limit of 10")
	}
	if b, err := d.ReadFile("big", 11); err != nil || len(b) != 11 {
		t.Errorf("read %d bytes, %v", len(b), err)
	}
}

func TestRemoveFileRemovesOnlyRegularFiles(t *testing.T) {
	v := victim(t)
	dir := t.TempDir()
	if err := os.Symlink(v, filepath.Join(dir, "link.png")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old.png"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"link.png", "sub.png", "missing.png"} {
		if removed, err := d.RemoveFile(name); removed || err != nil {
			t.Errorf("RemoveFile(%s) = %v, %v; want it left alone", name, removed, err)
		}
	}
	assertUntouched(t, v)
	if _, err := os.Lstat(filepath.Join(dir, "link.png")); err != nil {
		t.Errorf("the symlink is gone: %v", err)
	}
	if removed, err := d.RemoveFile("old.png"); !removed || err != nil {
		t.Errorf("RemoveFile(old.png) = %v, %v", removed, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "old.png")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old.png is still there: %v", err)
	}
	if _, err := d.RemoveFile("../old.png"); err == nil {
		t.Error("a name with a separator was accepted")
	}
}
