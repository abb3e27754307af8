package history

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/results"
)

// RunInfo is a stored run.
type RunInfo struct {
	ID, Digest, Dir, Hosts          string
	IsobenchVersion, IsobenchCommit string
	Kernel                          string
	Started, Finished, Added        time.Time
	Failures                        int
	Labels                          map[string]string
}

// Runs lists the stored runs, oldest start first.
func (s *Store) Runs(ctx context.Context) ([]RunInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, digest, dir, hosts, isobench_version, isobench_commit, kernel,
		started_ns, finished_ns, added_ns, failures FROM runs ORDER BY started_ns, run_id`)
	if err != nil {
		return nil, fmt.Errorf("listing runs of %s: %w", s.Where, err)
	}
	var out []RunInfo
	for rows.Next() {
		var r RunInfo
		var started, finished, added int64
		if err := rows.Scan(&r.ID, &r.Digest, &r.Dir, &r.Hosts, &r.IsobenchVersion, &r.IsobenchCommit, &r.Kernel,
			&started, &finished, &added, &r.Failures); err != nil {
			rows.Close()
			return nil, fmt.Errorf("listing runs of %s: %w", s.Where, err)
		}
		r.Started, r.Finished, r.Added = time.Unix(0, started).UTC(), time.Unix(0, finished).UTC(), time.Unix(0, added).UTC()
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing runs of %s: %w", s.Where, err)
	}
	labels, err := s.allLabels(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Labels = labels[out[i].ID]
	}
	return out, nil
}

func (s *Store) allLabels(ctx context.Context) (map[string]map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, name, value FROM labels`)
	if err != nil {
		return nil, fmt.Errorf("reading labels of %s: %w", s.Where, err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return nil, fmt.Errorf("reading labels of %s: %w", s.Where, err)
		}
		if out[id] == nil {
			out[id] = map[string]string{}
		}
		out[id][k] = v
	}
	return out, rows.Err()
}

// Filter narrows Points; empty fields match everything.
type Filter struct {
	Benchmarks, Metrics, Runtimes, Hosts []string
}

// Point is one series of one run, as read from its directory or from the history: the
// results layer's series key with what the run's environment.json says of its runtime.
type Point struct {
	RunID string
	results.SeriesKey
	Class          string
	Emulated       bool
	RuntimeVersion string
	Unit           string
	Better         results.Better
	// Values are the run's samples of the series, sorted ascending.
	Values []float64
}

// Points reads the stored series that match f. Values are checked again on the way
// out: a database others write to is input too.
func (s *Store) Points(ctx context.Context, f Filter) ([]Point, error) {
	q := `SELECT run_id, host, runtime, class, emulated, runtime_version, benchmark, metric, params, unit, better, vals FROM series`
	var where []string
	var args []any
	for _, c := range []struct {
		col  string
		vals []string
	}{{"benchmark", f.Benchmarks}, {"metric", f.Metrics}, {"runtime", f.Runtimes}, {"host", f.Hosts}} {
		if len(c.vals) == 0 {
			continue
		}
		where = append(where, c.col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(c.vals)), ", ")+")")
		for _, v := range c.vals {
			args = append(args, v)
		}
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, s.bind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("reading series of %s: %w", s.Where, err)
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		var emulated int
		var better, vals string
		if err := rows.Scan(&p.RunID, &p.Host, &p.Runtime, &p.Class, &emulated, &p.RuntimeVersion, &p.Benchmark, &p.Metric,
			&p.Params, &p.Unit, &better, &vals); err != nil {
			return nil, fmt.Errorf("reading series of %s: %w", s.Where, err)
		}
		p.Emulated, p.Better = emulated != 0, results.Better(better)
		if err := json.Unmarshal([]byte(vals), &p.Values); err != nil {
			return nil, fmt.Errorf("reading series of run %s from %s: values are damaged: %w", p.RunID, s.Where, err)
		}
		if len(p.Values) == 0 {
			return nil, fmt.Errorf("reading series of run %s from %s: a series without values", p.RunID, s.Where)
		}
		for _, v := range p.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("reading series of run %s from %s: a value is NaN or infinite", p.RunID, s.Where)
			}
		}
		slices.Sort(p.Values)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading series of %s: %w", s.Where, err)
	}
	return out, nil
}
