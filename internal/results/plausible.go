package results

import (
	"fmt"
	"math"
)

// physicalLimits bound what a unit can measure on any host: values above are an
// error in the measurement, not a fast machine. Loopback and veth TCP peak at tens
// of Gbit/s and memory copies at hundreds of GiB/s, so the bounds are generous.
var physicalLimits = map[string]struct {
	max  float64
	what string
}{
	"Gbit/s": {1000, "1 Tbit/s, more than any link or memory copy of a host carries"},
	"MiB/s":  {1 << 20, "1 TiB/s, more than a host's memory bandwidth"},
}

// Implausible says why a value cannot be a measurement in unit, or "" when it can be.
// Every quantity isobench measures (time, memory, rate, count) is finite and not
// negative; throughputs have the physical limits above.
func Implausible(unit string, v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "not a finite number"
	case v < 0:
		return fmt.Sprintf("negative %s: no %s measurement can be below zero", unit, quantityOf(unit))
	}
	if l, ok := physicalLimits[unit]; ok && v > l.max {
		return fmt.Sprintf("%g %s is above %s", v, unit, l.what)
	}
	return ""
}

func quantityOf(unit string) string {
	switch unit {
	case "B", "KiB", "MiB", "GiB":
		return "memory"
	case "s", "ms", "us", "ns", "ns/op":
		return "time"
	case "count":
		return "count"
	}
	return "rate"
}
