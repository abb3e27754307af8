package startup

import (
	"testing"

	"github.com/isobench/isobench/internal/bench"
)

// Reports learn from the declaration, not from the names, that total is start-up's
// headline and that every start-up time is drawn as a distribution.
func TestDeclaredMetrics(t *testing.T) {
	var headlines []string
	for _, m := range bench.Declared([]string{Startup{}.Name()}) {
		if m.Headline {
			headlines = append(headlines, m.Name)
		}
		if !m.Distribution {
			t.Errorf("%s is not declared a distribution", m.Name)
		}
	}
	if len(headlines) != 1 || headlines[0] != "total" {
		t.Errorf("headlines %v; want [total]", headlines)
	}
}
