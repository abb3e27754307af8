package network

import (
	"os"
	"strings"
	"testing"
)

// TestSplitReports feeds recorded iperf3 reports, framed as the container script frames
// them, through the splitting: a failed first attempt with iperf3's warning line, then a
// good one, and a reverse run that worked at once.
func TestSplitReports(t *testing.T) {
	forward, err := os.ReadFile("testdata/iperf3-tcp.json")
	if err != nil {
		t.Fatal(err)
	}
	reverse, err := os.ReadFile("testdata/iperf3-tcp-reverse.json")
	if err != nil {
		t.Fatal(err)
	}
	refused, err := os.ReadFile("testdata/iperf3-refused.json")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, part := range []string{
		markAttempt + "\n", "WARNING:  Size of data read does not correspond to offered length\n", string(refused),
		markAttempt + "\n", string(forward),
		markNext + "\n",
		markAttempt + "\n", string(reverse),
		markDone + "\n",
	} {
		out.WriteString(part)
	}
	reports, attempts, err := splitReports([]byte(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 || attempts[0] != 2 || attempts[1] != 1 {
		t.Fatalf("got %d reports, attempts %v; want 2 reports, attempts [2 1]", len(reports), attempts)
	}
	fwd, err := ParseIperf3(reports[0])
	if err != nil || fwd.Reverse {
		t.Fatalf("forward report: %+v, %v", fwd, err)
	}
	rev, err := ParseIperf3(reports[1])
	if err != nil || !rev.Reverse {
		t.Fatalf("reverse report: %+v, %v", rev, err)
	}

	if _, _, err := splitReports(forward); err == nil {
		t.Error("output without marker lines was accepted")
	}
}

func TestJSONOnlyDropsWarnings(t *testing.T) {
	got := string(jsonOnly([]byte("WARNING: short read\n{\"a\": 1}\n")))
	if got != "{\"a\": 1}\n" {
		t.Errorf("jsonOnly = %q", got)
	}
}
