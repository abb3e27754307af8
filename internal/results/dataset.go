package results

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Run is one run directory that was read.
type Run struct {
	Dir string
	// Env is nil when the run has no environment.json.
	Env   *Environment
	Hosts []string
}

// TrialKey names the trials of one runtime and benchmark on one host.
type TrialKey struct{ Host, Runtime, Benchmark string }

// FailureCount counts failed trials of one runtime and benchmark.
type FailureCount struct {
	Host, Runtime, Benchmark string
	Count                    int
	// FirstError is the error of the first failed trial, as an example.
	FirstError string
}

// Dataset is everything read from run directories, aggregated per series.
type Dataset struct {
	Runs     []Run
	Series   map[SeriesKey]*Series
	Failures []FailureCount
	// Succeeded counts the trials that gave samples, per host, runtime and benchmark,
	// so that a count of failures can be stated as a share of the trials.
	Succeeded map[TrialKey]int
	Samples   int
	// Warnings are problems in the input that did not stop the reading.
	Warnings []string
}

// LoadDataset streams the samples of every run directory into per-series value
// slices. Memory is about 16 bytes per sample plus the series; Sample records and
// file contents are never held.
func LoadDataset(ctx context.Context, dirs []string) (*Dataset, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no run directory given")
	}
	d := &Dataset{Series: make(map[SeriesKey]*Series), Succeeded: map[TrialKey]int{}}
	failures := make(map[TrialKey]*FailureCount)
	mixed := map[SeriesKey]bool{}
	for _, dir := range dirs {
		if err := CheckRunDir(dir); err != nil {
			return nil, err
		}
		run := Run{Dir: dir}
		env, err := ReadEnvironment(dir)
		switch {
		case err == nil:
			run.Env = &env
		case errors.Is(err, os.ErrNotExist):
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s has no %s: runtime classes, versions and the baseline are unknown", dir, EnvironmentFile))
		default:
			return nil, err
		}
		hosts := map[string]bool{}
		trials := map[TrialKey]map[int]bool{}
		var last *Series
		var lastParams map[string]string
		warns, err := ReadSamples(filepath.Join(dir, SamplesFile), func(s Sample) error {
			d.Samples++
			if d.Samples%65536 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			// Consecutive samples mostly belong to the same series; skip the key then.
			if last == nil || last.Key.Runtime != s.Runtime || last.Key.Metric != s.Metric || last.Key.Benchmark != s.Benchmark ||
				last.Key.Host != s.Host || !sameParams(lastParams, s.Params) {
				key := KeyOf(s)
				last = d.Series[key]
				if last == nil {
					last = &Series{Key: key, Unit: s.Unit, Better: s.Better}
					if run.Env != nil {
						last.Emulated = run.Env.Runtimes[s.Runtime].Emulated
						if m, ok := run.Env.Metric(s.Benchmark, s.Metric); ok {
							last.Caveat = m.Caveat
						}
					}
					d.Series[key] = last
					hosts[s.Host] = true
				}
				lastParams = s.Params
			}
			if (s.Unit != last.Unit || s.Better != last.Better) && !mixed[last.Key] {
				mixed[last.Key] = true
				d.Warnings = append(d.Warnings, fmt.Sprintf("%s: series %s has samples in %s (%s is better) and in %s (%s is better); every value is read as %s",
					dir, last.Key.Name(true), last.Unit, last.Better, s.Unit, s.Better, last.Unit))
			}
			last.Add(s.Value, s.Trial)
			tk := TrialKey{s.Host, s.Runtime, s.Benchmark}
			if trials[tk] == nil {
				trials[tk] = map[int]bool{}
			}
			trials[tk][s.Trial] = true
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
		for tk, ts := range trials {
			d.Succeeded[tk] += len(ts)
		}
		warns, err = ReadFailures(filepath.Join(dir, FailuresFile), func(f Failure) error {
			k := TrialKey{f.Host, f.Runtime, f.Benchmark}
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
		s.Sort()
	}
	for _, fc := range failures {
		d.Failures = append(d.Failures, *fc)
	}
	sort.Slice(d.Failures, func(i, j int) bool {
		a, b := d.Failures[i], d.Failures[j]
		return a.Host+"\x00"+a.Runtime+"\x00"+a.Benchmark < b.Host+"\x00"+b.Runtime+"\x00"+b.Benchmark
	})
	if d.Samples == 0 {
		return nil, &NotResultsError{Path: strings.Join(dirs, ", "), Reason: "no samples in " + SamplesFile}
	}
	return d, nil
}

// sameParams tells whether two samples' params name the same series.
func sameParams(a, b map[string]string) bool {
	for k, v := range a {
		if bv, ok := b[k]; k != TrialParam && (!ok || bv != v) {
			return false
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && k != TrialParam {
			return false
		}
	}
	return true
}

// EnvironmentFor is what the runs know about a host (nil when none has an
// environment.json for it).
func (d *Dataset) EnvironmentFor(host string) *Environment {
	for _, r := range d.Runs {
		if r.Env != nil && slices.Contains(r.Hosts, host) {
			return r.Env
		}
	}
	return nil
}

// Hosts are the hosts of every series.
func (d *Dataset) Hosts() map[string]bool {
	h := map[string]bool{}
	for k := range d.Series {
		h[k.Host] = true
	}
	return h
}
