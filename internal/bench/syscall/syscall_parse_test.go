package syscall

import (
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench/benchtest"
)

// The testdata files are real outputs of `isobench probe syscall`: on the host and inside
// gVisor (runsc 20221219, ptrace platform), and a bad command line.

func TestParse(t *testing.T) {
	host, err := Parse(benchtest.Testdata(t, "probe-syscall-host.json"))
	if err != nil {
		t.Fatal(err)
	}
	gvisor, err := Parse(benchtest.Testdata(t, "probe-syscall-runsc-ptrace.json"))
	if err != nil {
		t.Fatal(err)
	}
	if host.Repetitions != 3 || len(host.GetpidNs) != 3 {
		t.Errorf("host: got %+v", host)
	}
	// gVisor's ptrace platform traps every syscall; its vDSO clock does not trap.
	if median(gvisor.GetpidNs) < 10*median(host.GetpidNs) {
		t.Errorf("getpid: gVisor %v ns not far above host %v ns", median(gvisor.GetpidNs), median(host.GetpidNs))
	}
	if median(gvisor.ClockGettime) > 1000 {
		t.Errorf("clock_gettime under gVisor %v ns: not the vDSO", median(gvisor.ClockGettime))
	}
}

func TestParseFailures(t *testing.T) {
	for file, want := range map[string]string{
		"probe-syscall-truncated.json":   "cut short",
		"probe-syscall-bad-usage.stdout": "printed nothing",
	} {
		_, err := Parse(benchtest.Testdata(t, file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, err, want)
		}
	}
	for in, want := range map[string]string{
		`{"repetitions":2,"getpid_ns":[1,2],"clock_gettime_ns":[1,2],"fork_exec_wait_ns":[1]}`:   "1 values for fork_exec_wait",
		`{"repetitions":1,"getpid_ns":[0],"clock_gettime_ns":[1],"fork_exec_wait_ns":[1]}`:       "0 ns/op for getpid",
		`{"repetitions":1,"getpid_ns":[1],"clock_gettime_ns":[1],"fork_exec_wait_ns":[1],"x":1}`: "unknown field",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", in, err, want)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3 1 2 = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4 1 3 2 = %v", m)
	}
}
