package runtime

import (
	"strings"
	"testing"
)

// A binary that cannot be hashed makes the runtime unusable instead of leaving its
// recorded sha256 empty.
func TestUnhashableBinaryIsAProblem(t *testing.T) {
	st := Status{Found: true}
	var sum string
	if st.Hash(t.TempDir(), &sum) { // a directory cannot be read as a file
		t.Fatal("Hash of a directory succeeded")
	}
	if sum != "" || !strings.Contains(st.Problem, "cannot record what runs") || st.Fix == "" {
		t.Fatalf("sum %q, problem %q, fix %q", sum, st.Problem, st.Fix)
	}
	st = Status{}
	if !st.Hash("/proc/self/exe", &sum) || len(sum) != 64 || st.Problem != "" {
		t.Fatalf("Hash of this executable: sum %q, problem %q", sum, st.Problem)
	}
}
