package testutil

import (
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
)

// The tree's layering: no driver imports another driver and no benchmark another
// benchmark; what they share lives in packages named for it.
func TestNoSiblingImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not in PATH: cannot list the packages")
	}
	_, self, _, _ := goruntime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/isobench/isobench/internal/"
	shared := map[string]bool{
		"runtime/dockerapi": true, "runtime/containerdimage": true, "runtime/kata": true, "runtime/gvisor": true, "runtime/overlay": true,
		"runtime/vmm": true, "bench/benchtest": true,
	}
	// family is "runtime" or "bench" and the sibling's name, for a driver or a benchmark.
	family := func(pkg string) (string, string, bool) {
		rel, ok := strings.CutPrefix(pkg, mod)
		if !ok {
			return "", "", false
		}
		parts := strings.Split(rel, "/")
		if len(parts) < 2 || (parts[0] != "runtime" && parts[0] != "bench") || shared[parts[0]+"/"+parts[1]] {
			return "", "", false
		}
		return parts[0], parts[1], true
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		fam, name, ok := family(fields[0])
		if !ok {
			continue
		}
		for _, imp := range fields[1:] {
			if f, n, ok := family(imp); ok && f == fam && n != name {
				t.Errorf("%s imports its sibling %s: move what they share into a package of its own", fields[0], imp)
			}
		}
	}
}
