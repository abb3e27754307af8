// Package imagetest gives tests of other packages real images from a cache shared
// by all test packages on a machine, so that the default image is built once.
package imagetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/image"
	"golang.org/x/sys/unix"
)

// EnvHome moves the shared test cache.
const EnvHome = "ISOBENCH_TEST_HOME"

// DefaultHome is the shared test cache unless EnvHome says otherwise.
const DefaultHome = "/var/lib/isobench-test"

// BusyboxName is the name of the image Busybox imports.
const BusyboxName = "busybox-test"

// BusyboxApplets get a symbolic link to /bin/busybox in the test image.
var BusyboxApplets = []string{
	"sh", "ash", "echo", "cat", "sleep", "true", "false", "ls", "mkdir", "rm", "cp", "mv",
	"ln", "env", "id", "ps", "kill", "mount", "umount", "hostname", "uname", "head", "tail",
	"wc", "grep", "sed", "dd", "seq", "date", "printf", "test", "[", "stat", "chmod", "touch",
	"ip", "ifconfig", "ping", "wget", "nc", "httpd", "top", "free", "find", "xargs", "sync",
}

// Home returns the shared test cache directory.
func Home(t testing.TB) string {
	t.Helper()
	if h := os.Getenv(EnvHome); h != "" {
		return h
	}
	return DefaultHome
}

// Store opens the shared test store.
func Store(t testing.TB) *image.Store {
	t.Helper()
	s, err := image.Open(Home(t))
	if err != nil {
		t.Fatalf("opening test image store: %v", err)
	}
	return s
}

// Busybox returns a tiny image made from the host's static /bin/busybox: busybox,
// links for common applets, /etc/passwd and /etc/group. It is imported once and
// then reused.
func Busybox(t testing.TB) *image.Image {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox on this host (install busybox-static): cannot make the busybox test image")
	}
	s := Store(t)
	unlock := lockFile(t, filepath.Join(s.Home(), "imagetest-busybox.lock"))
	defer unlock()
	if img, err := s.Get(BusyboxName); err == nil {
		return img
	} else if !errors.Is(err, image.ErrNotFound) {
		t.Fatalf("looking up %s: %v", BusyboxName, err)
	}
	dir := t.TempDir()
	if err := MakeBusyboxRootFS(dir); err != nil {
		t.Fatal(err)
	}
	img, err := s.Import(context.Background(), dir, BusyboxName)
	if err != nil {
		t.Fatalf("importing busybox test image: %v", err)
	}
	return img
}

// MakeBusyboxRootFS fills dir with a minimal root filesystem around the host's
// static /bin/busybox.
func MakeBusyboxRootFS(dir string) error {
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("making busybox root filesystem: %w", err)
	}
	for _, d := range []string{"bin", "sbin", "etc", "tmp", "proc", "sys", "dev", "root", "var", "usr/bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("making busybox root filesystem: %w", err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky); err != nil {
		return fmt.Errorf("making busybox root filesystem: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		return fmt.Errorf("making busybox root filesystem: %w", err)
	}
	for _, applet := range BusyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return fmt.Errorf("making busybox root filesystem: %w", err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
		"etc/hosts":  "127.0.0.1 localhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("making busybox root filesystem: %w", err)
		}
	}
	return nil
}

// Default returns the default benchmark image, building it with debootstrap the
// first time (1-2 minutes). It skips in -short mode, without root or debootstrap,
// and when the Debian mirror cannot be reached.
func Default(t testing.TB) *image.Image {
	t.Helper()
	s := Store(t)
	opts := image.BuildOptions{}
	if img, err := s.Cached(opts); err != nil {
		t.Fatalf("looking up the default image: %v", err)
	} else if img != nil {
		return img
	}
	if testing.Short() {
		t.Skip("-short: not building the default image with debootstrap (1-2 minutes)")
	}
	if os.Geteuid() != 0 {
		t.Skip("building the default image needs root (debootstrap)")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("debootstrap not installed: cannot build the default image")
	}
	resolved, err := opts.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if err := reachable(resolved.Mirror, resolved.Suite); err != nil {
		t.Skipf("Debian mirror unreachable, cannot build the default image: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	img, _, err := s.Build(ctx, opts, testLog{t})
	if err != nil {
		t.Fatalf("building the default image: %v", err)
	}
	return img
}

// reachable checks that the mirror serves the suite's Release file.
func reachable(mirror, suite string) error {
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Head(mirror + "/dists/" + suite + "/Release")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/dists/%s/Release: %s", mirror, suite, resp.Status)
	}
	return nil
}

// testLog sends build output to the test log, line by line as it comes.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("%s", p)
	return len(p), nil
}

// lockFile holds an exclusive flock on path until the returned function is called,
// so that parallel test packages do not import the same image twice.
func lockFile(t testing.TB, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		t.Fatalf("opening lock file: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("locking %s: %v", path, err)
	}
	return func() { f.Close() }
}
