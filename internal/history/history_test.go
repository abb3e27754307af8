package history_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/changepoint"
	"github.com/isobench/isobench/internal/history"
	"github.com/isobench/isobench/internal/history/historytest"
	"github.com/isobench/isobench/internal/history/pgtest"
	"github.com/isobench/isobench/internal/report/fixture"
	"github.com/isobench/isobench/internal/results"
)

// backends runs fn against a fresh SQLite file and a fresh database on a private
// PostgreSQL server.
func backends(t *testing.T, fn func(t *testing.T, target string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, filepath.Join(t.TempDir(), "history.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t)
		fn(t, srv.NewDatabase(t, "isobench_test"))
	})
}

func open(t *testing.T, target string) *history.Store {
	t.Helper()
	s, err := history.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func add(t *testing.T, s *history.Store, dir string, labels map[string]string) history.AddResult {
	t.Helper()
	run, err := history.ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(context.Background(), run, labels)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func count(t *testing.T, s *history.Store) (runs, series int) {
	t.Helper()
	rs, err := s.Runs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := s.Points(context.Background(), history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs), len(ps)
}

func TestAddIsIdempotent(t *testing.T) {
	backends(t, func(t *testing.T, target string) {
		ctx := context.Background()
		dir := filepath.Join(t.TempDir(), "run")
		if _, err := fixture.Write(dir, fixture.Default("alpha", 1)); err != nil {
			t.Fatal(err)
		}
		s := open(t, target)
		first := add(t, s, dir, map[string]string{"branch": "main"})
		if !first.Added || first.Series != 36 {
			t.Fatalf("first add: %+v, want added with 36 series", first)
		}
		runs, series := count(t, s)
		again := add(t, s, dir, map[string]string{"branch": "main"})
		if again.Added {
			t.Errorf("second add of the same run reported as added")
		}
		if r2, s2 := count(t, s); r2 != runs || s2 != series || runs != 1 || series != 36 {
			t.Errorf("after re-add: %d runs %d series, before %d %d", r2, s2, runs, series)
		}
		// Reopening (the next command) sees the same history and adds nothing either.
		s.Close()
		s = open(t, target)
		if again := add(t, s, dir, map[string]string{"branch": "main"}); again.Added {
			t.Errorf("re-add after reopening reported as added")
		}
		rs, err := s.Runs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rs[0].ID != "fixture-alpha" || rs[0].Labels["branch"] != "main" || rs[0].Dir != dir || !strings.HasPrefix(rs[0].Digest, "sha256:") {
			t.Errorf("stored run: %+v", rs[0])
		}

		// Same id, other labels: refused, nothing changed.
		run, err := history.ReadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		var ce *history.ConflictError
		if _, err := s.Add(ctx, run, map[string]string{"branch": "dev"}); !errors.As(err, &ce) {
			t.Errorf("other labels: err = %v, want a conflict", err)
		}
		// Same id, other content: refused.
		other := filepath.Join(t.TempDir(), "run")
		if _, err := fixture.Write(other, fixture.Default("alpha", 2)); err != nil {
			t.Fatal(err)
		}
		run2, err := history.ReadRun(other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(ctx, run2, map[string]string{"branch": "main"}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "history remove") {
			t.Errorf("other content: err = %v, want a conflict naming history remove", err)
		}
		if r2, s2 := count(t, s); r2 != 1 || s2 != 36 {
			t.Errorf("refused adds changed the history: %d runs %d series", r2, s2)
		}
		// Removed, the other content goes in.
		if err := s.Remove(ctx, "fixture-alpha"); err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(ctx, "fixture-alpha"); !errors.Is(err, history.ErrNoRun) {
			t.Errorf("second remove: %v, want ErrNoRun", err)
		}
		if res, err := s.Add(ctx, run2, nil); err != nil || !res.Added {
			t.Errorf("add after remove: %+v %v", res, err)
		}
	})
}

func TestStepChangeFoundAtItsRun(t *testing.T) {
	backends(t, func(t *testing.T, target string) {
		ctx := context.Background()
		s := open(t, target)
		dirs := historytest.StepHistory(t, 30, 20)
		for _, d := range dirs {
			add(t, s, d, nil)
		}
		runs, err := s.Runs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		points, err := s.Points(ctx, history.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		courses, _, err := history.Courses(runs, points, history.ByTime, changepoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(courses) != 4*9 {
			t.Fatalf("%d courses, want 36", len(courses))
		}
		var found []string
		for _, c := range courses {
			if len(c.Points) != 30 {
				t.Errorf("%s %s: %d points, want 30", c.Runtime, c.Title(), len(c.Points))
			}
			for _, ch := range c.Changes {
				found = append(found, fmt.Sprintf("%s %s at %d (%s -> %s, x%.3f)", c.Runtime, c.Title(), ch.Index, ch.BeforeRun.ID, ch.AfterRun.ID, ch.Ratio))
			}
		}
		want := fmt.Sprintf("%s startup/total at 20 (%s -> %s, x", historytest.StepRuntime, historytest.RunID(19), historytest.RunID(20))
		if len(found) != 1 || !strings.HasPrefix(found[0], want) {
			t.Fatalf("change points %q, want exactly one: %s...", found, want)
		}
		for _, c := range courses {
			if len(c.Changes) == 1 && math.Abs(c.Changes[0].Ratio-historytest.StepFactor) > 0.05 {
				t.Errorf("step ratio %g, want about %g", c.Changes[0].Ratio, historytest.StepFactor)
			}
		}
	})
}

func TestFlatNoisyHistoryHasNoChange(t *testing.T) {
	backends(t, func(t *testing.T, target string) {
		ctx := context.Background()
		s := open(t, target)
		for _, d := range historytest.StepHistory(t, 30, -1) {
			add(t, s, d, map[string]string{"kernel-build": "k"})
		}
		runs, err := s.Runs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		points, err := s.Points(ctx, history.Filter{Benchmarks: []string{"disk", "startup"}})
		if err != nil {
			t.Fatal(err)
		}
		courses, _, err := history.Courses(runs, points, history.ByTime, changepoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(courses) != 4*4 {
			t.Fatalf("%d courses, want 16 (disk and startup only)", len(courses))
		}
		for _, c := range courses {
			if len(c.Changes) > 0 {
				t.Errorf("flat %s %s: change points %+v", c.Runtime, c.Title(), c.Changes)
			}
		}
		// By a label every run shares: one pooled point per course.
		courses, _, err = history.Courses(runs, points, "kernel-build", changepoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c := courses[0]; len(c.Points) != 1 || len(c.Points[0].Runs) != 30 || c.Points[0].N < 30*28 {
			t.Errorf("pooled by label: %d points, %d runs, n %d", len(c.Points), len(c.Points[0].Runs), c.Points[0].N)
		}
	})
}

func TestHostileRunsRefused(t *testing.T) {
	good := filepath.Join(t.TempDir(), "run")
	if _, err := fixture.Write(good, fixture.Default("alpha", 1)); err != nil {
		t.Fatal(err)
	}
	copyRun := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "run")
		if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	edit := func(t *testing.T, dir, file, old, new string) {
		p := filepath.Join(dir, file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s lacks %q", file, old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, want string
		change     func(t *testing.T, dir string)
	}{
		{"value out of float range", "not an isobench results file", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, results.SamplesFile))
			line := strings.SplitN(string(b), "\n", 3)[1]
			i := strings.Index(line, `"value":`) + len(`"value":`)
			j := i + strings.IndexAny(line[i:], ",}")
			edit(t, dir, results.SamplesFile, line, line[:i]+"1e999"+line[j:])
		}},
		{"samples.jsonl a symlink", "symlink", func(t *testing.T, dir string) {
			p := filepath.Join(dir, results.SamplesFile)
			if err := os.Rename(p, p+".real"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(p+".real", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"environment.json a symlink", "symlink", func(t *testing.T, dir string) {
			p := filepath.Join(dir, results.EnvironmentFile)
			if err := os.Rename(p, p+".real"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(p+".real", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"unfinished run", "has not finished", func(t *testing.T, dir string) {
			edit(t, dir, results.EnvironmentFile, `"finished": "2025-01-02T04:04:05Z"`, `"finished": "0001-01-01T00:00:00Z"`)
		}},
		{"run id with a slash", "not a run id", func(t *testing.T, dir string) {
			edit(t, dir, results.EnvironmentFile, `"run_id": "fixture-alpha"`, `"run_id": "../etc"`)
		}},
		{"sample of another run", "a sample of run", func(t *testing.T, dir string) {
			edit(t, dir, results.SamplesFile, `"run_id":"fixture-alpha"`, `"run_id":"other"`)
		}},
		{"control character in a runtime name", "control character", func(t *testing.T, dir string) {
			edit(t, dir, results.SamplesFile, `"runtime":"runc"`, `"runtime":"ru\u001bnc"`)
		}},
		{"cut-short last line", "damaged", func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, results.SamplesFile), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(`{"schema_version":1,"run_id":"fixture-alpha","val`)
			f.Close()
		}},
		{"no environment.json", "no environment.json", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, results.EnvironmentFile))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyRun(t)
			c.change(t, dir)
			_, err := history.ReadRun(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if !history.IsInputError(err) {
				t.Errorf("%v is not an input error", err)
			}
		})
	}
}

func TestDatabaseOfAnotherLayoutRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s := open(t, path)
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE isobench_history SET version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := history.Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), "layout version") {
		t.Fatalf("err = %v, want a layout version error", err)
	}
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := history.Open(context.Background(), link); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("symlinked database: err = %v", err)
	}
}

// A run's series keys, params included, are the results layer's: a param value holding
// the canonical form's separators is stored escaped, keyed exactly as report and
// compare key it, and read back unchanged.
func TestSeriesKeyedAsResults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	spec := fixture.Default("alpha", 1)
	spec.Metrics = append(spec.Metrics, fixture.Metric{Benchmark: "disk", Name: "write_throughput", Unit: "MiB/s",
		Better: results.Higher, Base: 300, Spread: 0.1, Params: []map[string]string{{"opts": "direct=1,sync", "block": "4KiB"}}})
	if _, err := fixture.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	data, err := results.LoadDataset(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	run, err := history.ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Series) != len(data.Series) {
		t.Fatalf("history reads %d series, results %d", len(run.Series), len(data.Series))
	}
	want := results.Params{"opts": "direct=1,sync", "block": "4KiB"}.String()
	found := false
	for _, p := range run.Series {
		s := data.Series[p.SeriesKey]
		if s == nil {
			t.Fatalf("history series %s is no series of the results layer", p.Name(true))
		}
		if len(p.Values) != len(s.Values) {
			t.Errorf("%s: %d values, results has %d", p.Name(true), len(p.Values), len(s.Values))
		}
		found = found || p.Params == want
	}
	if !found {
		t.Fatalf("no series with params %q", want)
	}
	backends(t, func(t *testing.T, target string) {
		s := open(t, target)
		add(t, s, dir, nil)
		points, err := s.Points(context.Background(), history.Filter{Metrics: []string{"write_throughput"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(points) != len(spec.Runtimes) {
			t.Fatalf("%d write_throughput points, want %d", len(points), len(spec.Runtimes))
		}
		for _, p := range points {
			if p.Params != want {
				t.Errorf("stored params %q, want %q", p.Params, want)
			}
			if got, err := results.ParseParams(p.Params); err != nil || got["opts"] != "direct=1,sync" {
				t.Errorf("stored params %q parse to %v, %v", p.Params, got, err)
			}
		}
	})
}

// Labels a run recorded (isobench run --label) go into the history with it, beside those
// given to add; a given label may not change a recorded one, and a recorded label must be
// printable and may not take a built-in label's name.
func TestRecordedLabelsGoIntoTheHistory(t *testing.T) {
	runDir := func(t *testing.T, labels map[string]string) string {
		dir := filepath.Join(t.TempDir(), "run")
		spec := fixture.Default("alpha", 1)
		spec.Labels = labels
		if _, err := fixture.Write(dir, spec); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir := runDir(t, map[string]string{"runc-commit": "1a2b3c"})
	backends(t, func(t *testing.T, target string) {
		ctx := context.Background()
		s := open(t, target)
		run, err := history.ReadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := s.Add(ctx, run, map[string]string{"branch": "main"}); err != nil || !res.Added {
			t.Fatalf("add: %+v, %v", res, err)
		}
		runs, err := s.Runs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Labels["runc-commit"] != "1a2b3c" || runs[0].Labels["branch"] != "main" || len(runs[0].Labels) != 2 {
			t.Fatalf("stored labels %+v, want the recorded runc-commit and the given branch", runs)
		}
		if res, err := s.Add(ctx, run, map[string]string{"branch": "main", "runc-commit": "1a2b3c"}); err != nil || res.Added {
			t.Errorf("re-add naming the recorded label again: %+v, %v; want unchanged", res, err)
		}
		if _, err := s.Add(ctx, run, map[string]string{"branch": "main", "runc-commit": "ffffff"}); err == nil || !history.IsInputError(err) ||
			!strings.Contains(err.Error(), "recorded label runc-commit=1a2b3c") {
			t.Errorf("a given label changing a recorded one: %v, want an input error naming it", err)
		}
		points, err := s.Points(ctx, history.Filter{Benchmarks: []string{"startup"}})
		if err != nil {
			t.Fatal(err)
		}
		courses, _, err := history.Courses(runs, points, "runc-commit", changepoint.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range courses {
			if len(c.Points) != 1 || c.Points[0].Label != "1a2b3c" {
				t.Errorf("%s %s by runc-commit: %+v", c.Runtime, c.Title(), c.Points)
			}
		}
	})
	for name, labels := range map[string]map[string]string{
		"a built-in label's name": {"kernel": "6.1"},
		"a control character":     {"runc-commit": "1a\x1b[2J"},
		"a separator in the name": {"a=b": "c"},
		"an overlong value":       {"note": strings.Repeat("x", 300)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := history.ReadRun(runDir(t, labels))
			if err == nil || !history.IsInputError(err) {
				t.Fatalf("err = %v, want the run refused as input", err)
			}
		})
	}
}
