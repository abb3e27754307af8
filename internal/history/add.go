package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/stats"
)

// ConflictError is a run id already in the history with other content or labels.
type ConflictError struct {
	RunID, Where string
	What         string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("run %s is already in history %s with different %s; remove it first (isobench history remove %s) to replace it",
		e.RunID, e.Where, e.What, e.RunID)
}

// AddResult tells what an add did.
type AddResult struct {
	RunID string
	// Added is false when the run was there already with the same content: nothing changed.
	Added  bool
	Series int
}

// CheckLabel accepts a label name and value given with `isobench run --label` or
// `history add --label`.
func CheckLabel(name, value string) error {
	if err := checkName("label", name); err != nil {
		return err
	}
	return checkText("label value", value, maxNameLen)
}

// checkRunLabel accepts a label a run recorded: a valid one that does not take the name
// of a label every run has.
func checkRunLabel(name, value string) error {
	if err := CheckLabel(name, value); err != nil {
		return err
	}
	if _, builtin := builtinLabels[name]; builtin {
		return fmt.Errorf("label %q takes the name of a label every run has", name)
	}
	return nil
}

// Add puts a run into the history in one transaction, with the labels the run recorded
// and those given here (a name in both must have one value). The same run (id and
// content digest) added again changes nothing; the same id with other content or other
// labels is a ConflictError.
func (s *Store) Add(ctx context.Context, run *Run, given map[string]string) (AddResult, error) {
	res := AddResult{RunID: run.ID, Series: len(run.Series)}
	labels := maps.Clone(run.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range given {
		if err := checkRunLabel(k, v); err != nil {
			return res, err
		}
		if recorded, ok := labels[k]; ok && recorded != v {
			return res, refuse(run.Dir, "the run recorded label %s=%s; --label %s=%s would change it", k, recorded, k, v)
		}
		labels[k] = v
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("adding run %s to %s: %w", run.ID, s.Where, err)
	}
	defer tx.Rollback()
	hosts := map[string]bool{}
	for _, sr := range run.Series {
		hosts[sr.Host] = true
	}
	r, err := tx.ExecContext(ctx, s.bind(`INSERT INTO runs (run_id, digest, started_ns, finished_ns, added_ns, dir, hosts,
		isobench_version, isobench_commit, kernel, failures, environment)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING`),
		run.ID, run.Digest, run.Env.Started.UnixNano(), run.Env.Finished.UnixNano(), time.Now().UnixNano(), run.Dir,
		strings.Join(slices.Sorted(maps.Keys(hosts)), ","), run.Env.Isobench.Version, run.Env.Isobench.Commit,
		run.Env.Host.Kernel, run.Failures, string(run.EnvJSON))
	if err != nil {
		return res, fmt.Errorf("adding run %s to %s: %w", run.ID, s.Where, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return res, fmt.Errorf("adding run %s to %s: %w", run.ID, s.Where, err)
	}
	if n == 0 {
		return res, s.sameAsStored(ctx, tx, run, labels)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if _, err := tx.ExecContext(ctx, s.bind(`INSERT INTO labels (run_id, name, value) VALUES (?, ?, ?)`), run.ID, k, labels[k]); err != nil {
			return res, fmt.Errorf("adding labels of run %s to %s: %w", run.ID, s.Where, err)
		}
	}
	stmt, err := tx.PrepareContext(ctx, s.bind(`INSERT INTO series (run_id, host, runtime, class, emulated, runtime_version,
		benchmark, metric, params, unit, better, n, median, ci_lo, ci_hi, vals)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return res, fmt.Errorf("adding series of run %s to %s: %w", run.ID, s.Where, err)
	}
	defer stmt.Close()
	for _, sr := range run.Series {
		vals, err := json.Marshal(sr.Values)
		if err != nil {
			return res, fmt.Errorf("adding series of run %s: %w", run.ID, err)
		}
		emulated := 0
		if sr.Emulated {
			emulated = 1
		}
		median, ci := stats.Quantile(sr.Values, 0.5), medianInterval(sr.Values)
		if _, err := stmt.ExecContext(ctx, run.ID, sr.Host, sr.Runtime, sr.Class, emulated, sr.RuntimeVersion,
			sr.Benchmark, sr.Metric, sr.Params, sr.Unit, string(sr.Better), len(sr.Values), median, finiteOr(ci.Lo, median),
			finiteOr(ci.Hi, median), string(vals)); err != nil {
			return res, fmt.Errorf("adding series %s %s/%s of run %s to %s: %w", sr.Runtime, sr.Benchmark, sr.Metric, run.ID, s.Where, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("adding run %s to %s: %w", run.ID, s.Where, err)
	}
	res.Added = true
	return res, nil
}

// sameAsStored checks that the run already stored is the one being added.
func (s *Store) sameAsStored(ctx context.Context, tx *sql.Tx, run *Run, labels map[string]string) error {
	var digest string
	if err := tx.QueryRowContext(ctx, s.bind(`SELECT digest FROM runs WHERE run_id = ?`), run.ID).Scan(&digest); err != nil {
		return fmt.Errorf("reading run %s from %s: %w", run.ID, s.Where, err)
	}
	if digest != run.Digest {
		return &ConflictError{RunID: run.ID, Where: s.Where, What: "content (digest " + digest + ")"}
	}
	stored, err := s.labelsOf(ctx, tx, run.ID)
	if err != nil {
		return err
	}
	if !maps.Equal(stored, labels) && !(len(stored) == 0 && len(labels) == 0) {
		return &ConflictError{RunID: run.ID, Where: s.Where, What: "labels (" + formatLabels(stored) + ")"}
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Store) labelsOf(ctx context.Context, q querier, runID string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, s.bind(`SELECT name, value FROM labels WHERE run_id = ?`), runID)
	if err != nil {
		return nil, fmt.Errorf("reading labels of run %s: %w", runID, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("reading labels of run %s: %w", runID, err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

func formatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "none"
	}
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ", ")
}

// ErrNoRun is a run id the history does not hold.
var ErrNoRun = errors.New("no such run in the history")

// Remove deletes a run and everything stored with it.
func (s *Store) Remove(ctx context.Context, runID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("removing run %s from %s: %w", runID, s.Where, err)
	}
	defer tx.Rollback()
	for _, table := range []string{"series", "labels"} {
		if _, err := tx.ExecContext(ctx, s.bind(`DELETE FROM `+table+` WHERE run_id = ?`), runID); err != nil {
			return fmt.Errorf("removing run %s from %s: %w", runID, s.Where, err)
		}
	}
	r, err := tx.ExecContext(ctx, s.bind(`DELETE FROM runs WHERE run_id = ?`), runID)
	if err != nil {
		return fmt.Errorf("removing run %s from %s: %w", runID, s.Where, err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return fmt.Errorf("removing run %s from %s: %w", runID, s.Where, err)
	} else if n == 0 {
		return fmt.Errorf("removing run %s from %s: %w", runID, s.Where, ErrNoRun)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("removing run %s from %s: %w", runID, s.Where, err)
	}
	return nil
}

func finiteOr(v, fallback float64) float64 {
	if v != v || v > 1e308 || v < -1e308 {
		return fallback
	}
	return v
}
