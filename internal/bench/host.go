package bench

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/isobench/isobench/internal/runtime"
)

// HostTool finds a program a benchmark runs on the host (a client, a server); its error
// names the Debian package that has it.
func HostTool(name, pkg string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on the host, where the benchmark runs it: apt-get install %s", name, pkg)
	}
	return path, nil
}

// NewBindDir makes a temporary directory, named for its purpose, that a container binds
// read-only: readable by every user, since the workload may run as any. The caller
// removes it.
func NewBindDir(purpose string) (string, error) {
	dir, err := os.MkdirTemp("", runtime.NamePrefix+purpose+"-")
	if err != nil {
		return "", fmt.Errorf("making the %s directory: %w", purpose, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("making the %s directory: %w", purpose, err)
	}
	return dir, nil
}
