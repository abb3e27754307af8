// Package report turns run directories into statistics, a terminal table, CSV,
// Markdown, a self-contained HTML page and charts (PNG and SVG).
package report

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/isobench/isobench/internal/results"
)

// SeriesKey identifies one series: all samples of one metric of one runtime on one
// host with the same parameters (the trial number aside).
type SeriesKey struct {
	Host      string
	Runtime   string
	Benchmark string
	Metric    string
	// Params are the sample's params as sorted "k=v" joined by ",".
	Params string
}

// Series holds the values of one series. After Load, Values are sorted ascending.
type Series struct {
	Key    SeriesKey
	Unit   string
	Better results.Better
	Values []float64
	// Info holds every "key=value" fact the samples carried (the network stack that
	// served them), each once.
	Info map[string]bool
}

// Run is one run directory that was read.
type Run struct {
	Dir string
	// Env is nil when the run has no environment.json.
	Env   *results.Environment
	Hosts []string
}

// FailureCount counts failed trials of one runtime and benchmark.
type FailureCount struct {
	Host, Runtime, Benchmark string
	Count                    int
	// FirstError is the error of the first failed trial, as an example.
	FirstError string
}

// Dataset is everything read from the run directories, aggregated per series.
type Dataset struct {
	Runs     []Run
	Series   map[SeriesKey]*Series
	Failures []FailureCount
	Samples  int
	// Warnings are problems in the input that did not stop the report.
	Warnings []string
}

// LoadDataset streams the samples of every run directory into per-series value
// slices. Memory is about 8 bytes per sample plus the series; Sample records and
// file contents are never held.
func LoadDataset(ctx context.Context, dirs []string) (*Dataset, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no run directory given")
	}
	d := &Dataset{Series: make(map[SeriesKey]*Series)}
	failures := make(map[[3]string]*FailureCount)
	for _, dir := range dirs {
		if err := results.CheckRunDir(dir); err != nil {
			return nil, err
		}
		run := Run{Dir: dir}
		env, err := results.ReadEnvironment(dir)
		switch {
		case err == nil:
			run.Env = &env
		case errors.Is(err, os.ErrNotExist):
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s has no %s: runtime classes, versions and the baseline are unknown", dir, results.EnvironmentFile))
		default:
			return nil, err
		}
		hosts := map[string]bool{}
		var last *Series
		warns, err := results.ReadSamples(filepath.Join(dir, results.SamplesFile), func(s results.Sample) error {
			d.Samples++
			if d.Samples%65536 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			key := SeriesKey{Host: s.Host, Runtime: s.Runtime, Benchmark: s.Benchmark, Metric: s.Metric, Params: paramsKey(s.Params)}
			// Consecutive samples mostly belong to the same series; skip the map then.
			if last == nil || last.Key != key {
				last = d.Series[key]
				if last == nil {
					last = &Series{Key: key, Unit: s.Unit, Better: s.Better}
					d.Series[key] = last
					hosts[s.Host] = true
				}
			}
			last.Values = append(last.Values, s.Value)
			for k, v := range s.Info {
				if last.Info == nil {
					last.Info = map[string]bool{}
				}
				last.Info[k+"="+v] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, w := range warns {
			d.Warnings = append(d.Warnings, w.String())
		}
		warns, err = results.ReadFailures(filepath.Join(dir, results.FailuresFile), func(f results.Failure) error {
			k := [3]string{f.Host, f.Runtime, f.Benchmark}
			fc := failures[k]
			if fc == nil {
				fc = &FailureCount{Host: f.Host, Runtime: f.Runtime, Benchmark: f.Benchmark, FirstError: f.Error}
				failures[k] = fc
			}
			fc.Count++
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, w := range warns {
			d.Warnings = append(d.Warnings, w.String())
		}
		for h := range hosts {
			run.Hosts = append(run.Hosts, h)
		}
		sort.Strings(run.Hosts)
		d.Runs = append(d.Runs, run)
	}
	for _, s := range d.Series {
		slices.Sort(s.Values)
	}
	for _, fc := range failures {
		d.Failures = append(d.Failures, *fc)
	}
	sort.Slice(d.Failures, func(i, j int) bool {
		a, b := d.Failures[i], d.Failures[j]
		return a.Host+"\x00"+a.Runtime+"\x00"+a.Benchmark < b.Host+"\x00"+b.Runtime+"\x00"+b.Benchmark
	})
	if d.Samples == 0 {
		return nil, &results.NotResultsError{Path: strings.Join(dirs, ", "), Reason: "no samples in " + results.SamplesFile}
	}
	return d, nil
}

// paramsKey is params as sorted "k=v" pairs joined by ","; "trial" is left out since
// trials of one series differ only in it.
func paramsKey(params map[string]string) string {
	if len(params) == 0 {
		return ""
	}
	pairs := make([]string, 0, len(params))
	for k, v := range params {
		if k == "trial" {
			continue
		}
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// parseParams splits a paramsKey back into its pairs.
func parseParams(key string) map[string]string {
	m := map[string]string{}
	if key == "" {
		return m
	}
	for _, kv := range strings.Split(key, ",") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// environmentFor finds what the runs know about a runtime on a host.
func (d *Dataset) environmentFor(host string) *results.Environment {
	for _, r := range d.Runs {
		if r.Env != nil && slices.Contains(r.Hosts, host) {
			return r.Env
		}
	}
	return nil
}
