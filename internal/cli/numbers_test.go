package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// NaN and infinities from flags are refused wherever a number is read: each of them
// would silently turn a check off (NaN compares false) or overflow a conversion.
func TestParseSizeRefusesNonFinite(t *testing.T) {
	for _, s := range []string{"NaN", "NaNGiB", "Inf", "+InfMiB", "-1G", "0", "1e30TiB", "1e19"} {
		if v, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", s, v)
		}
	}
	if v, err := parseSize("4GiB"); err != nil || v != 4<<30 {
		t.Errorf("parseSize(4GiB) = %d, %v", v, err)
	}
}

func TestHistoryAlphaNaNIsBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "h.db")
	for _, a := range []string{"NaN", "0", "1", "+Inf"} {
		root := newRoot()
		root.SetArgs([]string{"history", "report", "--db", db, "--alpha", a, "--out", filepath.Join(t.TempDir(), "out")})
		root.SetOut(os.Stderr)
		err := root.Execute()
		var ee *ExitError
		if err == nil || !errors.As(err, &ee) || ee.Code != 2 || !strings.Contains(err.Error(), "--alpha") {
			t.Errorf("--alpha %s: err = %v, want bad input naming --alpha", a, err)
		}
	}
}
