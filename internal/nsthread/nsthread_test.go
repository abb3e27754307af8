package nsthread

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// When the switch back fails, the caller gets the error and keeps running, and the thread
// that may sit in the wrong namespace is gone rather than back in Go's pool.
func TestAFailedSwitchBackDiscardsTheThread(t *testing.T) {
	defer func(f func(netns.NsHandle) error) { set = f }(set)
	set = func(netns.NsHandle) error { return errors.New("injected: setns refused") }
	var tid int
	err := Do(func() error { return nil }, func() error { tid = unix.Gettid(); return nil })
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Do = %v; want the switch-back error", err)
	}
	if tid == 0 || tid == unix.Gettid() {
		t.Fatalf("fn ran on thread %d, the caller's is %d: it must get a thread of its own", tid, unix.Gettid())
	}
	// No goroutine may run on that thread again.
	seen := make(chan int, 400)
	var wg sync.WaitGroup
	for i := 0; i < 400; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			goruntime.Gosched()
			seen <- unix.Gettid()
		}()
	}
	wg.Wait()
	close(seen)
	for got := range seen {
		if got == tid {
			t.Fatalf("thread %d runs goroutines again after its switch back failed", tid)
		}
	}
	// Go ends such a thread; only the process's main thread cannot end, and stays wedged.
	if tid == os.Getpid() {
		return
	}
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d still exists after its switch back failed", tid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A successful switch back returns fn's error and keeps the thread.
func TestFnErrorComesBack(t *testing.T) {
	defer func(f func(netns.NsHandle) error) { set = f }(set)
	set = func(netns.NsHandle) error { return nil }
	want := errors.New("fn failed")
	if err := Do(func() error { return nil }, func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("Do = %v; want fn's error", err)
	}
	enterErr := errors.New("enter failed")
	ran := false
	if err := Do(func() error { return enterErr }, func() error { ran = true; return nil }); !errors.Is(err, enterErr) || ran {
		t.Fatalf("Do = %v, fn ran %v; want enter's error and fn not run", err, ran)
	}
}
