package vmmapitest

import (
	"fmt"
	"sync"
	"testing"
)

// ErrorCollector is a testing.TB whose Errorf records the message instead of failing
// the test, for tests that send requests the spec rejects on purpose. Everything else
// (Cleanup, Fatalf, Helper...) goes to the wrapped TB.
type ErrorCollector struct {
	testing.TB

	mu   sync.Mutex
	msgs []string
}

// CollectErrors wraps t; pass the result to Serve or CheckBody.
func CollectErrors(t testing.TB) *ErrorCollector { return &ErrorCollector{TB: t} }

// Errorf records the message; safe for concurrent use.
func (c *ErrorCollector) Errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, fmt.Sprintf(format, args...))
}

// Errors is a copy of the messages recorded so far.
func (c *ErrorCollector) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}
