package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/testutil"
	"github.com/isobench/isobench/internal/testutil/testbin"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
}

// isobench runs the CLI with the shared test home and returns stdout, stderr and the exit status.
func isobench(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return isobenchHome(t, imagetest.Home(t), args...)
}

// isobenchHome runs the CLI with the given home directory.
func isobenchHome(t *testing.T, home string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testbin.Build(t), args...)
	cmd.Env = append(os.Environ(), "ISOBENCH_HOME="+home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestBadInputGivesOneLineAndExit2(t *testing.T) {
	needRoot(t)
	imagetest.Busybox(t)
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badCfg, []byte("runtimes:\n  - name: x\n    driver: nope\n"), 0o644)
	missing := filepath.Join(dir, "missing.yaml")
	os.WriteFile(missing, []byte("runtimes:\n  - name: runc-dev\n    driver: oci\n    binary: /nonexistent/runc\n"), 0o644)
	corrupt := filepath.Join(dir, "corrupt.tar")
	os.WriteFile(corrupt, []byte("this is not a tar archive at all, just text"), 0o644)
	out := filepath.Join(dir, "run")
	cases := map[string]struct {
		args []string
		want string
	}{
		"unknown runtime":     {[]string{"run", "--image", imagetest.BusyboxName, "--runtimes", "youki", "--out", out}, `unknown runtime "youki"`},
		"unknown bench":       {[]string{"run", "--image", imagetest.BusyboxName, "--bench", "nope", "--out", out}, `unknown benchmark "nope"`},
		"missing binary":      {[]string{"run", "--config", missing, "--image", imagetest.BusyboxName, "--runtimes", "runc-dev", "--out", out}, "/nonexistent/runc not found"},
		"invalid config":      {[]string{"run", "--config", badCfg, "--out", out}, `unknown driver "nope"`},
		"missing config":      {[]string{"doctor", "--config", filepath.Join(dir, "none.yaml")}, "no such file"},
		"unknown image":       {[]string{"run", "--image", "no-such-image", "--out", out}, `image "no-such-image" not found`},
		"corrupt image":       {[]string{"image", "import", corrupt}, "corrupt.tar"},
		"absent image":        {[]string{"image", "import", filepath.Join(dir, "absent.tar")}, "absent.tar"},
		"bad flag":            {[]string{"run", "--trails", "3"}, "unknown flag"},
		"bad trials":          {[]string{"run", "--trials", "-1", "--out", out}, "--trials"},
		"NaN precision":       {[]string{"run", "--until-precision", "NaN", "--out", out}, "--until-precision"},
		"zero precision":      {[]string{"run", "--image", imagetest.BusyboxName, "--until-precision", "0%", "--out", out}, "--until-precision must lie between"},
		"ab absent binary":    {[]string{"ab", "/nonexistent/runc", "/bin/true", "--out", out}, "OLD_BINARY /nonexistent/runc"},
		"ab not executable":   {[]string{"ab", "/bin/true", "/etc/passwd", "--out", out}, "NEW_BINARY /etc/passwd is not an executable file"},
		"ab binary ignored":   {[]string{"ab", "/bin/true", "/bin/false", "--runtime", "host", "--image", imagetest.BusyboxName, "--bench", "startup", "--out", out}, "does not run the binary it is given"},
		"ab bad threshold":    {[]string{"ab", "/bin/true", "/bin/false", "--threshold", "5", "--out", out}, "--threshold"},
		"max without until":   {[]string{"run", "--max-trials", "20", "--out", out}, "add --until-precision"},
		"max below trials":    {[]string{"run", "--image", imagetest.BusyboxName, "--until-precision", "2%", "--trials", "20", "--max-trials", "10", "--out", out}, "--max-trials 10 is below --trials 20"},
		"unknown command":     {[]string{"frobnicate"}, "unknown command"},
		"NaN threshold":       {[]string{"compare", "--threshold", "NaN", out, out}, `--threshold "NaN": not a finite number`},
		"ambiguous threshold": {[]string{"compare", "--threshold", "5", out, out}, "ambiguous: write 5% (a percentage) or 0.05 (a fraction)"},
		"negative threshold":  {[]string{"compare", "--threshold", "-5%", out, out}, "negative"},
		"NaN noise":           {[]string{"report", "--noise", "NaN", out}, `--noise "NaN": not a finite number`},
		"label without value": {[]string{"run", "--image", imagetest.BusyboxName, "--label", "novalue", "--out", out}, `--label "novalue": give NAME=VALUE`},
		"built-in label":      {[]string{"run", "--image", imagetest.BusyboxName, "--label", "kernel=6.1", "--out", out}, "kernel is recorded with every run already"},
		"label given twice":   {[]string{"ab", "/bin/true", "/bin/false", "--label", "x=1", "--label", "x=2", "--out", out}, "x is given twice"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := isobench(t, tc.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", stderr, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, stderr)
			}
			if _, err := os.Stat(filepath.Join(out, results.SamplesFile)); err == nil {
				t.Errorf("a results file was written for bad input")
			}
		})
	}
}

func TestNotRoot(t *testing.T) {
	needRoot(t)
	cmd := exec.Command(testbin.Build(t), "run", "--out", filepath.Join(t.TempDir(), "r"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Env = append(os.Environ(), "ISOBENCH_HOME="+imagetest.Home(t))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "needs root") {
		t.Fatalf("err %v, output %q: want exit 2 saying it needs root", err, out)
	}
}

// readSamples parses samples.jsonl strictly.
func readSamples(t *testing.T, dir string) []results.Sample {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, results.SamplesFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []results.Sample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s results.Sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("bad sample line %q: %v", sc.Text(), err)
		}
		out = append(out, s)
	}
	return out
}

// ab runs two binaries of one driver (here runc's and crun's, which share runc's command
// line) in one interleaved run: every round has both, so compare pairs every trial.
func TestABRunsTwoBinariesInOneInterleavedRun(t *testing.T) {
	needRoot(t)
	imagetest.Busybox(t)
	var bins []string
	for _, name := range []string{"runc", "crun"} {
		bin, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is not installed (scripts/install-deps.sh installs it): %v", name, err)
		}
		bins = append(bins, bin)
	}
	dir := filepath.Join(t.TempDir(), "run")
	stdout, stderr, code := isobench(t, "ab", bins[0], bins[1], "--image", imagetest.BusyboxName,
		"--bench", "startup", "--trials", "6", "--warmup", "1", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rounds := map[string][]int{}
	for _, s := range readSamples(t, dir) {
		if s.Metric == "total" {
			rounds[s.Runtime] = append(rounds[s.Runtime], s.Trial)
		}
	}
	want := []int{1, 2, 3, 4, 5, 6}
	if !slices.Equal(rounds["old"], want) || !slices.Equal(rounds["new"], want) || len(rounds) != 2 {
		t.Errorf("trials of total per runtime %v, want old and new with %v", rounds, want)
	}
	var env results.Environment
	data, err := os.ReadFile(filepath.Join(dir, results.EnvironmentFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	if env.Runtimes["old"].Binary != bins[0] || env.Runtimes["new"].Binary != bins[1] || env.Baseline != "old" {
		t.Errorf("environment: runtimes %+v, baseline %q", env.Runtimes, env.Baseline)
	}
	if !strings.Contains(stdout, "compare --runtimes old,new") || !strings.Contains(stdout, "6 pairs") {
		t.Errorf("no paired comparison printed:\n%s", stdout)
	}
	assertHostClean(t)
}

func TestRunStartupOnEveryOCIRuntime(t *testing.T) {
	needRoot(t)
	imagetest.Busybox(t)
	dir := filepath.Join(t.TempDir(), "run")
	stdout, stderr, code := isobench(t, "run", "--image", imagetest.BusyboxName, "--runtimes", "host,runc,crun,runsc",
		"--bench", "startup", "--trials", "2", "--warmup", "1", "--out", dir, "--label", "runc-build=test-1", "--label", "note=a b")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "Summary") || !strings.Contains(stderr, "ratio") {
		t.Errorf("no summary printed:\n%s", stderr)
	}
	samples := readSamples(t, dir)
	count := map[string]int{}
	for _, s := range samples {
		if s.Benchmark != "startup" || s.Unit != "ms" || s.Better != results.Lower || s.Value < 0 || s.SchemaVersion != results.SchemaVersion {
			t.Errorf("odd sample %+v", s)
		}
		if s.Trial < 1 {
			t.Errorf("warm-up trial recorded: %+v", s)
		}
		count[s.Runtime+"/"+s.Metric]++
	}
	for _, rt := range []string{"host", "runc", "crun", "runsc"} {
		for _, m := range []string{"create", "start", "start_to_output", "start_to_exit", "delete", "total"} {
			want := 2
			if rt == "host" && (m == "create" || m == "delete") {
				want = 0 // a plain process has no runtime create or delete step
			}
			if count[rt+"/"+m] != want {
				t.Errorf("%s %s: %d samples, want %d", rt, m, count[rt+"/"+m], want)
			}
		}
	}
	var env results.Environment
	data, err := os.ReadFile(filepath.Join(dir, results.EnvironmentFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	if env.Image.Digest == "" || env.Host.Kernel == "" || env.Host.CgroupMode == "" || env.Isobench.Version == "" || env.Finished.IsZero() {
		t.Errorf("environment incomplete: %+v", env)
	}
	if env.Runtimes["runsc"].Options["platform"] != "ptrace" || env.Runtimes["runc"].SHA256 == "" {
		t.Errorf("runtime info incomplete: %+v", env.Runtimes)
	}
	if len(env.Labels) != 2 || env.Labels["runc-build"] != "test-1" || env.Labels["note"] != "a b" {
		t.Errorf("labels recorded %v, want runc-build=test-1 and note=a b", env.Labels)
	}
	assertHostClean(t)
}

// TestSIGINTKeepsSamplesAndCleansUp interrupts a long run and checks that what was
// measured stays and nothing is left.
func TestSIGINTKeepsSamplesAndCleansUp(t *testing.T) {
	needRoot(t)
	imagetest.Busybox(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			cmd := exec.Command(testbin.Build(t), "run", "--image", imagetest.BusyboxName, "--runtimes", "runc,runsc,host",
				"--bench", "startup", "--trials", "500", "--out", dir)
			cmd.Env = append(os.Environ(), "ISOBENCH_HOME="+imagetest.Home(t))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitForSamples(t, dir, 20)
			signalExpect130(t, cmd, sig, &stderr)
			samples := readSamples(t, dir)
			if len(samples) < 20 {
				t.Errorf("only %d samples kept", len(samples))
			}
			var env results.Environment
			data, _ := os.ReadFile(filepath.Join(dir, results.EnvironmentFile))
			if err := json.Unmarshal(data, &env); err != nil || !env.Interrupted {
				t.Errorf("environment.json does not say interrupted: %v %s", err, data)
			}
			assertHostClean(t)
		})
	}
}

// TestCleanupAfterSIGKILL: a killed run leaves containers; `isobench cleanup` removes them.
func TestCleanupAfterSIGKILL(t *testing.T) {
	needRoot(t)
	imagetest.Busybox(t)
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(testbin.Build(t), "run", "--image", imagetest.BusyboxName, "--runtimes", "runc,crun,runsc",
		"--bench", "startup", "--trials", "500", "--out", dir)
	cmd.Env = append(os.Environ(), "ISOBENCH_HOME="+imagetest.Home(t))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForSamples(t, dir, 10)
	cmd.Process.Kill()
	cmd.Wait()
	// The runtime's own create or delete may still be finishing when isobench dies.
	time.Sleep(2 * time.Second)
	stdout, stderr, code := isobench(t, "cleanup")
	if code != 0 {
		t.Fatalf("cleanup exit %d: %s %s", code, stdout, stderr)
	}
	assertHostClean(t)
	// A second cleanup finds nothing.
	stdout, _, _ = isobench(t, "cleanup")
	if !strings.Contains(stdout, "nothing to clean up") {
		t.Errorf("second cleanup still found: %s", stdout)
	}
}

func waitForSamples(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(filepath.Join(dir, results.SamplesFile))
		if bytes.Count(data, []byte("\n")) >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("fewer than %d samples after 90 s", n)
}

// assertHostClean checks the runtimes, mounts, namespaces, links and processes.
func assertHostClean(t *testing.T) {
	t.Helper()
	for _, rt := range []string{"runc", "crun", "runsc"} {
		out, _ := exec.Command(rt, "list", "--quiet").Output()
		for _, id := range strings.Fields(string(out)) {
			if strings.HasPrefix(id, runtime.NamePrefix) {
				t.Errorf("%s still lists %s", rt, id)
			}
		}
	}
	for _, m := range testutil.IsobenchMounts(t) {
		t.Errorf("mount left: %s", m)
	}
	for _, root := range []string{"/run/runc", "/run/crun", "/var/run/runsc"} {
		// runsc also names its sandbox's socket runsc-<id>.sock.
		stale, _ := filepath.Glob(filepath.Join(root, runtime.NamePrefix+"*"))
		socks, _ := filepath.Glob(filepath.Join(root, "runsc-"+runtime.NamePrefix+"*"))
		if stale = append(stale, socks...); len(stale) > 0 {
			t.Errorf("runtime state left in %s: %v", root, stale)
		}
	}
	if ns, links := netsetup.Leftovers(runtime.NamePrefix); len(ns)+len(links) > 0 {
		t.Errorf("network left: %v %v", ns, links)
	}
	if out, _ := exec.Command("pgrep", "-f", "isobench-.*-(runc|crun|runsc|host)-").Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("processes left: %s", out)
	}
	states, _ := filepath.Glob(filepath.Join(imagetest.Home(t), "run", runtime.NamePrefix+"*"))
	if len(states) > 0 {
		t.Errorf("state directories left: %v", states)
	}
}

// TestSkipUnusable: a named runtime that cannot run stops the run, unless
// --skip-unusable, which records it with the reason and goes on with the others.
func TestSkipUnusable(t *testing.T) {
	needRoot(t)
	imagetest.Busybox(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("runtimes:\n  - name: runc-dev\n    driver: oci\n    binary: /nonexistent/runc\n"), 0o644)
	out := filepath.Join(dir, "run")
	_, stderr, code := isobench(t, "run", "--config", cfg, "--image", imagetest.BusyboxName, "--runtimes", "runc,runc-dev",
		"--bench", "startup", "--trials", "1", "--warmup", "0", "--skip-unusable", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "skipping runc-dev") {
		t.Errorf("the skip was not said: %s", stderr)
	}
	var env results.Environment
	data, _ := os.ReadFile(filepath.Join(out, results.EnvironmentFile))
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(env.Skipped["runc-dev"], "not found") {
		t.Errorf("environment.json does not record why runc-dev was skipped: %v", env.Skipped)
	}
	if len(readSamples(t, out)) == 0 {
		t.Error("runc was not measured")
	}
}

// TestInterruptedImageBuildLeavesNothing: Ctrl-C during debootstrap exits 130, and the
// store has no image, no temporary rootfs and no mounts left.
func TestInterruptedImageBuildLeavesNothing(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("debootstrap not installed: apt-get install debootstrap")
	}
	home := t.TempDir()
	cmd := exec.Command(testbin.Build(t), "--home", home, "image", "build", "--name", "interrupted")
	var stderr bench.FirstByteBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once debootstrap is at work (it prints as it retrieves packages).
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "I: ") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	signalExpect130(t, cmd, syscall.SIGINT, &stderr)
	if out, _, _ := isobenchHome(t, home, "image", "ls"); strings.Contains(out, "interrupted") {
		t.Errorf("interrupted image listed:\n%s", out)
	}
	if left := testutil.MountsUnder(t, home); len(left) > 0 {
		t.Errorf("mounts left under %s: %v", home, left)
	}
	for _, dir := range []string{"tmp", "rootfs"} {
		if ents, _ := os.ReadDir(filepath.Join(home, dir)); len(ents) > 0 {
			t.Errorf("%s/%s not empty: %v", home, dir, ents)
		}
	}
}

// signalExpect130 sends sig to a running isobench and expects it to stop within a minute
// with exit status 130.
func signalExpect130(t *testing.T, cmd *exec.Cmd, sig syscall.Signal, stderr fmt.Stringer) {
	t.Helper()
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit %v, want 130; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not stop within 60 s of %s", cmd.Args[1:], sig)
	}
}
