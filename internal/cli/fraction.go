package cli

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// parseFraction reads a share written as a percentage ("5%") or as a fraction
// ("0.05"); both are 0.05. A bare number of 1 or more is refused as ambiguous (is "5"
// 5% or 500%?), and so are negative, NaN and infinite values: each of them would
// silently turn a gate off or make it fire on everything.
func parseFraction(s string) (float64, error) {
	t := strings.TrimSpace(s)
	percent := strings.HasSuffix(t, "%")
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	v, err := strconv.ParseFloat(t, 64)
	switch {
	case t == "" || err != nil:
		return 0, errors.New("not a number; write a percentage such as 5% or a fraction such as 0.05")
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, errors.New("not a finite number; write a percentage such as 5% or a fraction such as 0.05")
	case v < 0:
		return 0, errors.New("negative; write a percentage such as 5% or a fraction such as 0.05")
	case percent && v > 1000:
		return 0, errors.New("above 1000%; write a percentage such as 5%")
	case percent:
		return v / 100, nil
	case v >= 1:
		return 0, errors.New("ambiguous: write 5% (a percentage) or 0.05 (a fraction)")
	}
	return v, nil
}
