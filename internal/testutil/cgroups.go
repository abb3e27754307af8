package testutil

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// MemoryLimit reads the limit of pid's memory cgroup: cgroup v1's memory controller where
// it is mounted (hybrid hosts), else v2's memory.max. ok is false when no cgroup of pid
// has a readable limit.
func MemoryLimit(t testing.TB, pid int) (limit int64, ok bool) {
	t.Helper()
	proc, err := procfs.NewProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	cgroups, err := proc.Cgroups()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, cg := range cgroups {
		switch {
		case slices.Contains(cg.Controllers, "memory"):
			files = append(files, filepath.Join("/sys/fs/cgroup/memory", cg.Path, "memory.limit_in_bytes"))
		case cg.HierarchyID == 0 && len(cg.Controllers) == 0:
			files = append(files, filepath.Join("/sys/fs/cgroup/unified", cg.Path, "memory.max"),
				filepath.Join("/sys/fs/cgroup", cg.Path, "memory.max"))
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return v, true
		}
	}
	return 0, false
}
