package disk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench/benchtest"
)

// The testdata files are real outputs of fio 3.33 on Debian 12, made with fioArgs' command
// line (rootfs: ext4 with --direct=1; tmpfs with --direct=0), and of failed and killed runs.

func TestParseFio(t *testing.T) {
	for _, file := range []string{"fio-rootfs-direct1.json", "fio-tmpfs-direct0.json"} {
		res, err := ParseFio(benchtest.Testdata(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if res.Version != "fio-3.33" || len(res.Jobs) != len(jobs) {
			t.Fatalf("%s: version %q, %d jobs", file, res.Version, len(res.Jobs))
		}
		var got []sampleRecord
		if err := emitResults(recordingTrial(&got), res, target{fs: "tmpfs"}); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(got) != 6 {
			t.Fatalf("%s: %d samples, want 6", file, len(got))
		}
		for _, s := range got {
			if !(s.value > 0) {
				t.Errorf("%s: %s = %v", file, s.metric, s.value)
			}
		}
	}
	res, _ := ParseFio(benchtest.Testdata(t, "fio-rootfs-direct1.json"))
	j, _ := res.Job("rand-read")
	p99, err := j.Read.ClatP99Micros()
	if err != nil || p99 != 350.208 {
		t.Errorf("rand-read p99 = %v µs (%v), want 350.208", p99, err)
	}
	if mib := j.Read.MiBPerSecond(); mib < 65 || mib > 65.2 {
		t.Errorf("rand-read bandwidth %v MiB/s, want 65.1", mib)
	}
}

func TestParseFioFailures(t *testing.T) {
	for file, want := range map[string]string{
		// fio printed its error line on stdout before the report, then the failed job.
		"fio-enospc.json": "fio job seqwrite failed: error 28 (no space left on device): fio: pid=",
		// fio killed by SIGKILL prints nothing (so does fio refusing its options: stderr only).
		"fio-killed.json":    "no report",
		"fio-truncated.json": "cut short",
	} {
		_, err := ParseFio(benchtest.Testdata(t, file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, err, want)
		}
	}
	if _, err := ParseFio([]byte("fio: something odd\n")); err == nil || !strings.Contains(err.Error(), "fio: something odd") {
		t.Errorf("text without a report: error %v", err)
	}
	res, err := ParseFio(benchtest.Testdata(t, "fio-tmpfs-direct0.json"))
	if err != nil {
		t.Fatal(err)
	}
	res.Jobs = res.Jobs[:2]
	if err := emitResults(recordingTrial(new([]sampleRecord)), res, target{fs: "tmpfs"}); err == nil || !strings.Contains(err.Error(), `no job "rand-read"`) {
		t.Errorf("report missing a job: error %v", err)
	}
}

// TestFioArgsWithHostFio runs the benchmark's own fio command line on the host, so that the
// options and the parser are checked against the installed fio, not only against records.
func TestFioArgsWithHostFio(t *testing.T) {
	if _, err := exec.LookPath("fio"); err != nil {
		t.Skip("fio not installed")
	}
	dir := t.TempDir()
	args := fioArgs(filepath.Join(dir, testFile), 8<<20, time.Second, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	res, err := ParseFio(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []sampleRecord
	if err := emitResults(recordingTrial(&got), res, target{fs: "rootfs"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Errorf("%d samples, want 6", len(got))
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("fio left %d files behind (--unlink on the last job)", len(left))
	}
}
