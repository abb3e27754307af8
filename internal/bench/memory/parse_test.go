package memory

import (
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench/benchtest"
)

// The testdata files are real outputs of sysbench 1.0.20 on Debian 12.

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		file, op, block string
	}{
		{"sysbench-memory-read-1K.txt", "read", "1KiB"},
		{"sysbench-memory-read-1M.txt", "read", "1024KiB"},
		{"sysbench-memory-write-1K.txt", "write", "1KiB"},
		{"sysbench-memory-write-1M.txt", "write", "1024KiB"},
	} {
		r, err := Parse(benchtest.Testdata(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if r.Operation != tc.op || r.BlockSize != tc.block || r.Threads != 1 || !(r.MiBPerSecond > 0) || !(r.OpsPerSecond > 0) {
			t.Errorf("%s: got %+v", tc.file, r)
		}
	}
	r, _ := Parse(benchtest.Testdata(t, "sysbench-memory-read-1K.txt"))
	if r.MiBPerSecond != 9016.34 || r.OpsPerSecond != 9232736.32 {
		t.Errorf("read 1K: got %v MiB/s and %v ops/s, want 9016.34 and 9232736.32", r.MiBPerSecond, r.OpsPerSecond)
	}
}

func TestParseFailures(t *testing.T) {
	for file, want := range map[string]string{
		"sysbench-memory-bad-block-size.txt": "FATAL: Invalid value for memory-block-size: abc",
		"sysbench-memory-killed.txt":         `last line: "Threads started!"`,
	} {
		_, err := Parse(benchtest.Testdata(t, file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, err, want)
		}
	}
	full := string(benchtest.Testdata(t, "sysbench-memory-write-1M.txt"))
	cut := full[:strings.Index(full, "General statistics")]
	if _, err := Parse([]byte(cut)); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("report cut before its statistics: error %v, want \"cut short\"", err)
	}
}
