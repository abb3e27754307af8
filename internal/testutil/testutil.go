// Package testutil holds small helpers many packages' tests share; its subpackages hold
// the bigger ones (engine daemons, the static isobench binary).
package testutil

import (
	"context"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/mounts"
	"github.com/isobench/isobench/internal/runtime"
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

// daemonDir is where scripts/start-daemons.sh keeps the test daemons' state; their mounts
// are the daemons' own, not isobench's leftovers.
const daemonDir = "isobench-daemons"

// IsobenchMounts lists the mount points with a path element named like isobench's
// objects (runtime.NamePrefix): what a run or a test left mounted.
func IsobenchMounts(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, m := range MountsUnder(t, "/") {
		for _, el := range strings.Split(m, "/") {
			if el == daemonDir {
				break
			}
			if strings.HasPrefix(el, runtime.NamePrefix) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// StartContainer makes, creates and starts a container of spec through d; the test's
// cleanup removes it and fails the test when that fails.
func StartContainer(t testing.TB, ctx context.Context, d runtime.Driver, spec runtime.Spec) runtime.Container {
	t.Helper()
	c, err := d.New(ctx, spec)
	if err != nil {
		t.Fatalf("container %s: %v", spec.ID, err)
	}
	t.Cleanup(func() {
		if err := runtime.Remove(context.Background(), c); err != nil {
			t.Error(err)
		}
	})
	if err := c.Create(ctx); err != nil {
		t.Fatalf("creating %s: %v", spec.ID, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("starting %s: %v", spec.ID, err)
	}
	return c
}
