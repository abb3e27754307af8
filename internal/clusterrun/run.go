// Package clusterrun runs isobench itself on nodes of a Kubernetes cluster, as one
// privileged Job per node, streams each node's run directory back through the pod's log,
// and leaves nothing in the cluster.
package clusterrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/kubernetes"
)

// HostRoot is where the node's root filesystem appears inside the Job's pod.
const HostRoot = "/host"

// Options say where and what to run.
type Options struct {
	Namespace string
	// Nodes to run on; empty means every Ready node.
	Nodes    []string
	Parallel bool
	// Image is the Job's container image, already on the nodes (any image: the binary
	// comes from the node's own filesystem).
	Image string
	// Binary is the isobench binary's path on the nodes.
	Binary  string
	RunArgs []string
	OutDir  string
	Timeout time.Duration
	Log     io.Writer
}

// NodeResult is what one node gave.
type NodeResult struct {
	Node   string
	RunDir string // set when the node's run directory came back
	Err    error
}

// Run runs isobench on each node, one at a time or all at once. A node that fails or
// disappears is recorded and the others go on. Every Job is deleted at the end, also when
// ctx is cancelled.
func Run(ctx context.Context, c k8s.Interface, o Options) ([]NodeResult, error) {
	nodes := o.Nodes
	if len(nodes) == 0 {
		list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing nodes: %w", err)
		}
		for _, n := range list.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					nodes = append(nodes, n.Name)
				}
			}
		}
		if len(nodes) == 0 {
			return nil, errors.New("the cluster has no Ready node")
		}
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	session := hex.EncodeToString(b)
	results := make([]NodeResult, len(nodes))
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
	one := func(i int) {
		results[i] = runNode(ctx, c, o, session, nodes[i], logf)
		if results[i].Err != nil {
			logf("[%s] failed: %v", nodes[i], results[i].Err)
		}
	}
	if o.Parallel {
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Add(1)
			go func() { defer wg.Done(); one(i) }()
		}
		wg.Wait()
	} else {
		for i := range nodes {
			if ctx.Err() != nil {
				results[i] = NodeResult{Node: nodes[i], Err: ctx.Err()}
				continue
			}
			one(i)
		}
	}
	return results, nil
}

// JobName is the Job of one node in one session.
func JobName(session, node string) string {
	return kubernetes.PodName(runtime.NamePrefix + "node-" + session + "-" + node)
}

// NodeJob builds the Job that runs isobench on a node.
func NodeJob(o Options, session, node string) *batchv1.Job {
	yes, no := true, false
	zero := int32(0)
	// Time for the node's run to remove its containers when the Job is deleted early.
	grace := int64(60)
	labels := map[string]string{kubernetes.Label: "1", kubernetes.SessionLabel: session}
	deadline := int64(o.Timeout / time.Second)
	cmd := append([]string{filepath.Join(HostRoot, o.Binary), "cluster", "node-exec", "--root", HostRoot, "--binary", o.Binary, "--"}, o.RunArgs...)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName(session, node), Namespace: o.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          &zero,
			ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeName:                      node,
					RestartPolicy:                 corev1.RestartPolicyNever,
					HostPID:                       true,
					HostNetwork:                   true,
					AutomountServiceAccountToken:  &no,
					EnableServiceLinks:            &no,
					TerminationGracePeriodSeconds: &grace,
					Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name:            "isobench",
						Image:           o.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         cmd,
						SecurityContext: &corev1.SecurityContext{Privileged: &yes},
						// The node's whole filesystem: /var/lib/isobench, the runtimes' binaries and
						// sockets, /sys/fs/cgroup, /dev.
						VolumeMounts: []corev1.VolumeMount{{Name: "host", MountPath: HostRoot}},
					}},
					Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{
						HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
				},
			},
		},
	}
}

func runNode(ctx context.Context, c k8s.Interface, o Options, session, node string, logf func(string, ...any)) (res NodeResult) {
	res.Node = node
	if _, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
		res.Err = fmt.Errorf("node %s: %w", node, err)
		return res
	}
	job := NodeJob(o, session, node)
	jobs := c.BatchV1().Jobs(o.Namespace)
	if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		res.Err = fmt.Errorf("creating job: %w", err)
		return res
	}
	defer func() {
		if err := deleteJob(context.WithoutCancel(ctx), c, o.Namespace, job.Name, session); err != nil && res.Err == nil {
			res.Err = err
		}
	}()
	logf("[%s] job %s/%s created", node, o.Namespace, job.Name)
	rctx, cancel := context.WithTimeout(ctx, o.Timeout+time.Minute)
	defer cancel()
	pod, err := waitPodStarted(rctx, c, o.Namespace, session, node)
	if err != nil {
		res.Err = err
		return res
	}
	stream, err := c.CoreV1().Pods(o.Namespace).GetLogs(pod, &corev1.PodLogOptions{Follow: true}).Stream(rctx)
	if err != nil {
		res.Err = fmt.Errorf("following pod %s: %w", pod, err)
		return res
	}
	defer stream.Close()
	dir := filepath.Join(o.OutDir, safeName(node))
	if err := ReadStream(stream, dir, func(line string) { logf("[%s] %s", node, line) }); err != nil {
		// Tell a node that went away from a run that failed.
		if _, gerr := c.CoreV1().Nodes().Get(context.WithoutCancel(ctx), node, metav1.GetOptions{}); apierrors.IsNotFound(gerr) {
			err = fmt.Errorf("node %s disappeared: %w", node, err)
		}
		res.Err = err
		return res
	}
	res.RunDir = dir
	logf("[%s] run directory received: %s", node, dir)
	return res
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// waitPodStarted polls until the node's Job pod runs (or ended), and returns its name.
func waitPodStarted(ctx context.Context, c k8s.Interface, ns, session, node string) (string, error) {
	sel := kubernetes.SessionLabel + "=" + session + ",batch.kubernetes.io/job-name=" + JobName(session, node)
	for {
		job, err := c.BatchV1().Jobs(ns).Get(ctx, JobName(session, node), metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("the node's job: %w", err)
		}
		for _, cond := range job.Status.Conditions {
			if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
				return "", fmt.Errorf("the node's job failed: %s: %s", cond.Reason, cond.Message)
			}
		}
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return "", fmt.Errorf("listing the job's pod: %w", err)
		}
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running != nil || cs.State.Terminated != nil {
					return p.Name, nil
				}
				if w := cs.State.Waiting; w != nil && (strings.HasPrefix(w.Reason, "Err") || strings.HasSuffix(w.Reason, "Error") || w.Reason == "ImagePullBackOff") {
					return "", fmt.Errorf("pod %s cannot start: %s: %s", p.Name, w.Reason, w.Message)
				}
			}
			if p.Status.Phase == corev1.PodFailed {
				return "", fmt.Errorf("pod %s failed: %s %s", p.Name, p.Status.Reason, p.Status.Message)
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the job's pod did not start: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// deleteJob deletes the Job and its pods and waits until the pods are gone.
func deleteJob(ctx context.Context, c k8s.Interface, ns, name, session string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	bg := metav1.DeletePropagationBackground
	err := c.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting job %s/%s: %w", ns, name, err)
	}
	sel := kubernetes.SessionLabel + "=" + session + ",batch.kubernetes.io/job-name=" + name
	for {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return fmt.Errorf("listing job %s's pods: %w", name, err)
		}
		if len(pods.Items) == 0 {
			return nil
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				// A failed delete is retried by the next round and reported at the timeout.
				_ = c.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{})
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %s's pods still there: %w", name, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}
