package kubernetes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/isobench/isobench/internal/runtime"
)

// podCgroupRoots are where the kubelet's pod cgroups can be found on this host: the cgroup
// v1 pids hierarchy, or the unified one.
var podCgroupRoots = []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"}

// PodProcesses lists the host processes in a pod's cgroup (workload, pause, and for gVisor
// the sandbox and gofer), found by the pod's UID. It works only where the pod's node is
// this host: a pod elsewhere has no cgroup here, which is said.
func PodProcesses(uid string) ([]runtime.Process, error) {
	want := "pod" + uid
	wantSystemd := "pod" + strings.ReplaceAll(uid, "-", "_") + ".slice"
	for _, root := range podCgroupRoots {
		var found string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Count(strings.TrimPrefix(p, root), "/") > 5 {
				return filepath.SkipDir
			}
			if name := d.Name(); name == want || strings.HasSuffix(name, wantSystemd) {
				found = p
				return fs.SkipAll
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.SkipAll) {
			continue
		}
		if found == "" {
			continue
		}
		var procs []runtime.Process
		walkErr := filepath.WalkDir(found, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					procs = append(procs, runtime.Process{PID: pid, Role: "pod"})
				}
			}
			return nil
		})
		if walkErr != nil {
			return nil, fmt.Errorf("reading pod cgroup %s: %w", found, walkErr)
		}
		if len(procs) > 0 {
			return procs, nil
		}
	}
	return nil, fmt.Errorf("no cgroup of pod %s on this host (its node is elsewhere, or it has no process left)", uid)
}
