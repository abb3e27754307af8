package compare_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/cli"
	"github.com/isobench/isobench/internal/compare"
	"github.com/isobench/isobench/internal/report/fixture"
)

func run(t *testing.T, name string, seed uint64, edit func(*fixture.Spec)) string {
	t.Helper()
	spec := fixture.Default("ci-host", seed)
	spec.Failures = 0
	if edit != nil {
		edit(&spec)
	}
	dir := filepath.Join(t.TempDir(), name)
	if _, err := fixture.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Two runs of the same runtimes (other random draws) differ in nothing significant.
func TestSameRuntimesNoSignificantChange(t *testing.T) {
	old, cur := run(t, "old", 1, nil), run(t, "new", 2, nil)
	res, err := compare.Runs(context.Background(), old, cur, compare.Options{Gate: true, Threshold: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 36 {
		t.Fatalf("%d rows compared, want 36", len(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Significant {
			t.Errorf("%s %s/%s[%s]: %+.1f%% p=%.4f flagged significant", r.Runtime, r.Benchmark, r.Metric, r.Params, 100*r.Change, r.P)
		}
		emulatedNote := strings.Contains(strings.Join(r.Notes, "\n"), "emulated on both sides")
		if emulatedNote != (r.Runtime == "qemu-tcg") {
			t.Errorf("%s %s/%s: notes %q", r.Runtime, r.Benchmark, r.Metric, r.Notes)
		}
	}
	if code := cli.Main([]string{"compare", "--threshold", "5%", old, cur}); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// One runtime made 20% slower is flagged, only it, and the gate fails.
func TestSlowerRuntimeIsFlagged(t *testing.T) {
	old := run(t, "old", 1, nil)
	cur := run(t, "new", 2, func(s *fixture.Spec) { s.Runtimes[1].Factor *= 1.2 }) // runc
	res, err := compare.Runs(context.Background(), old, cur, compare.Options{Gate: true, Threshold: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		if r.Runtime != "runc" {
			if r.Regression {
				t.Errorf("%s %s/%s flagged as a regression", r.Runtime, r.Benchmark, r.Metric)
			}
			continue
		}
		if r.Metric == "total" {
			if !r.Regression || r.Change < 0.15 || r.Change > 0.25 || r.ChangeCI.Lo > 0.2 || r.ChangeCI.Hi < 0.2 {
				t.Errorf("runc startup/total: change %+.3f %+v regression=%v, want +20%% inside the interval", r.Change, r.ChangeCI, r.Regression)
			}
		}
		if r.Metric == "events_per_sec" && (!r.Worse || r.Change > -0.1) {
			t.Errorf("runc events_per_sec (higher is better) change %+.3f worse=%v, want about -17%% and worse", r.Change, r.Worse)
		}
	}
	var out strings.Builder
	if err := compare.Table(&out, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "REGRESSION") || !strings.Contains(out.String(), "~") {
		t.Errorf("table lacks REGRESSION or ~:\n%s", out.String())
	}
	// 0.05 was once read as 0.05%; it is the same threshold as 5%.
	for _, th := range []string{"5%", "0.05"} {
		if code := cli.Main([]string{"compare", "--threshold", th, old, cur}); code != 1 {
			t.Errorf("--threshold %s: exit status %d, want 1", th, code)
		}
	}
	// A threshold above the change passes (runc is about 20% slower).
	if code := cli.Main([]string{"compare", "--threshold", "0.5", old, cur}); code != 0 {
		t.Errorf("--threshold 0.5: exit status %d, want 0", code)
	}
	// Without a threshold there is no gate.
	if code := cli.Main([]string{"compare", old, cur}); code != 0 {
		t.Errorf("exit status without --threshold %d, want 0", code)
	}
}

func TestRuntimesWithinOneRun(t *testing.T) {
	dir := run(t, "one", 1, nil)
	res, err := compare.Runtimes(context.Background(), dir, "host", "runc", compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 9 {
		t.Fatalf("%d rows, want 9", len(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Metric == "total" && (!r.Significant || r.Change < 0.25 || r.Change > 0.35) {
			t.Errorf("runc vs host startup: %+.3f significant=%v, want about +30%%", r.Change, r.Significant)
		}
	}
	if code := cli.Main([]string{"compare", "--runtimes", "host,nosuch", dir}); code != 2 {
		t.Errorf("unknown runtime: exit status %d, want 2", code)
	}
	if code := cli.Main([]string{"compare", "--threshold", "lots", dir, dir}); code != 2 {
		t.Errorf("bad threshold: exit status %d, want 2", code)
	}
}

func TestBadInputExitsTwo(t *testing.T) {
	good := run(t, "good", 1, nil)
	notRun := t.TempDir()
	if err := os.WriteFile(filepath.Join(notRun, "samples.jsonl"), []byte("hello world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := t.TempDir()
	if err := os.WriteFile(filepath.Join(future, "samples.jsonl"), []byte(`{"schema_version":99,"runtime":"x","metric":"y","value":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"compare not a run":     {"compare", good, notRun},
		"compare future schema": {"compare", future, good},
		"report not a run":      {"report", "--format", "none", notRun},
		"report future schema":  {"report", "--format", "none", future},
		"report no such dir":    {"report", filepath.Join(notRun, "nope")},
		"report no args":        {"report"},
	} {
		if code := cli.Main(args); code != 2 {
			t.Errorf("%s: exit status %d, want 2", name, code)
		}
	}
	if code := cli.Main([]string{"report", "--format", "none", "--out", t.TempDir(), good}); code != 0 {
		t.Errorf("report of a good run: exit status %d", code)
	}
}

// The gate's flags refuse what would silently turn it off, with exit status 2.
func TestGateFlagsRefuseBadInput(t *testing.T) {
	dir := run(t, "one", 1, nil)
	for _, args := range [][]string{
		{"compare", "--threshold", "NaN", dir, dir},
		{"compare", "--threshold", "Inf", dir, dir},
		{"compare", "--threshold", "-5%", dir, dir},
		{"compare", "--threshold", "5", dir, dir},
		{"compare", "--max-failed", "NaN", "--threshold", "5%", dir, dir},
		{"compare", "--whole-interval", dir, dir},
		{"compare", "--format", "xml", dir, dir},
		{"report", "--noise", "NaN", "--format", "none", dir},
	} {
		if code := cli.Main(args); code != 2 {
			t.Errorf("%v: exit status %d, want 2", args, code)
		}
	}
	// 5% and 0.05 are the same threshold.
	for _, th := range []string{"5%", "0.05"} {
		if code := cli.Main([]string{"compare", "--threshold", th, "--format", "json", dir, dir}); code != 0 {
			t.Errorf("--threshold %s on identical runs: exit status %d", th, code)
		}
	}
}

// Two runtimes of one interleaved run are compared round by round.
func TestRuntimesArePairedByRound(t *testing.T) {
	dir := run(t, "one", 1, nil)
	res, err := compare.Runtimes(context.Background(), dir, "host", "runc", compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		if !r.Paired || r.Pairs != 30 || r.Test.Method != "exact" {
			t.Errorf("%s/%s: paired=%v pairs=%d method=%s", r.Benchmark, r.Metric, r.Paired, r.Pairs, r.Test.Method)
		}
	}
	var out strings.Builder
	if err := compare.Table(&out, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "signed-rank test on the paired rounds") {
		t.Errorf("table does not say the rounds were paired:\n%s", out.String())
	}
}

// A runtime that failed trials in NEW where OLD had none fails the gate, read from failures.jsonl.
func TestNewFailuresFromFailuresFileFailTheGate(t *testing.T) {
	old := run(t, "old", 1, nil)
	cur := run(t, "new", 2, func(s *fixture.Spec) { s.Failures = 3 })
	res, err := compare.Runs(context.Background(), old, cur, compare.Options{Gate: true, Threshold: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range res.Gate {
		found = found || g.Reason == compare.ReasonFailed && strings.Contains(g.Message, "qemu-tcg startup: 3 of 30 trials failed in NEW (10%)")
	}
	if !found {
		t.Errorf("gate %+v lacks the failed trials of qemu-tcg", res.Gate)
	}
	if code := cli.Main([]string{"compare", "--threshold", "5%", old, cur}); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
}
