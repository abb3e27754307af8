// Package testutil holds small helpers many packages' tests share; its subpackages hold
// the bigger ones (engine daemons, the static isobench binary).
package testutil

import (
	"testing"

	"github.com/isobench/isobench/internal/mounts"
)

// MountsUnder lists the mount points at or below dir; an unreadable mount table fails
// the test, since a check for leftover mounts could not be made.
func MountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	ms, err := mounts.Under(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}
