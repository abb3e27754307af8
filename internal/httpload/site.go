package httpload

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/isobench/isobench/internal/bench"
)

// File is one document a web server serves to the load.
type File struct {
	// Label is the file parameter of its samples.
	Label string
	Name  string
	Size  int
}

// NewSite makes a temporary directory (its name says it is the named benchmark's) with
// the files under www/, the whole tree world-readable for the server's workers. The
// caller removes it.
func NewSite(name string, files []File) (dir string, err error) {
	dir, err = bench.NewBindDir(name)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	www := filepath.Join(dir, "www")
	if err := os.Mkdir(www, 0o755); err != nil {
		return "", fmt.Errorf("making the site directory: %w", err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(www, f.Name), Content(f.Size), 0o644); err != nil {
			return "", fmt.Errorf("writing %s: %w", f.Name, err)
		}
	}
	return dir, nil
}
