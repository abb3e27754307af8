package results

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const goodSample = `{"schema_version":1,"run_id":"r","host":"h","runtime":"runc","benchmark":"startup","metric":"total","unit":"ms","better":"lower","trial":1,"value":1}` + "\n"

// hostileRun is a run directory whose samples.jsonl is samples (written as is).
func hostileRun(t *testing.T, samples string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SamplesFile), []byte(samples), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A run directory's environment.json pointing at a file of the reader's must not be
// read, and no error may quote that file's content.
func TestASymlinkedEnvironmentIsRefusedUnread(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("Xtop-secret-content"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := hostileRun(t, goodSample)
	if err := os.Symlink(secret, filepath.Join(dir, EnvironmentFile)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDataset(context.Background(), []string{dir})
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("err = %v, want a refusal of the symlink", err)
	}
	if strings.Contains(err.Error(), "X") || strings.Contains(err.Error(), "secret-content") {
		t.Errorf("error quotes the symlink target's content: %v", err)
	}
	if !IsInputError(err) {
		t.Errorf("a symlinked environment.json is bad input, got %T", err)
	}
}

func TestSymlinkedOrSpecialSampleFilesAreRefused(t *testing.T) {
	t.Run("symlink", func(t *testing.T) {
		elsewhere := hostileRun(t, goodSample)
		dir := t.TempDir()
		if err := os.Symlink(filepath.Join(elsewhere, SamplesFile), filepath.Join(dir, SamplesFile)); err != nil {
			t.Fatal(err)
		}
		_, err := LoadDataset(context.Background(), []string{dir})
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("err = %v, want a refusal of the symlink", err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(dir, SamplesFile), 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := LoadDataset(context.Background(), []string{dir})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("err = %v, want not a regular file", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a FIFO samples.jsonl blocked")
		}
	})
}

func TestHostileRecordsAreRefusedNotFatal(t *testing.T) {
	for name, content := range map[string]string{
		"huge line":       goodSample + `{"metric":"` + strings.Repeat("a", MaxRecordBytes+10) + `"}` + "\n" + goodSample,
		"deep JSON":       goodSample + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n" + goodSample,
		"overflowing":     goodSample + strings.Replace(goodSample, `"value":1`, `"value":1e400`, 1),
		"NaN token":       goodSample + strings.Replace(goodSample, `"value":1`, `"value":NaN`, 1),
		"NaN string":      goodSample + strings.Replace(goodSample, `"value":1`, `"value":"NaN"`, 1),
		"NUL in the line": goodSample + "\x00\x00\x00\n" + goodSample,
	} {
		t.Run(name, func(t *testing.T) {
			dir := hostileRun(t, content)
			_, err := LoadDataset(context.Background(), []string{dir})
			var nr *NotResultsError
			if !errors.As(err, &nr) {
				t.Errorf("err = %v (%T), want a NotResultsError naming the damage", err, err)
			}
			if err != nil && len(err.Error()) > 2000 {
				t.Errorf("error message of %d bytes quotes the input", len(err.Error()))
			}
		})
	}
}
