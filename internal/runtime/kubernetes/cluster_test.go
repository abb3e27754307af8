package kubernetes_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/benchtest"
	_ "github.com/isobench/isobench/internal/bench/cpu"
	_ "github.com/isobench/isobench/internal/bench/network"
	"github.com/isobench/isobench/internal/bench/startup"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/kubernetes"
	"github.com/isobench/isobench/internal/testutil/testbin"
)

// clusterDriver returns the built-in profile's driver, checked. Without the local cluster
// the test fails in CI (CI=true: .ci/run starts it) and skips elsewhere, saying why.
func clusterDriver(t *testing.T, name string, opts map[string]string) *kubernetes.Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the image is imported through the node's containerd socket")
	}
	var prof runtime.Profile
	for _, p := range runtime.Builtins() {
		if p.Name == name {
			prof = p
		}
	}
	if prof.Name == "" {
		t.Fatalf("no built-in profile %s", name)
	}
	o := map[string]string{}
	for k, v := range prof.Options {
		o[k] = v
	}
	for k, v := range opts {
		o[k] = v
	}
	prof.Options = o
	// The package's own New: the test needs the driver's client, which runtime.New's
	// wrapper hides.
	d, err := kubernetes.New(prof, runtime.Env{Home: imagetest.Home(t), Subnet: netip.MustParsePrefix("198.18.0.0/15")})
	if err != nil {
		t.Fatal(err)
	}
	if st := d.Check(context.Background()); !st.Usable {
		msg := fmt.Sprintf("%s not usable: %s (fix: %s)", name, st.Problem, st.Fix)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI starts the local cluster with scripts/k8s/cluster.sh up")
		}
		t.Skip(msg)
	}
	return d.(*kubernetes.Driver)
}

func prepared(t *testing.T, name string, img *image.Image, opts map[string]string) *kubernetes.Driver {
	t.Helper()
	d := clusterDriver(t, name, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := d.Prepare(ctx, img); err != nil {
		t.Fatalf("preparing %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
		assertNoPods(t, d)
	})
	return d
}

// assertNoPods fails when any pod labelled isobench=1 is left in the cluster.
func assertNoPods(t *testing.T, d *kubernetes.Driver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := d.Client().CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: kubernetes.Label + "=1"})
	if err != nil {
		t.Errorf("listing pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		t.Errorf("pod left in the cluster: %s/%s (%s)", p.Namespace, p.Name, p.Status.Phase)
	}
}

var ids atomic.Int64

type sample struct {
	metric string
	value  float64
}

func trial(t *testing.T, d runtime.Driver, img *image.Image, probe string) (*bench.Trial, *[]sample) {
	t.Helper()
	runDir := t.TempDir()
	raw := filepath.Join(runDir, "raw")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		t.Fatal(err)
	}
	var got []sample
	prefix := fmt.Sprintf("%sk8stest-%d-", runtime.NamePrefix, os.Getpid())
	return &bench.Trial{Driver: d, Image: img, Runtime: d.Profile().Name, Index: 1, Quick: true,
		RawDir: raw, RunDir: runDir, Probe: probe, Settings: bench.Settings{},
		NewID: func() string { return fmt.Sprintf("%s%d", prefix, ids.Add(1)) },
		Emit:  func(m string, v float64, _ map[string]string) { got = append(got, sample{m, v}) },
		Logf:  t.Logf}, &got
}

// TestStartupPhases: a start-up trial under k8s-runc and k8s-gvisor reports every pod
// phase, in order, and writes the pod's timeline with the server's timestamps.
func TestStartupPhases(t *testing.T) {
	img := imagetest.Busybox(t)
	for _, name := range []string{"k8s-runc", "k8s-gvisor"} {
		t.Run(name, func(t *testing.T) {
			d := prepared(t, name, img, nil)
			tr, got := trial(t, d, img, "")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := (startup.Startup{}).Run(ctx, tr); err != nil {
				t.Fatalf("startup trial: %v", err)
			}
			values := map[string]float64{}
			for _, s := range *got {
				values[s.metric] = s.value
				t.Logf("%s %s = %.1f ms", name, s.metric, s.value)
			}
			order := []string{"phase_scheduled", "phase_sandbox_ready", "phase_container_started", "phase_exited"}
			for i, m := range order {
				v, ok := values[m]
				if !ok {
					t.Errorf("%s missing", m)
					continue
				}
				if v < 0 {
					t.Errorf("%s = %v: before the start call", m, v)
				}
				if i > 0 && v < values[order[i-1]] {
					t.Errorf("%s (%v) before %s (%v)", m, v, order[i-1], values[order[i-1]])
				}
			}
			for _, m := range []string{"create", "start", "start_to_output", "start_to_exit", "delete", "total", "phase_first_output"} {
				if v, ok := values[m]; !ok || !(v > 0) {
					t.Errorf("%s = %v (present %v), want a positive value", m, v, ok)
				}
			}
			if values["phase_first_output"] > values["phase_exited"] {
				t.Errorf("first output (%v) after the exit was seen (%v)", values["phase_first_output"], values["phase_exited"])
			}
			timelines, _ := filepath.Glob(filepath.Join(tr.RawDir, "*-pod-timeline.json"))
			if len(timelines) != 1 {
				t.Fatalf("pod timelines in the raw directory: %v", timelines)
			}
			data, _ := os.ReadFile(timelines[0])
			for _, want := range []string{`"api_accepted"`, `"deleted"`, `"podscheduled"`, `"container_finished"`, `"server_resolution": "1s`, `"kubelet_pod_start_sli`} {
				if !strings.Contains(string(data), want) {
					t.Errorf("timeline lacks %s:\n%s", want, data)
				}
			}
		})
	}
}

// runEcho runs one container to its end through the driver.
func runEcho(t *testing.T, d runtime.Driver, args ...string) (*bench.Outcome, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := fmt.Sprintf("%sk8stest-%d-%d", runtime.NamePrefix, os.Getpid(), ids.Add(1))
	return bench.RunToExit(ctx, d, runtime.Spec{ID: id, Args: args, RawDir: t.TempDir()})
}

// TestOutputSplitAndExitCode: stdout and stderr arrive apart, and a failing workload's
// exit status is reported.
func TestOutputSplitAndExitCode(t *testing.T) {
	img := imagetest.Busybox(t)
	d := prepared(t, "k8s-runc", img, nil)
	out, err := runEcho(t, d, "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
	if err == nil {
		t.Fatal("exit status 3 was not an error")
	}
	if out == nil || out.ExitCode != 3 && !strings.Contains(err.Error(), "status 3") {
		t.Errorf("exit status 3 not reported: %v", err)
	}
	if s := bench.StderrOf(err); !strings.Contains(s, "to-stderr") || strings.Contains(s, "to-stdout") {
		t.Errorf("stderr %q", s)
	}
}

// TestMissingRuntimeClass: a RuntimeClass the cluster lacks makes the profile unusable,
// with the reason and what to do.
func TestMissingRuntimeClass(t *testing.T) {
	clusterDriver(t, "k8s-runc", nil) // the cluster is there
	prof := runtime.Profile{Name: "k8s-missing", Driver: kubernetes.DriverName, Options: map[string]string{
		"runtime_class": "isobench-missing", "containerd_socket": kubernetes.LocalContainerdSocket}}
	d, err := runtime.New(prof, runtime.Env{Home: imagetest.Home(t)})
	if err != nil {
		t.Fatal(err)
	}
	st := d.Check(context.Background())
	if st.Usable || !strings.Contains(st.Problem, "RuntimeClass isobench-missing") || !strings.Contains(st.Problem, "not found") || st.Fix == "" {
		t.Errorf("status %+v", st)
	}
}

// TestImageNotImported: an image the node does not have fails the trial at start with the
// kubelet's reason and the pod's events, and leaves no pod.
func TestImageNotImported(t *testing.T) {
	img := imagetest.Busybox(t)
	d := prepared(t, "k8s-runc", img, map[string]string{"image": "docker.io/isobench/never-imported:none", "start_timeout": "60s"})
	_, err := runEcho(t, d, "echo", "hi")
	if err == nil {
		t.Fatal("a pod without its image started")
	}
	for _, want := range []string{"start:", "ErrImageNeverPull", "events:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	assertNoPods(t, d)
}

// TestPodStuckPending: a pod no node can take fails at start_timeout with the scheduler's
// reason, and leaves no pod.
func TestPodStuckPending(t *testing.T) {
	img := imagetest.Busybox(t)
	d := prepared(t, "k8s-runc", img, map[string]string{"node_selector": "isobench/no-such-node=1", "start_timeout": "6s"})
	_, err := runEcho(t, d, "echo", "hi")
	if err == nil {
		t.Fatal("an unschedulable pod started")
	}
	for _, want := range []string{"not started within 6s", "Pending", "FailedScheduling"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	assertNoPods(t, d)
}

// TestAPIServerStoppedMidRun: the API server goes away while a pod runs: the trial fails
// saying the watch was lost, the next one fails at once, and once the API server is back
// the driver's Close leaves nothing in the cluster.
func TestAPIServerStoppedMidRun(t *testing.T) {
	img := imagetest.Busybox(t)
	d := prepared(t, "k8s-runc", img, nil)
	script, err := filepath.Abs("../../../scripts/k8s/cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	restarted := false
	restart := func() {
		if restarted {
			return
		}
		restarted = true
		if out, err := exec.Command(script, "apiserver-start").CombinedOutput(); err != nil {
			t.Fatalf("starting the API server again: %v\n%s", err, out)
		}
	}
	defer restart()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := d.New(ctx, runtime.Spec{ID: fmt.Sprintf("%sk8stest-%d-%d", runtime.NamePrefix, os.Getpid(), ids.Add(1)),
		Args: []string{"sleep", "5"}, RawDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(script, "apiserver-stop").CombinedOutput(); err != nil {
		t.Fatalf("stopping the API server: %v\n%s", err, out)
	}
	_, werr := c.Wait(ctx)
	if werr == nil || !strings.Contains(werr.Error(), "watch on pods") {
		t.Errorf("wait with the API server gone: %v", werr)
	}
	if _, err := runEcho(t, d, "echo", "hi"); err == nil {
		t.Error("a trial succeeded with the API server gone")
	} else {
		t.Logf("next trial: %v", err)
	}
	restart()
	if err := runtime.Remove(context.Background(), c); err != nil {
		t.Logf("removing the pod after the restart: %v", err)
	}
}

// TestBenchmarksInPods: the cpu and network benchmarks run inside pods and emit every metric.
func TestBenchmarksInPods(t *testing.T) {
	img := imagetest.Default(t)
	probe := benchtest.Binary(t)
	for _, bname := range []string{"cpu", "network"} {
		t.Run(bname, func(t *testing.T) {
			b, err := bench.Get(bname)
			if err != nil {
				t.Fatal(err)
			}
			d := prepared(t, "k8s-runc", img, nil)
			tr, got := trial(t, d, img, probe)
			rootfs, err := img.RootFS(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tr.RootFS = rootfs
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := b.Run(ctx, tr); err != nil {
				t.Fatalf("%s in a pod: %v\nstderr: %s", bname, err, bench.StderrOf(err))
			}
			var samples []benchtest.Sample
			for _, s := range *got {
				samples = append(samples, benchtest.Sample{Metric: s.metric, Value: s.value})
				t.Logf("%s %s = %v", bname, s.metric, s.value)
			}
			benchtest.CheckSamples(t, b, samples)
		})
	}
}

// TestRunComparesWithRunc: `isobench run --runtimes runc,k8s-runc,k8s-gvisor --bench
// startup` measures every pod phase next to plain runc, and the report reads the run.
func TestRunComparesWithRunc(t *testing.T) {
	clusterDriver(t, "k8s-runc", nil)
	imagetest.Busybox(t)
	bin := testbin.Build(t)
	out := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(bin, "run", "--image", imagetest.BusyboxName, "--runtimes", "runc,k8s-runc,k8s-gvisor",
		"--bench", "startup", "--trials", "3", "--warmup", "1", "--out", out)
	cmd.Env = append(os.Environ(), "ISOBENCH_HOME="+imagetest.Home(t))
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, outb)
	}
	samples, err := os.ReadFile(filepath.Join(out, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range []string{"k8s-runc", "k8s-gvisor"} {
		for _, m := range []string{"phase_scheduled", "phase_sandbox_ready", "phase_container_started", "phase_first_output", "phase_exited"} {
			n := 0
			for _, line := range strings.Split(string(samples), "\n") {
				if strings.Contains(line, `"`+rt+`"`) && strings.Contains(line, `"`+m+`"`) {
					n++
				}
			}
			if n != 3 {
				t.Errorf("%s %s: %d samples, want 3", rt, m, n)
			}
		}
	}
	rep := exec.Command(bin, "report", out, "--baseline", "runc")
	rep.Env = cmd.Env
	table, err := rep.CombinedOutput()
	if err != nil {
		t.Fatalf("report: %v\n%s", err, table)
	}
	t.Logf("report:\n%s", table)
}

// TestCleanupSweep: the kubernetes cleaner leaves a cluster alone unless `isobench cleanup
// --kubeconfig` named it, and then removes the pods a killed run left.
func TestCleanupSweep(t *testing.T) {
	img := imagetest.Busybox(t)
	d := prepared(t, "k8s-runc", img, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := d.New(ctx, runtime.Spec{ID: fmt.Sprintf("%sk8stest-%d-%d", runtime.NamePrefix, os.Getpid(), ids.Add(1)),
		Args: []string{"sleep", "60"}, RawDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// A killed run: the pod is created and never deleted by its driver.
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	var sweep runtime.Cleaner
	names, fns := runtime.Cleaners()
	for i, n := range names {
		if n == kubernetes.DriverName {
			sweep = fns[i]
		}
	}
	if sweep == nil {
		t.Fatal("the kubernetes driver registered no cleaner")
	}
	removed, err := sweep(ctx, runtime.Env{}, runtime.Builtins())
	if err != nil || len(removed) > 0 {
		t.Errorf("cleanup without --kubeconfig touched the cluster: %v (%v)", removed, err)
	}
	removed, err = sweep(ctx, runtime.Env{}, []runtime.Profile{kubernetes.SweepProfile(kubernetes.LocalKubeconfig)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(removed, " "), kubernetes.PodName(c.ID())) {
		t.Errorf("the left pod was not removed: %v", removed)
	}
	assertNoPods(t, d)
}
