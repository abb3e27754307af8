package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Descendants lists the children of pid, recursively, from /proc/PID/task/*/children.
func Descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, child)
				out = append(out, Descendants(child)...)
			}
		}
	}
	return out
}

// ProcessTree lists pid and its descendants, all with one role.
func ProcessTree(pid int, role string) []Process {
	out := []Process{{PID: pid, Role: role}}
	for _, p := range Descendants(pid) {
		out = append(out, Process{PID: p, Role: role})
	}
	return out
}
