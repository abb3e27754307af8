package interference

import (
	"testing"

	"github.com/isobench/isobench/internal/probe"
)

func TestReferenceIsTheMedianOfTheMeasurementsAlone(t *testing.T) {
	m := func(rate, p99 float64) measurement {
		return measurement{cpuRate: rate, latency: probe.TCPResult{P50us: p99 / 4, P99us: p99}}
	}
	// One disturbed measurement (a burst on the host) moves neither value.
	r := reference([]measurement{m(3000, 90), m(1500, 1200), m(2900, 100)})
	if r.cpuRate != 2900 || r.latency.P99us != 100 || r.latency.P50us != 25 {
		t.Fatalf("reference %+v", r)
	}
	if r := reference([]measurement{m(1000, 10), m(2000, 30)}); r.cpuRate != 1500 || r.latency.P99us != 20 {
		t.Fatalf("two measurements: %+v", r)
	}
}
