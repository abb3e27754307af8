package image

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestAptURIs(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "a.list")
	sources := filepath.Join(dir, "b.sources")
	if err := os.WriteFile(list, []byte(`# comment
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sources, []byte(`Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.example/debian
Suites: bookworm
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := aptURIs(list), []string{"http://mirror.example/debian", "http://security.example/debian-security"}; !reflect.DeepEqual(got, want) {
		t.Errorf("aptURIs(.list) = %v, want %v", got, want)
	}
	if got, want := aptURIs(sources), []string{"http://deb.example/debian"}; !reflect.DeepEqual(got, want) {
		t.Errorf("aptURIs(.sources) = %v, want %v", got, want)
	}
}

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	must(os.WriteFile(filepath.Join(root, "usr/bin/dash"), nil, 0o755))
	must(os.Symlink("usr/bin", filepath.Join(root, "bin")))              // merged /usr
	must(os.Symlink("/bin/dash", filepath.Join(root, "usr/bin/sh")))     // absolute, via the merged link
	must(os.Symlink("../../../../x", filepath.Join(root, "usr/bin/up"))) // climbs above root
	must(os.Symlink("loop", filepath.Join(root, "usr/bin/loop")))        // endless
	for in, want := range map[string]string{
		"/bin/sh":              filepath.Join(root, "usr/bin/dash"),
		"/usr/bin/../bin/dash": filepath.Join(root, "usr/bin/dash"),
	} {
		got, err := resolveIn(root, in)
		if err != nil || got != want {
			t.Errorf("resolveIn(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := resolveIn(root, "/usr/bin/up"); !os.IsNotExist(err) {
		t.Errorf("link above root: %v, want not-exist inside root", err)
	}
	if _, err := resolveIn(root, "/usr/bin/loop"); err == nil {
		t.Error("symlink loop resolved")
	}
}
