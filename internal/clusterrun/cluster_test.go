package clusterrun_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/isobench/isobench/internal/image/imagetest"
	"github.com/isobench/isobench/internal/runtime/kubernetes"
	"github.com/isobench/isobench/internal/testutil/testbin"
)

// localCluster returns a client of the local cluster; without it the test fails in CI and
// skips elsewhere, saying why.
func localCluster(t *testing.T) k8s.Interface {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	fail := func(why string) {
		msg := "local cluster not available: " + why + " (scripts/k8s/cluster.sh up starts it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := kubernetes.RESTConfig(kubernetes.LocalKubeconfig)
	if err != nil {
		fail(err.Error())
	}
	c, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		fail(err.Error())
	}
	return c
}

// TestClusterRunMergesNodes: `isobench cluster run` on the local node and on a node that
// does not exist gives the local node's run directory, a merged report, the missing node
// recorded as failed, and nothing left in the cluster.
func TestClusterRunMergesNodes(t *testing.T) {
	c := localCluster(t)
	imagetest.Busybox(t)
	nodes, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	node := nodes.Items[0].Name
	out := filepath.Join(t.TempDir(), "cluster")
	cmd := exec.Command(testbin.Build(t), "cluster", "run", "--kubeconfig", kubernetes.LocalKubeconfig,
		"--nodes", node+",isobench-no-such-node", "--out", out, "--timeout", "10m", "--",
		"--home", imagetest.Home(t), "--image", imagetest.BusyboxName, "--runtimes", "host,runc",
		"--bench", "startup", "--trials", "2", "--warmup", "0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err = cmd.Run()
	t.Logf("cluster run: %v\n%s", err, stderr.String())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want 1 (one node failed)", err)
	}
	nodesTxt, _ := os.ReadFile(filepath.Join(out, "nodes.txt"))
	if !strings.Contains(string(nodesTxt), "isobench-no-such-node\tfailed") || !strings.Contains(string(nodesTxt), node+"\tok") {
		t.Errorf("nodes.txt:\n%s", nodesTxt)
	}
	samples, err := os.ReadFile(filepath.Join(out, node, "samples.jsonl"))
	if err != nil || !bytes.Contains(samples, []byte(`"runc"`)) || !bytes.Contains(samples, []byte(`"host"`)) {
		t.Errorf("the node's samples (%v):\n%.2000s", err, samples)
	}
	if _, err := os.Stat(filepath.Join(out, "report", "report.html")); err != nil {
		t.Errorf("no merged report: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	left, err := kubernetes.Sweep(ctx, c)
	if err != nil || len(left) > 0 {
		t.Errorf("left in the cluster: %v (%v)", left, err)
	}
}

// TestClusterRunInterrupted: Ctrl-C during the node's run exits 130 and leaves no Job, no
// pod and no container of the node's run.
func TestClusterRunInterrupted(t *testing.T) {
	c := localCluster(t)
	imagetest.Busybox(t)
	out := filepath.Join(t.TempDir(), "cluster")
	cmd := exec.Command(testbin.Build(t), "cluster", "run", "--kubeconfig", kubernetes.LocalKubeconfig,
		"--out", out, "--timeout", "10m", "--",
		"--home", imagetest.Home(t), "--image", imagetest.BusyboxName, "--runtimes", "runc",
		"--bench", "startup", "--trials", "500", "--warmup", "0")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var log bytes.Buffer
	started := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		once := false
		for {
			n, err := pr.Read(buf)
			log.Write(buf[:n])
			// The node's run is measuring once its progress names the runtime.
			if !once && strings.Contains(log.String(), "runc") && strings.Contains(log.String(), "] ") {
				once = true
				close(started)
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the node's run did not start:\n%s", log.String())
	}
	time.Sleep(3 * time.Second)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("cluster run did not end after Ctrl-C:\n%s", log.String())
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130\n%s", err, log.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if left, err := kubernetes.Sweep(ctx, c); err != nil || len(left) > 0 {
		t.Errorf("left in the cluster: %v (%v)", left, err)
	}
	if ls, _ := exec.Command("runc", "list", "--quiet").Output(); strings.Contains(string(ls), "isobench-") {
		t.Errorf("the node's run left runc containers: %s", ls)
	}
}
