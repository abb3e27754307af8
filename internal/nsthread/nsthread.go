// Package nsthread runs code in another network namespace on an OS thread of its own, so
// that no other goroutine ever runs on a thread left in the wrong namespace.
package nsthread

import (
	"errors"
	"fmt"
	goruntime "runtime"

	"github.com/vishvananda/netns"
)

// The namespace calls; tests replace them to make switching back fail.
var (
	current = netns.Get
	set     = netns.Set
)

// Do runs enter, which moves the current thread into another network namespace, then fn,
// on a new goroutine locked to its thread, and moves the thread back. When moving back
// fails the goroutine ends still locked, so Go ends the thread with it instead of handing
// it to other goroutines inside the wrong namespace; Do then returns that error. enter may
// have moved the thread even when it fails, so the thread is moved back in every case.
func Do(enter, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := current()
		if err != nil {
			goruntime.UnlockOSThread()
			done <- fmt.Errorf("reading the thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		err = enter()
		if err == nil && fn != nil {
			err = fn()
		}
		if serr := set(orig); serr != nil {
			// Still locked: this thread is discarded when the goroutine returns.
			done <- errors.Join(err, fmt.Errorf("returning to the original network namespace: %w", serr))
			return
		}
		goruntime.UnlockOSThread()
		done <- err
	}()
	return <-done
}
