package kubernetes_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/bench/startup"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/kubernetes"
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
	d, err := runtime.New(prof, runtime.Env{Home: imagetest.Home(t), Subnet: netip.MustParsePrefix("198.18.0.0/15")})
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
			for _, want := range []string{`"api_accepted"`, `"deleted"`, `"podscheduled"`, `"container_finished"`, `"server_resolution": "1s`} {
				if !strings.Contains(string(data), want) {
					t.Errorf("timeline lacks %s:\n%s", want, data)
				}
			}
		})
	}
}
