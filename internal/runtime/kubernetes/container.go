package kubernetes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/isobench/isobench/internal/runtime"
)

// New implements runtime.Driver: the pod object is built here and created in Create.
func (d *Driver) New(ctx context.Context, s runtime.Spec) (runtime.Container, error) {
	if d.tracker == nil || d.image == "" {
		return nil, errors.New("driver not prepared: call Prepare first")
	}
	if !strings.HasPrefix(s.ID, runtime.NamePrefix) {
		return nil, fmt.Errorf("container id %q must start with %q", s.ID, runtime.NamePrefix)
	}
	pod, err := PodSpec(d.settings, d.image, d.session, s)
	if err != nil {
		return nil, err
	}
	return &Container{d: d, spec: s, pod: pod, exitCode: -1}, nil
}

// Container is one pod.
type Container struct {
	d    *Driver
	spec runtime.Spec
	pod  *corev1.Pod

	watch     *podWatch
	created   *corev1.Pod
	posted    time.Time // when the create request was sent (client, monotonic)
	accepted  time.Time // when the API server answered it
	startCall time.Time
	exitCode  int
	logs      sync.WaitGroup
	firstOut  time.Time // node clock: the first stdout line's CRI log timestamp
	logErr    error
	logMu     sync.Mutex
	deleted   bool
	released  bool
}

// ID implements runtime.Container.
func (c *Container) ID() string { return c.spec.ID }

func (c *Container) errorf(format string, args ...any) error {
	return fmt.Errorf("pod %s/%s: %w", c.pod.Namespace, c.pod.Name, fmt.Errorf(format, args...))
}

// Create sends the pod to the API server and returns when it accepted it: scheduling and
// the node's work follow on their own, and Start waits for them.
func (c *Container) Create(ctx context.Context) error {
	c.watch = c.d.tracker.follow(c.pod.Name)
	c.posted = time.Now()
	created, err := c.d.client.CoreV1().Pods(c.pod.Namespace).Create(ctx, c.pod, metav1.CreateOptions{})
	c.accepted = time.Now()
	if err != nil {
		return c.errorf("create: %w", err)
	}
	c.created = created
	return nil
}

// fatalWaiting are container waiting reasons that will not resolve by waiting longer.
var fatalWaiting = map[string]bool{
	"ErrImageNeverPull": true, "InvalidImageName": true, "CreateContainerConfigError": true,
	"CreateContainerError": true, "RunContainerError": true, "ErrImagePull": true,
	"ImagePullBackOff": true, "CrashLoopBackOff": true, "ImageInspectError": true,
}

// Start waits until the watch shows the container running (or already exited), then
// follows its output. A pod that cannot start fails with the reason and its events.
func (c *Container) Start(ctx context.Context) error {
	if c.created == nil {
		return errors.New("pod was not created")
	}
	c.startCall = time.Now()
	wctx, cancel := context.WithTimeout(ctx, c.d.settings.StartTimeout)
	defer cancel()
	err := c.watch.wait(wctx, func(st Stamps, p *corev1.Pod) (bool, error) {
		if !st.Started.IsZero() {
			return true, nil
		}
		if p == nil {
			return false, c.watchLost()
		}
		if why := cannotStart(p); why != "" {
			return false, errors.New(why)
		}
		return false, c.watchLost()
	}, c.probe(ctx))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			_, p, _ := c.watch.snapshot()
			err = fmt.Errorf("not started within %s (start_timeout): %s", c.d.settings.StartTimeout, podState(p))
		}
		return c.errorf("start: %w%s", err, c.events(ctx))
	}
	c.followLogs(ctx)
	return nil
}

// cannotStart tells why a pod will never start its container, or "".
func cannotStart(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && fatalWaiting[w.Reason] {
			return w.Reason + ": " + w.Message
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		return "pod failed: " + p.Status.Reason + " " + p.Status.Message
	}
	return ""
}

// podState sums up where a pod is stuck.
func podState(p *corev1.Pod) string {
	if p == nil {
		return "the watch never saw the pod"
	}
	parts := []string{"phase " + string(p.Status.Phase)}
	for _, cond := range p.Status.Conditions {
		if cond.Status != corev1.ConditionTrue && (cond.Reason != "" || cond.Message != "") {
			parts = append(parts, fmt.Sprintf("%s=%s (%s: %s)", cond.Type, cond.Status, cond.Reason, cond.Message))
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			parts = append(parts, "container waiting: "+w.Reason+" "+w.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// probe asks the API server for the pod directly. It fails when the API server does not
// answer, or when the pod shows a step the watch has not delivered in two probes running:
// the watch is lost, and its stamps would be late.
func (c *Container) probe(ctx context.Context) func() error {
	behind := 0
	return func() error {
		if err := c.watchLost(); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		p, err := c.d.client.CoreV1().Pods(c.pod.Namespace).Get(pctx, c.pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return errors.New("the pod was deleted by someone else")
		}
		if err != nil {
			return fmt.Errorf("the API server does not answer, and the watch on pods is lost with it: %w", err)
		}
		var direct Stamps
		MarkSteps(&direct, p, time.Now())
		seen, _, _ := c.watch.snapshot()
		if (!direct.Started.IsZero() && seen.Started.IsZero()) || (!direct.Exited.IsZero() && seen.Exited.IsZero()) {
			behind++
		} else {
			behind = 0
		}
		if behind >= 2 {
			return fmt.Errorf("the watch on pods is lost: the API server shows the pod further on than the watch delivered for %s", 2*probeEvery)
		}
		return nil
	}
}

// watchLost fails a trial whose watch broke since its pod was created: its stamps would be late.
func (c *Container) watchLost() error {
	if errs := c.d.tracker.errorsSince(c.posted); len(errs) > 0 {
		return fmt.Errorf("the watch on pods was lost during the trial (its stamps would be late): %s", errs[0].Err)
	}
	return nil
}

// events lists the pod's events, for failure messages.
func (c *Container) events(ctx context.Context) string {
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	list, err := c.d.client.CoreV1().Events(c.pod.Namespace).List(ectx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", c.pod.Name).String()})
	if err != nil {
		return "; events: not available (" + err.Error() + ")"
	}
	if len(list.Items) == 0 {
		return "; events: none"
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].LastTimestamp.Before(&list.Items[j].LastTimestamp)
	})
	var b strings.Builder
	b.WriteString("; events:")
	for _, e := range list.Items {
		fmt.Fprintf(&b, " [%s %s %s: %s]", e.Type, e.Reason, e.Source.Component, strings.TrimSpace(e.Message))
	}
	return b.String()
}

// followLogs streams the container's stdout (with the node's CRI timestamps, the first of
// which marks the first output) and stderr to the spec's writers until the container ends.
// Separate streams need the PodLogsQuerySplitStreams feature (on in the local cluster);
// elsewhere both carry both.
func (c *Container) followLogs(ctx context.Context) {
	stream := func(which string, w io.Writer, stamped bool) {
		defer c.logs.Done()
		st := which
		req := c.d.client.CoreV1().Pods(c.pod.Namespace).GetLogs(c.pod.Name, &corev1.PodLogOptions{
			Container: ContainerName, Follow: true, Timestamps: stamped, Stream: &st})
		// The stream lives as long as the container, not the Start call.
		rc, err := req.Stream(context.WithoutCancel(ctx))
		if err != nil {
			c.setLogErr(fmt.Errorf("%s log: %w", which, err))
			return
		}
		defer rc.Close()
		if w == nil {
			w = io.Discard
		}
		if !stamped {
			if _, err := io.Copy(w, rc); err != nil {
				c.setLogErr(fmt.Errorf("%s log: %w", which, err))
			}
			return
		}
		if err := copyStamped(w, rc, func(t time.Time) {
			c.logMu.Lock()
			if c.firstOut.IsZero() {
				c.firstOut = t
			}
			c.logMu.Unlock()
		}); err != nil {
			c.setLogErr(fmt.Errorf("%s log: %w", which, err))
		}
	}
	c.logs.Add(2)
	go stream(corev1.LogStreamStdout, c.spec.Stdout, true)
	go stream(corev1.LogStreamStderr, c.spec.Stderr, false)
}

func (c *Container) setLogErr(err error) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	if c.logErr == nil {
		c.logErr = err
	}
}

// copyStamped copies a log stream whose lines start with an RFC 3339 timestamp and a space,
// without the timestamps, and reports the first one.
func copyStamped(w io.Writer, r io.Reader, first func(time.Time)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	seen := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			ts, rest, ok := strings.Cut(string(line), " ")
			t, perr := time.Parse(time.RFC3339Nano, ts)
			if !ok || perr != nil {
				return fmt.Errorf("log line without a timestamp: %.60q", line)
			}
			if !seen {
				first(t)
				seen = true
			}
			if _, werr := io.WriteString(w, rest); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Wait blocks until the container exited and its output is drained, and returns its exit code.
func (c *Container) Wait(ctx context.Context) (int, error) {
	if c.created == nil {
		return -1, errors.New("pod was not created")
	}
	var code int
	err := c.watch.wait(ctx, func(st Stamps, p *corev1.Pod) (bool, error) {
		if p == nil {
			return false, c.watchLost()
		}
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil {
				code = int(t.ExitCode)
				return true, nil
			}
		}
		if p.Status.Phase == corev1.PodFailed {
			return false, errors.New("pod failed: " + p.Status.Reason + " " + p.Status.Message)
		}
		return false, c.watchLost()
	}, c.probe(ctx))
	if err != nil {
		return -1, c.errorf("wait: %w%s", err, c.events(ctx))
	}
	if err := c.watchLost(); err != nil {
		return -1, c.errorf("wait: %w", err)
	}
	c.exitCode = code
	drained := make(chan struct{})
	go func() { c.logs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		return -1, c.errorf("wait: the container exited but its log stream did not end within 10 s")
	}
	c.logMu.Lock()
	lerr := c.logErr
	c.logMu.Unlock()
	if lerr != nil {
		return -1, c.errorf("wait: %w", lerr)
	}
	return code, nil
}

// Delete deletes the pod and returns when the watch saw it gone.
func (c *Container) Delete(ctx context.Context) error {
	if c.deleted || c.created == nil {
		c.deleted = true
		return nil
	}
	c.deleted = true
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	// A grace period, even of one second, lets the kubelet tear the pod down before the
	// object goes, so "deleted" means the node is done; with 0 the API server drops the
	// object at once and the node cleans up later, unseen.
	grace := int64(1)
	uid := c.created.UID
	err := c.d.client.CoreV1().Pods(c.pod.Namespace).Delete(dctx, c.pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &grace, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return c.errorf("delete: %w", err)
	}
	err = c.watch.wait(dctx, func(st Stamps, _ *corev1.Pod) (bool, error) { return !st.Deleted.IsZero(), nil }, nil)
	if err != nil {
		// The watch may have missed it; ask once.
		if gerr := waitGone(dctx, c.d.client, c.pod.Namespace, c.pod.Name, uid); gerr != nil {
			return c.errorf("delete: not gone: %w", err)
		}
	}
	return nil
}

// Release deletes the pod if Delete was not called, writes the pod's timeline into the
// trial's raw directory and stops following it.
func (c *Container) Release(ctx context.Context) error {
	err := c.Delete(ctx)
	if !c.released && c.watch != nil {
		c.released = true
		c.writeTimeline()
		c.d.tracker.forget(c.pod.Name)
	}
	return err
}

// Phases implements runtime.PhaseReporter: the watch stamps from the create request, and the
// first output from the node's log timestamp (same clock here: the local node is this host).
func (c *Container) Phases() []runtime.Phase {
	st, _, _ := c.watch.snapshot()
	c.logMu.Lock()
	first := c.firstOut
	c.logMu.Unlock()
	return PhasesFrom(st, c.posted, first, !c.d.settings.DirectBind)
}

// PhasesFrom turns stamps into phases measured from the create request: once the API
// server accepted the pod everything runs on its own, and the scheduler may bind it
// before the create call has returned. The scheduled phase is
// left out when the pod was bound directly (no scheduler), and a first output is placed by
// the wall clock, so it needs the node's clock to match this one.
func PhasesFrom(st Stamps, start time.Time, firstOutput time.Time, scheduled bool) []runtime.Phase {
	var out []runtime.Phase
	add := func(name string, t time.Time) {
		if !t.IsZero() {
			out = append(out, runtime.Phase{Name: name, Since: t.Sub(start)})
		}
	}
	if scheduled {
		add("scheduled", st.Scheduled)
	}
	add("sandbox_ready", st.SandboxReady)
	add("container_started", st.Started)
	if !firstOutput.IsZero() {
		// Wall-clock difference: strip start's monotonic reading.
		out = append(out, runtime.Phase{Name: "first_output", Since: firstOutput.Sub(start.Round(0))})
	}
	add("exited", st.Exited)
	return out
}

// Processes implements runtime.Container: a pod's processes live on a node and are not
// attributed here.
func (c *Container) Processes(ctx context.Context) ([]runtime.Process, error) {
	return nil, errors.New("the kubernetes driver does not attribute a pod's processes (they live on the node)")
}

// Network implements runtime.Container: the pod's IP once the watch showed one, and the
// profile's host_ip.
func (c *Container) Network() runtime.NetworkInfo {
	if !c.spec.Network {
		return runtime.NetworkInfo{}
	}
	info := runtime.NetworkInfo{HostIP: c.d.settings.HostIP, Stack: "k8s-pod-network"}
	c.d.mu.Lock()
	if classOf(c.d.handler) == runtime.ClassSandbox {
		info.Stack = "gvisor-netstack"
	}
	c.d.mu.Unlock()
	if c.watch != nil {
		if _, p, _ := c.watch.snapshot(); p != nil && inBenchSubnet(p.Status.PodIP) {
			info.ContainerIP = p.Status.PodIP
		}
	}
	return info
}

// Timeline is what one pod's trial recorded, written as pod-timeline.json into the raw
// directory: client stamps (monotonic, in ms from the create request) and the server's
// own timestamps with their resolution.
type Timeline struct {
	Pod              string             `json:"pod"`
	UID              string             `json:"uid"`
	Node             string             `json:"node,omitempty"`
	RuntimeClass     string             `json:"runtime_class,omitempty"`
	ClientMS         map[string]float64 `json:"client_ms_since_create_request"`
	Server           map[string]string  `json:"server_timestamps"`
	ServerResolution string             `json:"server_resolution"`
	FirstOutput      string             `json:"first_output_node_clock,omitempty"`
	// KubeletSLI is the kubelet's pod start SLI for this pod (from the second-truncated
	// creationTimestamp, without image pulls), or why there is none.
	KubeletSLISeconds *float64 `json:"kubelet_pod_start_sli_seconds,omitempty"`
	KubeletSLIMissing string   `json:"kubelet_pod_start_sli_missing,omitempty"`
}

func (c *Container) writeTimeline() {
	if c.spec.RawDir == "" || c.created == nil {
		return
	}
	st, p, _ := c.watch.snapshot()
	tl := Timeline{Pod: c.pod.Namespace + "/" + c.pod.Name, UID: string(c.created.UID), ClientMS: map[string]float64{},
		Server:           map[string]string{"created": c.created.CreationTimestamp.UTC().Format(time.RFC3339)},
		ServerResolution: "1s (creationTimestamp, condition lastTransitionTime, startedAt and finishedAt are whole seconds)"}
	if c.pod.Spec.RuntimeClassName != nil {
		tl.RuntimeClass = *c.pod.Spec.RuntimeClassName
	}
	ms := func(name string, t time.Time) {
		if !t.IsZero() {
			tl.ClientMS[name] = float64(t.Sub(c.posted).Microseconds()) / 1000
		}
	}
	ms("api_accepted", c.accepted)
	ms("start_call", c.startCall)
	ms("scheduled", st.Scheduled)
	ms("sandbox_ready", st.SandboxReady)
	ms("container_started", st.Started)
	ms("exited", st.Exited)
	ms("deleted", st.Deleted)
	c.logMu.Lock()
	if !c.firstOut.IsZero() {
		tl.FirstOutput = c.firstOut.UTC().Format(time.RFC3339Nano)
	}
	c.logMu.Unlock()
	if p != nil && p.Spec.NodeName != "" {
		if v, why := c.d.podSLI(context.Background(), p.Spec.NodeName); why == "" {
			tl.KubeletSLISeconds = &v
		} else {
			tl.KubeletSLIMissing = why
		}
	}
	if p != nil {
		tl.Node = p.Spec.NodeName
		for k, v := range ServerTimestamps(p) {
			tl.Server[k] = v
		}
	}
	if data, err := json.MarshalIndent(tl, "", "  "); err == nil {
		// The timeline adds to the trial's record; a trial does not fail for lack of it.
		_ = os.WriteFile(filepath.Join(c.spec.RawDir, c.spec.ID+"-pod-timeline.json"), data, 0o644)
	}
}

// ServerTimestamps are the pod's own timestamps (whole seconds).
func ServerTimestamps(p *corev1.Pod) map[string]string {
	out := map[string]string{}
	f := func(t metav1.Time) string { return t.UTC().Format(time.RFC3339) }
	for _, cond := range p.Status.Conditions {
		if cond.Status == corev1.ConditionTrue {
			out[strings.ToLower(string(cond.Type))] = f(cond.LastTransitionTime)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if r := cs.State.Running; r != nil {
			out["container_started"] = f(r.StartedAt)
		}
		if t := cs.State.Terminated; t != nil {
			out["container_started"] = f(t.StartedAt)
			out["container_finished"] = f(t.FinishedAt)
		}
	}
	return out
}

var _ runtime.Releaser = (*Container)(nil)
var _ runtime.PhaseReporter = (*Container)(nil)
