package bench

import "testing"

func TestExitStatusReadsTheWrapperLine(t *testing.T) {
	for _, tc := range []struct {
		stderr string
		code   int
		ok     bool
	}{
		{"fio: warning\n" + workloadExitMarker + " 0\n", 0, true},
		{"no newline at the end" + "\n" + workloadExitMarker + " 3\n", 3, true},
		{"nothing else", 0, false},
		{workloadExitMarker + " x\n", 0, false},
	} {
		code, err := exitStatus([]byte(tc.stderr))
		if (err == nil) != tc.ok || code != tc.code {
			t.Errorf("exitStatus(%q) = %d, %v; want %d, ok %v", tc.stderr, code, err, tc.code, tc.ok)
		}
	}
}
