package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Writer appends records to a run directory. Every record is written with one
// write(2) straight to the file, so a crash or Ctrl-C loses nothing already measured.
type Writer struct {
	dir      string
	mu       sync.Mutex
	samples  *os.File
	failures *os.File
}

// Create makes a new run directory; it refuses one that already holds samples.
func Create(dir string) (*Writer, error) {
	if _, err := os.Stat(filepath.Join(dir, SamplesFile)); err == nil {
		return nil, fmt.Errorf("run directory %s already holds %s: choose another --out", dir, SamplesFile)
	}
	if err := os.MkdirAll(filepath.Join(dir, RawDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating run directory: %w", err)
	}
	s, err := os.OpenFile(filepath.Join(dir, SamplesFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating samples file: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, FailuresFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("creating failures file: %w", err)
	}
	return &Writer{dir: dir, samples: s, failures: f}, nil
}

// Dir is the run directory.
func (w *Writer) Dir() string { return w.dir }

// AddSample appends one sample.
func (w *Writer) AddSample(s Sample) error {
	s.SchemaVersion = SchemaVersion
	return w.appendLine(w.samples, s)
}

// AddFailure appends one failed trial.
func (w *Writer) AddFailure(f Failure) error {
	f.SchemaVersion = SchemaVersion
	return w.appendLine(w.failures, f)
}

func (w *Writer) appendLine(f *os.File, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding record: %w", err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("appending to %s: %w", f.Name(), err)
	}
	return nil
}

// WriteEnvironment (re)writes environment.json atomically.
func (w *Writer) WriteEnvironment(env Environment) error {
	env.SchemaVersion = SchemaVersion
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding environment: %w", err)
	}
	tmp := filepath.Join(w.dir, EnvironmentFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing environment: %w", err)
	}
	return os.Rename(tmp, filepath.Join(w.dir, EnvironmentFile))
}

// Close closes the files.
func (w *Writer) Close() error {
	e1 := w.samples.Close()
	e2 := w.failures.Close()
	if e1 != nil {
		return e1
	}
	return e2
}
