package bench

import (
	"fmt"
	"os"
	"path/filepath"
)

// KeepRaw writes data to the file name in the trial's raw directory.
func (t *Trial) KeepRaw(name string, data []byte) error {
	if err := os.WriteFile(filepath.Join(t.RawDir, name), data, 0o644); err != nil {
		return fmt.Errorf("keeping raw output %s: %w", name, err)
	}
	return nil
}

// createOutputs creates name.stdout and name.stderr in the trial's raw directory for a
// container's streams to write to; the caller closes both with closeRaw.
func (t *Trial) createOutputs(name string) (stdout, stderr *os.File, err error) {
	stdout, err = os.Create(filepath.Join(t.RawDir, name+".stdout"))
	if err != nil {
		return nil, nil, fmt.Errorf("keeping raw output %s: %w", name, err)
	}
	stderr, err = os.Create(filepath.Join(t.RawDir, name+".stderr"))
	if err != nil {
		stdout.Close()
		return nil, nil, fmt.Errorf("keeping raw output %s: %w", name, err)
	}
	return stdout, stderr, nil
}

// closeRaw closes a raw output file; failing to keep it fails the run unless it failed
// already (*errp not nil).
func closeRaw(f *os.File, errp *error) {
	if err := f.Close(); err != nil && *errp == nil {
		*errp = fmt.Errorf("keeping raw output %s: %w", filepath.Base(f.Name()), err)
	}
}
