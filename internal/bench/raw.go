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

// SetInfo records a fact about how the trial's samples were measured (see Trial.Info).
func (t *Trial) SetInfo(key, value string) {
	if t.Info != nil {
		t.Info[key] = value
	}
}

// InfoStack names, in Trial.Info, the network stack that served a networked trial.
const InfoStack = "stack"

// ReadSettings is the trial's settings of the benchmark c, whose settings struct is S:
// c's defaults of a quick or a full run with the config file's settings over them, checked.
func ReadSettings[S any](t *Trial, c Configurable) (*S, error) {
	into, ok := c.DefaultSettings(t.Quick).(*S)
	if !ok {
		return nil, fmt.Errorf("settings: the defaults are %T, not *%T", c.DefaultSettings(t.Quick), *new(S))
	}
	if err := t.Settings.Decode(into); err != nil {
		return nil, err
	}
	return into, nil
}
