package results

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeRun(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		s := Sample{RunID: "r", Host: "h", Runtime: "runc", Benchmark: "startup", Metric: "total", Unit: "ms",
			Better: Lower, Value: float64(i), Trial: i + 1, Time: time.Unix(0, 0).UTC(), Params: map[string]string{"n": "1"}}
		if err := w.AddSample(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddFailure(Failure{Runtime: "runc", Benchmark: "startup", Trial: 9, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEnvironment(Environment{RunID: "r", Baseline: "host"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadBackWhatWriterWrote(t *testing.T) {
	dir := writeRun(t, 5)
	var sum float64
	count := 0
	warns, err := ReadSamples(filepath.Join(dir, SamplesFile), func(s Sample) error {
		count++
		sum += s.Value
		if s.Params["n"] != "1" || s.Better != Lower || s.SchemaVersion != SchemaVersion {
			t.Errorf("sample read back wrong: %+v", s)
		}
		return nil
	})
	if err != nil || len(warns) != 0 || count != 5 || sum != 10 {
		t.Fatalf("read %d samples sum %g, warnings %v, err %v", count, sum, warns, err)
	}
	var fails []Failure
	if _, err := ReadFailures(filepath.Join(dir, FailuresFile), func(f Failure) error { fails = append(fails, f); return nil }); err != nil || len(fails) != 1 || fails[0].Error != "boom" {
		t.Fatalf("failures %v, err %v", fails, err)
	}
	env, err := ReadEnvironment(dir)
	if err != nil || env.Baseline != "host" {
		t.Fatalf("environment %+v, err %v", env, err)
	}
	if err := CheckRunDir(dir); err != nil {
		t.Fatal(err)
	}
}

func TestTruncatedLastLine(t *testing.T) {
	dir := writeRun(t, 5)
	path := filepath.Join(dir, SamplesFile)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(b)-25], 0o644); err != nil {
		t.Fatal(err)
	}
	count := 0
	warns, err := ReadSamples(path, func(Sample) error { count++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if count != 4 || len(warns) != 1 || warns[0].Line != 5 || !strings.Contains(warns[0].String(), "samples.jsonl:5: last line is cut short") {
		t.Fatalf("count %d warnings %v", count, warns)
	}
}

func TestDamagedInputIsTyped(t *testing.T) {
	cases := map[string]struct {
		content string
		schema  bool
	}{
		"text":             {"this is not json\nnor this\n", false},
		"other json":       {`{"name":"x"}` + "\n", false},
		"future schema":    {`{"schema_version":2,"runtime":"r","metric":"m"}` + "\n", true},
		"damaged middle":   {`{"schema_version":1,"runtime":"r","metric":"m","value":1}` + "\n{garbage\n" + `{"schema_version":1,"runtime":"r","metric":"m","value":1}` + "\n", false},
		"binary, no lines": {"\x00\x01\x02", false},
	}
	for name, c := range cases {
		path := filepath.Join(t.TempDir(), SamplesFile)
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadSamples(path, func(Sample) error { return nil })
		var se *SchemaError
		var ne *NotResultsError
		switch {
		case c.schema && !errors.As(err, &se):
			t.Errorf("%s: error %v, want a SchemaError", name, err)
		case !c.schema && !errors.As(err, &ne):
			t.Errorf("%s: error %v, want a NotResultsError", name, err)
		}
		if err != nil && (!IsInputError(err) || strings.Contains(err.Error(), "\n")) {
			t.Errorf("%s: %q is not a one-line input error", name, err)
		}
	}
	if err := CheckRunDir(t.TempDir()); !IsInputError(err) {
		t.Errorf("empty directory: %v", err)
	}
}
