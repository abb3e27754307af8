// Package disk is the storage benchmark: fio sequential read and write bandwidth and 4 KiB
// random read and write IOPS with their 99th percentile latency, on the container's root
// filesystem (its writable layer) and on a tmpfs.
package disk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

// Name is the benchmark's name in configs and results.
const Name = "disk"

// Metric names.
const (
	MetricSeqRead       = "seq_read"
	MetricSeqWrite      = "seq_write"
	MetricRandReadIOPS  = "rand_read_iops"
	MetricRandWriteIOPS = "rand_write_iops"
	MetricRandReadP99   = "rand_read_p99"
	MetricRandWriteP99  = "rand_write_p99"
)

// Settings are the benchmark's settings (config file: benchmarks: disk: {...}).
type Settings struct {
	// Runtime is how long each of the four fio jobs runs (whole seconds).
	Runtime bench.Duration `yaml:"runtime"`
	// SizeMiB is the size of the test file.
	SizeMiB int `yaml:"size_mib"`
	// RootfsDir is the directory of the root filesystem test file; it must exist in the
	// image and be on the root filesystem (/tmp often is a tmpfs).
	RootfsDir string `yaml:"rootfs_dir"`
	// RootfsDirect is fio's --direct on the root filesystem (1 bypasses the page cache; 0
	// for runtimes whose filesystem refuses O_DIRECT).
	RootfsDirect int `yaml:"rootfs_direct"`
}

// DefaultSettings implements bench.Configurable.
func (Benchmark) DefaultSettings(quick bool) any {
	s := &Settings{Runtime: bench.Duration(10 * time.Second), SizeMiB: 1024, RootfsDir: "/var/tmp", RootfsDirect: 1}
	if quick {
		s.Runtime, s.SizeMiB = bench.Duration(2*time.Second), 64
	}
	return s
}

// Validate refuses settings fio cannot run.
func (s Settings) Validate() error {
	if s.SizeMiB < 1 {
		return fmt.Errorf("size_mib: %d MiB; need at least 1", s.SizeMiB)
	}
	if s.RootfsDirect != 0 && s.RootfsDirect != 1 {
		return fmt.Errorf("rootfs_direct: %d; want 0 or 1", s.RootfsDirect)
	}
	if s.Runtime <= 0 || s.RootfsDir == "" {
		return errors.New("runtime must be positive and rootfs_dir not empty")
	}
	return nil
}

// TmpfsDir is where the tmpfs is mounted in the container.
const TmpfsDir = "/isobench-tmpfs"

// testFile is fio's file in the tested directory.
const testFile = "isobench-fio.dat"

// job is one fio job; jobs run one after the other (stonewall) on the same file, the
// sequential write first so that it lays the file out.
type job struct {
	name, rw, bs string
}

var jobs = []job{
	{"seq-write", "write", "1M"},
	{"seq-read", "read", "1M"},
	{"rand-read", "randread", "4k"},
	{"rand-write", "randwrite", "4k"},
}

func init() { bench.Register(Benchmark{}) }

// Benchmark implements bench.Benchmark.
type Benchmark struct{}

func (Benchmark) Name() string { return Name }

func (Benchmark) Description() string {
	return "fio on the root filesystem and a tmpfs: sequential MiB/s, 4 KiB random IOPS and p99 latency"
}

func (Benchmark) Metrics() []bench.Metric {
	const params = " (params: fs, direct, bs, ioengine, iodepth)"
	return []bench.Metric{
		{Name: MetricSeqRead, Unit: "MiB/s", Better: results.Higher, Description: "sequential read, 1 MiB blocks" + params},
		{Name: MetricSeqWrite, Unit: "MiB/s", Better: results.Higher, Description: "sequential write, 1 MiB blocks" + params},
		{Name: MetricRandReadIOPS, Unit: "IOPS", Better: results.Higher, Description: "random read, 4 KiB blocks" + params},
		{Name: MetricRandWriteIOPS, Unit: "IOPS", Better: results.Higher, Description: "random write, 4 KiB blocks" + params},
		{Name: MetricRandReadP99, Unit: "us", Better: results.Lower, Description: "99th percentile latency of 4 KiB random reads" + params},
		{Name: MetricRandWriteP99, Unit: "us", Better: results.Lower, Description: "99th percentile latency of 4 KiB random writes" + params},
		bench.CPUCostMetric(bench.MetricHostCPUPerGiB, "GiB"),
	}
}

func (Benchmark) Tools() []string { return []string{"fio"} }

// target is one filesystem under test.
type target struct {
	fs     string // param value: rootfs or tmpfs
	dir    string
	direct int
	mounts []runtime.Mount
}

// Run runs fio once per filesystem, each in its own container.
func (Benchmark) Run(ctx context.Context, t *bench.Trial) error {
	cfg, err := bench.ReadSettings[Settings](t, Benchmark{})
	if err != nil {
		return err
	}
	runFor, sizeMiB, direct := cfg.Runtime.D(), cfg.SizeMiB, cfg.RootfsDirect
	size := int64(sizeMiB) << 20
	targets := []target{
		{fs: "rootfs", dir: cfg.RootfsDir, direct: direct},
		// tmpfs refuses O_DIRECT on many kernels, and is memory anyway. The slack holds fio's
		// file while it is laid out.
		{fs: "tmpfs", dir: TmpfsDir, direct: 0, mounts: []runtime.Mount{{
			Type: "tmpfs", Destination: TmpfsDir, SizeBytes: size + 64<<20,
		}}},
	}
	for _, tg := range targets {
		args := fioArgs(path.Join(tg.dir, testFile), size, runFor, tg.direct)
		out, err := bench.RunMetered(ctx, t, "fio-"+tg.fs, runtime.Spec{ID: t.NewID(), Args: args, Mounts: tg.mounts}, fioLimit(runFor, size))
		if err != nil {
			return fmt.Errorf("fio on %s (%s): %w", tg.fs, tg.dir, err)
		}
		res, err := ParseFio(out.Stdout)
		if err != nil {
			return fmt.Errorf("fio on %s: %w", tg.fs, err)
		}
		if err := emitResults(t, res, tg); err != nil {
			return fmt.Errorf("fio on %s: %w", tg.fs, err)
		}
		// The cost covers all four jobs and laying out the file: per GiB fio moved in all.
		bench.EmitCPUCost(t, bench.MetricHostCPUPerGiB, out.CPU, float64(res.BytesMoved())/(1<<30),
			map[string]string{"fs": tg.fs, "direct": strconv.Itoa(tg.direct)})
	}
	return nil
}

// fioLimit bounds one fio run: its four timed jobs, and laying the file out at no less
// than 10 MiB/s (emulated VMs are slow), with a minute to spare.
func fioLimit(runFor time.Duration, size int64) time.Duration {
	return time.Duration(len(jobs))*runFor + time.Duration(size/(10<<20))*time.Second + time.Minute
}

// fioArgs is one fio command line running every job in turn on file, with the synchronous
// engine at queue depth 1 so that every runtime sees the same simple I/O pattern.
func fioArgs(file string, size int64, runFor time.Duration, direct int) []string {
	args := []string{"fio", "--output-format=json",
		"--filename=" + file,
		"--size=" + strconv.FormatInt(size, 10),
		"--runtime=" + strconv.Itoa(max(1, int(math.Ceil(runFor.Seconds())))),
		"--time_based",
		"--ioengine=psync", "--iodepth=1", "--numjobs=1",
		"--direct=" + strconv.Itoa(direct),
	}
	for i, j := range jobs {
		args = append(args, "--name="+j.name, "--rw="+j.rw, "--bs="+j.bs, "--stonewall")
		if i == len(jobs)-1 {
			// Only after the last job: earlier unlinks would make each job lay the file out anew.
			args = append(args, "--unlink=1")
		}
	}
	return args
}

func emitResults(t *bench.Trial, res *FioResult, tg target) error {
	type sample struct {
		metric string
		value  float64
		bs     string
	}
	var samples []sample
	for _, j := range jobs {
		fj, err := res.Job(j.name)
		if err != nil {
			return err
		}
		stats := fj.Read
		if j.rw == "write" || j.rw == "randwrite" {
			stats = fj.Write
		}
		if stats.TotalIOs == 0 || stats.Clat.N == 0 {
			return fmt.Errorf("fio job %s did no I/O", j.name)
		}
		switch j.rw {
		case "read":
			samples = append(samples, sample{MetricSeqRead, stats.MiBPerSecond(), "1MiB"})
		case "write":
			samples = append(samples, sample{MetricSeqWrite, stats.MiBPerSecond(), "1MiB"})
		case "randread", "randwrite":
			p99, err := stats.ClatP99Micros()
			if err != nil {
				return fmt.Errorf("fio job %s: %w", j.name, err)
			}
			iops, lat := MetricRandReadIOPS, MetricRandReadP99
			if j.rw == "randwrite" {
				iops, lat = MetricRandWriteIOPS, MetricRandWriteP99
			}
			samples = append(samples, sample{iops, stats.IOPS, "4KiB"}, sample{lat, p99, "4KiB"})
		}
	}
	for _, s := range samples {
		t.Emit(s.metric, s.value, map[string]string{
			"fs": tg.fs, "direct": strconv.Itoa(tg.direct), "bs": s.bs, "ioengine": "psync", "iodepth": "1",
		})
	}
	return nil
}
