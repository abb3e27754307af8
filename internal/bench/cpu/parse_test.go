package cpu

import (
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench/benchtest"
)

// The testdata files are real outputs of sysbench 1.0.20 on Debian 12.

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		file    string
		threads int
		rate    float64
		events  int64
	}{
		{"sysbench-cpu-1thread.txt", 1, 5173.15, 10352},
		{"sysbench-cpu-2threads.txt", 2, 0, 0},
	} {
		r, err := Parse(benchtest.Testdata(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if r.Threads != tc.threads || !(r.EventsPerSecond > 0) || r.TotalEvents <= 0 {
			t.Errorf("%s: got %+v", tc.file, r)
		}
		if tc.rate != 0 && (r.EventsPerSecond != tc.rate || r.TotalEvents != tc.events) {
			t.Errorf("%s: got %+v, want %v events/s and %d events", tc.file, r, tc.rate, tc.events)
		}
	}
}

func TestParseFailures(t *testing.T) {
	for file, want := range map[string]string{
		"sysbench-cpu-bad-option.txt": "invalid option: --bogus-opt=1",
		"sysbench-cpu-killed.txt":     `last line: "Threads started!"`,
	} {
		_, err := Parse(benchtest.Testdata(t, file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, err, want)
		}
	}
	if _, err := Parse(nil); err == nil || !strings.Contains(err.Error(), "no output") {
		t.Errorf("empty output: error %v, want \"no output\"", err)
	}
	// A report cut inside the number is caught rather than read as a smaller rate.
	cut := benchtest.Testdata(t, "sysbench-cpu-1thread.txt")
	cut = cut[:strings.Index(string(cut), "5173.15")+3]
	if _, err := Parse(cut); err == nil {
		t.Error("output cut after \"events per second:  517\" parsed without error")
	}
}
