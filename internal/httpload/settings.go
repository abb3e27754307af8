package httpload

import (
	"fmt"
	"time"

	"github.com/isobench/isobench/internal/bench"
)

// Settings keys of a load (config file: benchmarks: http: {...}, nginx: {...}).
const (
	SettingConcurrency  = "concurrency"
	SettingDuration     = "duration"
	SettingMaxRequests  = "max_requests"
	SettingReadyTimeout = "ready_timeout"
)

// maxConcurrency bounds the connections one load keeps open.
const maxConcurrency = 10_000

// Settings are the settings every benchmark that loads a web server has; its settings
// struct inlines them.
type Settings struct {
	// Concurrency is the number of requests kept in flight, each on its own keep-alive
	// connection; a new request goes out as soon as one is answered.
	Concurrency int `yaml:"concurrency"`
	// Duration is how long each file is requested.
	Duration bench.Duration `yaml:"duration"`
	// MaxRequests bounds the requests per file, whatever the duration.
	MaxRequests int `yaml:"max_requests"`
	// ReadyTimeout bounds the wait for the server's first 200 response.
	ReadyTimeout bench.Duration `yaml:"ready_timeout"`
}

// DefaultSettings are the defaults of a quick or a full run.
func DefaultSettings(quick bool) Settings {
	s := Settings{Concurrency: 16, Duration: bench.Duration(10 * time.Second), MaxRequests: 5_000_000,
		ReadyTimeout: bench.Duration(60 * time.Second)}
	if quick {
		s.Concurrency, s.Duration = 8, bench.Duration(2*time.Second)
	}
	return s
}

// Validate refuses settings that cannot load a server.
func (s Settings) Validate() error {
	if s.Concurrency < 1 || s.Duration <= 0 || s.MaxRequests < 1 || s.ReadyTimeout <= 0 {
		return fmt.Errorf("settings %s, %s, %s and %s must be positive",
			SettingConcurrency, SettingDuration, SettingMaxRequests, SettingReadyTimeout)
	}
	if s.Concurrency > maxConcurrency {
		return fmt.Errorf("setting %s: %d connections is more than %d", SettingConcurrency, s.Concurrency, maxConcurrency)
	}
	return nil
}

// Options are the options of one load with these settings.
func (s Settings) Options() Options {
	return Options{Concurrency: s.Concurrency, Duration: s.Duration.D(), MaxRequests: s.MaxRequests}
}
