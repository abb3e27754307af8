package history

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/isobench/isobench/internal/results"
)

// Limits on what a run directory may hold; beyond them it is refused, not truncated.
const (
	maxEnvironmentBytes = 4 << 20
	maxSamplesBytes     = 4 << 30
	maxFailuresBytes    = 256 << 20
	maxSeries           = 200000
	maxNameLen          = 256
	maxParamsLen        = 1024
)

// InputError is a run directory that cannot go into the history as it is.
type InputError struct {
	Dir    string
	Reason string
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Dir, e.Reason) }

func refuse(dir, format string, args ...any) error {
	return &InputError{Dir: dir, Reason: fmt.Sprintf(format, args...)}
}

// IsInputError tells whether err is about the run directory given, not the database.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie) || results.IsInputError(err)
}

// runIDPattern is what `isobench run` writes (20250102T030405-1a2b3c4d) and a little more,
// without anything that needs quoting in a path, a URL or a shell.
var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Run is a run directory read and summarised for the history.
type Run struct {
	ID string
	// Dir is the absolute path the run was read from, for `compare` commands.
	Dir string
	// Digest is the sha256 over environment.json, samples.jsonl and failures.jsonl: two
	// adds of the same run are the same add.
	Digest   string
	Env      results.Environment
	EnvJSON  []byte
	Series   []Point
	Failures int
	// Labels are those `isobench run --label` recorded in environment.json.
	Labels map[string]string
}

// ReadRun reads and checks a run directory: every file is opened without following
// symlinks, sizes are bounded, names must be printable, values finite, the run
// finished, and every record must belong to the run environment.json names.
func ReadRun(dir string) (*Run, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dir, err)
	}
	if err := results.CheckRunDir(abs); err != nil {
		return nil, err
	}
	h := sha256.New()
	run := &Run{Dir: abs}

	envBytes, err := readWhole(abs, results.EnvironmentFile, maxEnvironmentBytes)
	if err != nil {
		return nil, err
	}
	hashPart(h, results.EnvironmentFile, envBytes)
	if err := json.Unmarshal(envBytes, &run.Env); err != nil {
		return nil, refuse(abs, "%s is not valid JSON: %v", results.EnvironmentFile, err)
	}
	env := &run.Env
	if env.SchemaVersion != results.SchemaVersion {
		return nil, refuse(abs, "%s has schema_version %d, this isobench reads %d", results.EnvironmentFile, env.SchemaVersion, results.SchemaVersion)
	}
	if !runIDPattern.MatchString(env.RunID) {
		return nil, refuse(abs, "run_id %q in %s is not a run id isobench writes", env.RunID, results.EnvironmentFile)
	}
	if env.Started.IsZero() || env.Finished.IsZero() {
		return nil, refuse(abs, "the run has not finished (%s has no start or finish time); add it once `isobench run` is done", results.EnvironmentFile)
	}
	if env.Finished.Before(env.Started) {
		return nil, refuse(abs, "the run finished before it started (%s)", results.EnvironmentFile)
	}
	for name, rt := range env.Runtimes {
		if err := checkName("runtime", name); err != nil {
			return nil, refuse(abs, "%s: %v", results.EnvironmentFile, err)
		}
		if err := checkText("runtime version", rt.Version, maxNameLen); err != nil {
			return nil, refuse(abs, "%s: %v", results.EnvironmentFile, err)
		}
	}
	for name, value := range env.Labels {
		if err := checkRunLabel(name, value); err != nil {
			return nil, refuse(abs, "%s: %v", results.EnvironmentFile, err)
		}
	}
	run.ID = env.RunID
	run.EnvJSON = envBytes
	run.Labels = env.Labels

	byKey := map[results.SeriesKey]*Point{}
	f, err := openNoFollow(abs, results.SamplesFile, maxSamplesBytes)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hashPart(h, results.SamplesFile, nil)
	warns, err := results.ReadSamplesFrom(io.TeeReader(f, h), filepath.Join(abs, results.SamplesFile), func(s results.Sample) error {
		if s.RunID != env.RunID {
			return refuse(abs, "a sample of run %q is in run %q", s.RunID, env.RunID)
		}
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			return refuse(abs, "%s %s/%s has a value that is NaN or infinite", s.Runtime, s.Benchmark, s.Metric)
		}
		k := results.KeyOf(s)
		sr := byKey[k]
		if sr == nil {
			if err := checkParams(s.Params, k.Params); err != nil {
				return refuse(abs, "%s %s/%s: %v", s.Runtime, s.Benchmark, s.Metric, err)
			}
			for _, c := range [][2]string{{"host", s.Host}, {"runtime", s.Runtime}, {"benchmark", s.Benchmark}, {"metric", s.Metric}} {
				if err := checkName(c[0], c[1]); err != nil {
					return refuse(abs, "%s: %v", results.SamplesFile, err)
				}
			}
			if err := checkText("unit", s.Unit, maxNameLen); err != nil {
				return refuse(abs, "%s: %v", results.SamplesFile, err)
			}
			if s.Better != results.Lower && s.Better != results.Higher {
				return refuse(abs, "%s %s/%s: better is %q, not lower or higher", s.Runtime, s.Benchmark, s.Metric, s.Better)
			}
			if len(byKey) >= maxSeries {
				return refuse(abs, "more than %d series", maxSeries)
			}
			rt := env.Runtimes[s.Runtime]
			sr = &Point{RunID: env.RunID, SeriesKey: k, Class: rt.Class, Emulated: rt.Emulated, RuntimeVersion: rt.Version,
				Unit: s.Unit, Better: s.Better}
			byKey[k] = sr
		} else if sr.Unit != s.Unit || sr.Better != s.Better {
			return refuse(abs, "%s %s/%s changes its unit or direction within the run", s.Runtime, s.Benchmark, s.Metric)
		}
		sr.Values = append(sr.Values, s.Value)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(warns) > 0 {
		return nil, refuse(abs, "%s is damaged (%s); the history keeps only whole runs", results.SamplesFile, warns[0].String())
	}
	// Hash whatever the reader did not consume (nothing, normally).
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", results.SamplesFile, err)
	}
	if len(byKey) == 0 {
		return nil, refuse(abs, "%s holds no samples", results.SamplesFile)
	}

	ff, err := openNoFollow(abs, results.FailuresFile, maxFailuresBytes)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		defer ff.Close()
		hashPart(h, results.FailuresFile, nil)
		if _, err := results.ReadFailuresFrom(io.TeeReader(ff, h), filepath.Join(abs, results.FailuresFile), func(results.Failure) error {
			run.Failures++
			return nil
		}); err != nil {
			return nil, err
		}
		if _, err := io.Copy(h, ff); err != nil {
			return nil, fmt.Errorf("reading %s: %w", results.FailuresFile, err)
		}
	}
	run.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))

	for _, sr := range byKey {
		slices.Sort(sr.Values)
		run.Series = append(run.Series, *sr)
	}
	slices.SortFunc(run.Series, func(a, b Point) int { return compareByMetric(a.SeriesKey, b.SeriesKey) })
	return run, nil
}

// compareByMetric orders series keys by host, benchmark, metric and params, and only
// then by runtime, so the runtimes of one metric stand together.
func compareByMetric(a, b results.SeriesKey) int {
	return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Benchmark, b.Benchmark), cmp.Compare(a.Metric, b.Metric),
		cmp.Compare(a.Params, b.Params), cmp.Compare(a.Runtime, b.Runtime))
}

// hashPart starts a file's part of the digest with its name, so the same bytes in
// another file give another digest.
func hashPart(h hash.Hash, name string, whole []byte) {
	fmt.Fprintf(h, "%s\x00", name)
	h.Write(whole)
}

// openNoFollow opens dir/name read-only as results.OpenRunFile does (never through a
// symlink, only a regular file), refusing a file larger than limit.
func openNoFollow(dir, name string, limit int64) (*os.File, error) {
	f, err := results.OpenRunFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", f.Name(), err)
	}
	if st.Size() > limit {
		f.Close()
		return nil, refuse(dir, "%s is %d bytes, more than the %d a run writes", name, st.Size(), limit)
	}
	return f, nil
}

func readWhole(dir, name string, limit int64) ([]byte, error) {
	f, err := openNoFollow(dir, name, limit)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, refuse(dir, "it has no %s; the history needs the run's id and times", name)
		}
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	if int64(len(b)) > limit {
		return nil, refuse(dir, "%s is larger than %d bytes", name, limit)
	}
	return b, nil
}

// checkName accepts a non-empty printable name without separators the report uses.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s name", what)
	}
	if strings.ContainsAny(s, ",=\x00") {
		return fmt.Errorf("%s name %q holds ',' or '='", what, s)
	}
	return checkText(what, s, maxNameLen)
}

// checkText accepts valid UTF-8 without control characters, at most limit bytes.
func checkText(what, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%s %.40q... is longer than %d bytes", what, s, limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s %q holds a control character", what, s)
		}
	}
	return nil
}

// checkParams accepts a series' params (the trial aside) when every key and value is a
// printable name and their canonical form, as the history stores it, is not too long.
func checkParams(params map[string]string, canonical string) error {
	for k, v := range params {
		if k == results.TrialParam {
			continue
		}
		if err := checkText("param", k, maxNameLen); err != nil {
			return err
		}
		if err := checkText("param value", v, maxNameLen); err != nil {
			return err
		}
	}
	if len(canonical) > maxParamsLen {
		return fmt.Errorf("params longer than %d bytes", maxParamsLen)
	}
	return nil
}
