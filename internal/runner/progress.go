package runner

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows a bar with ETA on a terminal and plain log lines otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	bar   *progressbar.ProgressBar
	total int
	done  int
	start time.Time
}

func newProgress(w io.Writer, bar bool, total int) *progress {
	if w == nil {
		w = io.Discard
	}
	p := &progress{w: w, total: total, start: time.Now()}
	if bar {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// step counts one finished trial.
func (p *progress) step(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.bar != nil {
		p.bar.Describe(what)
		_ = p.bar.Add(1)
		return
	}
	eta := ""
	if p.done > 0 && p.done < p.total {
		left := time.Duration(float64(time.Since(p.start)) / float64(p.done) * float64(p.total-p.done))
		eta = fmt.Sprintf(", ETA %s", left.Round(time.Second))
	}
	fmt.Fprintf(p.w, "[%d/%d] %s%s\n", p.done, p.total, what, eta)
}

// linef prints a message above the bar.
func (p *progress) linef(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
