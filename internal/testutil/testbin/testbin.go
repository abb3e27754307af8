// Package testbin builds the static isobench binary once per test process, for tests
// that run the CLI or need the probe inside containers.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
	out  []byte
)

// Build returns the path of a static isobench binary built from this checkout.
func Build(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		dir, e := os.MkdirTemp("", "isobench-testbin-")
		if e == nil {
			// Tests also run it as an unprivileged user.
			e = os.Chmod(dir, 0o755)
		}
		if e != nil {
			err = e
			return
		}
		path = filepath.Join(dir, "isobench")
		// Stripped as users build it: the binary is the guest agent a microVM holds in RAM.
		cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", path, "./cmd/isobench")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err = cmd.CombinedOutput()
	})
	if err != nil {
		t.Fatalf("building isobench: %v\n%s", err, out)
	}
	return path
}
