package cli

import "testing"

func TestParseFractionReadsPercentAndFractionAlike(t *testing.T) {
	for in, want := range map[string]float64{"5%": 0.05, "0.05": 0.05, " 5 % ": 0.05, "0": 0, "0%": 0, "0.5%": 0.005, "150%": 1.5} {
		got, err := parseFraction(in)
		if err != nil || got != want {
			t.Errorf("parseFraction(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"5", "1", "-5%", "-0.05", "NaN", "nan%", "Inf", "-Inf%", "+Inf", "", "%", "lots", "5%%", "2000%"} {
		if v, err := parseFraction(in); err == nil {
			t.Errorf("parseFraction(%q) = %v, want an error", in, v)
		}
	}
}
