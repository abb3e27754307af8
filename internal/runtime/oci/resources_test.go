package oci_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
)

// TestCPUSetAndMemoryLimitReachTheHostProcesses starts a container pinned to CPU 0 with
// a memory limit and reads, from the host, the affinity of every process the runtime
// started for it (runsc's sandbox and gofer too) and the memory limit of their cgroup.
func TestCPUSetAndMemoryLimitReachTheHostProcesses(t *testing.T) {
	img := imagetest.Busybox(t)
	const limit = 96 << 20
	for _, name := range ociRuntimes {
		t.Run(name, func(t *testing.T) {
			d := driver(t, name, img)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := d.New(ctx, runtime.Spec{ID: runtime.NamePrefix + "test-limits-" + name, Args: []string{"sleep", "30"},
				Resources: runtime.Resources{CPUs: "0", MemoryBytes: limit}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := runtime.Remove(context.WithoutCancel(ctx), c); err != nil {
					t.Error(err)
				}
			}()
			if err := c.Create(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			procs, err := c.Processes(ctx)
			if err != nil || len(procs) == 0 {
				t.Fatalf("processes: %v %v", procs, err)
			}
			limited := false
			for _, p := range procs {
				status, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/status")
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(string(status), "\n") {
					if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok && strings.TrimSpace(v) != "0" {
						// gVisor's gofer serves files outside the sandbox's cgroup.
						if p.Role != runtime.RoleGofer {
							t.Errorf("%s %d (%s) may run on CPUs %s, want 0", name, p.PID, p.Role, strings.TrimSpace(v))
						}
					}
				}
				if got, ok := memoryLimit(t, p.PID); ok && got == limit {
					limited = true
				}
			}
			if !limited {
				t.Errorf("%s: no process of the container sits in a cgroup limited to %d bytes", name, limit)
			}
		})
	}
}

// memoryLimit reads the memory limit of pid's cgroup (v1 memory controller or v2).
func memoryLimit(t *testing.T, pid int) (int64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var file string
		switch {
		case strings.Contains(","+parts[1]+",", ",memory,"):
			file = "/sys/fs/cgroup/memory" + parts[2] + "/memory.limit_in_bytes"
		case parts[0] == "0" && parts[1] == "":
			file = "/sys/fs/cgroup/unified" + parts[2] + "/memory.max"
		default:
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return v, true
		}
	}
	return 0, false
}
