package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/history/historytest"
	"github.com/isobench/isobench/internal/history/pgtest"
	"github.com/isobench/isobench/internal/report/fixture"
)

// The 30-run synthetic history through the command line: added once, re-added without
// change, and its one change point reported at the right runs, on the page too.
func TestHistoryAddAndReport(t *testing.T) {
	home := t.TempDir()
	dirs := historytest.StepHistory(t, 30, 20)
	out, errOut, code := isobenchHome(t, home, append([]string{"history", "add", "--label", "branch=main"}, dirs...)...)
	if code != 0 || strings.Count(out, "added ") != 30 {
		t.Fatalf("history add: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = isobenchHome(t, home, "history", "add", "--label", "branch=main", dirs[3])
	if code != 0 || !strings.Contains(out, "unchanged hist-03") {
		t.Fatalf("re-add: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = isobenchHome(t, home, "history", "list")
	if !strings.HasPrefix(out, "30 runs in "+filepath.Join(home, "history.db")) {
		t.Errorf("history list: %s", out)
	}

	page := filepath.Join(t.TempDir(), "page")
	out, errOut, code = isobenchHome(t, home, "history", "report", "--out", page)
	if code != 0 {
		t.Fatalf("history report: exit %d\n%s%s", code, out, errOut)
	}
	want := regexp.MustCompile(`(?m)^30 runs, 36 series, 1 change point\(s\)\n  runc startup/total: \+2\d\.\d% \(worse\) between hist-19 and hist-20 `)
	if !want.MatchString(out) {
		t.Errorf("history report printed:\n%s", out)
	}
	html, err := os.ReadFile(filepath.Join(page, "history.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`data-change="runc startup/total"`, "isobench compare " + dirs[19] + " " + dirs[20], `data-changes="1"`} {
		if !strings.Contains(string(html), s) {
			t.Errorf("history.html lacks %q", s)
		}
	}
	if strings.Contains(string(html), "http://") || strings.Contains(string(html), "https://") {
		t.Errorf("history.html refers to something online")
	}

	// By a label: all runs share branch=main, so one pooled point and no change.
	out, errOut, code = isobenchHome(t, home, "history", "report", "--out", page, "--by", "branch", "--bench", "startup")
	if code != 0 || !strings.HasPrefix(out, "30 runs, 8 series, 0 change point(s)") {
		t.Errorf("--by branch: exit %d\n%s%s", code, out, errOut)
	}

	for _, bad := range [][]string{
		{"history", "report", "--by", "nosuch"},
		{"history", "report", "--alpha", "2"},
		{"history", "add", "--label", "novalue", dirs[0]},
		{"history", "add", "--label", "commit=x", dirs[0]},
		{"history", "add", t.TempDir()},
		{"history", "remove", "nosuch"},
		{"history"},
	} {
		_, errOut, code := isobenchHome(t, home, bad...)
		if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("%v: exit %d, want 2 with one line:\n%s", bad, code, errOut)
		}
	}
}

// A team's PostgreSQL server through --db: the same adds and the same change point.
func TestHistoryOnPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	db := srv.NewDatabase(t, "team")
	home := t.TempDir()
	dirs := historytest.StepHistory(t, 30, 20)
	out, errOut, code := isobenchHome(t, home, append([]string{"history", "add", "--db", db}, dirs...)...)
	if code != 0 || strings.Count(out, "added ") != 30 {
		t.Fatalf("history add: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = isobenchHome(t, home, append([]string{"history", "add", "--db", db}, dirs...)...)
	if code != 0 || strings.Count(out, "unchanged ") != 30 {
		t.Fatalf("re-add: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = isobenchHome(t, home, "history", "report", "--db", db, "--out", filepath.Join(t.TempDir(), "page"))
	if code != 0 || !strings.Contains(out, "1 change point(s)\n  runc startup/total: ") || !strings.Contains(out, "between hist-19 and hist-20") {
		t.Errorf("history report: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(home, "history.db")); err == nil {
		t.Error("a SQLite file was made in the home although --db named a server")
	}
	// A server that is not there: one line, not a hang.
	_, errOut, code = isobenchHome(t, home, "history", "list", "--db", "postgres://nobody@/none?host=/nonexistent&connect_timeout=2")
	if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Errorf("unreachable server: exit %d\n%s", code, errOut)
	}
}

// Labels `isobench run --label` recorded go into the history with the run, and history
// report orders by them.
func TestHistoryKeepsRecordedLabels(t *testing.T) {
	home := t.TempDir()
	var dirs []string
	for i, commit := range []string{"aaa", "aaa", "bbb"} {
		spec := fixture.Default("alpha", uint64(i+1))
		spec.RunID, spec.Start = historytest.RunID(i), historytest.Start(i)
		spec.Labels = map[string]string{"runc-commit": commit}
		dir := filepath.Join(t.TempDir(), spec.RunID)
		if _, err := fixture.Write(dir, spec); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	out, errOut, code := isobenchHome(t, home, append([]string{"history", "add", "--label", "branch=main"}, dirs...)...)
	if code != 0 {
		t.Fatalf("history add: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = isobenchHome(t, home, "history", "list")
	if !strings.Contains(out, "branch=main,runc-commit=aaa") || !strings.Contains(out, "branch=main,runc-commit=bbb") {
		t.Errorf("history list does not show the recorded labels:\n%s", out)
	}
	out, errOut, code = isobenchHome(t, home, "history", "report", "--out", t.TempDir(), "--by", "runc-commit", "--bench", "startup")
	if code != 0 || !strings.HasPrefix(out, "3 runs, 8 series, 0 change point(s)") {
		t.Errorf("--by runc-commit: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = isobenchHome(t, home, "history", "add", "--label", "runc-commit=ccc", dirs[0])
	if code != 2 || !strings.Contains(errOut, "recorded label runc-commit=aaa") {
		t.Errorf("a --label changing a recorded one: exit %d, want 2 naming it:\n%s", code, errOut)
	}
}
