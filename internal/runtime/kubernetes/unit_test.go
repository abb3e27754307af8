package kubernetes

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/isobench/isobench/internal/runtime"
)

func TestPodNameIsAValidLabel(t *testing.T) {
	for _, id := range []string{
		"isobench-1a2b3c4d-k8s-runc-7",
		"isobench-ABC_def.x-1",
		"isobench-" + strings.Repeat("long", 30),
	} {
		name := PodName(id)
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("PodName(%q) = %q: %v", id, name, errs)
		}
		if !strings.HasPrefix(name, runtime.NamePrefix) {
			t.Errorf("PodName(%q) = %q lost the isobench- prefix", id, name)
		}
	}
	if PodName("isobench-a-1") != "isobench-a-1" {
		t.Errorf("a valid id was changed: %q", PodName("isobench-a-1"))
	}
	if PodName("isobench-A") == PodName("isobench-a_") {
		t.Error("different ids gave the same pod name")
	}
}

func TestParseSettings(t *testing.T) {
	p := runtime.Profile{Name: "k", Driver: DriverName, Options: map[string]string{
		"kubeconfig": "/x", "runtime_class": "gvisor", "bind": "direct", "node_name": "n1",
		"node_selector": "a=b, c=d", "containerd_socket": "/s", "start_timeout": "15s", "host_ip": "198.18.224.1"}}
	s, err := ParseSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	if !s.DirectBind || s.NodeName != "n1" || s.NodeSelector["c"] != "d" || s.StartTimeout != 15*time.Second || s.Namespace != "default" {
		t.Errorf("settings %+v", s)
	}
	for opt, val := range map[string]string{"bind": "maybe", "node_selector": "novalue", "start_timeout": "-1s", "host_ip": "10.0.0.1"} {
		bad := runtime.Profile{Name: "k", Options: map[string]string{"containerd_socket": "/s", opt: val}}
		if _, err := ParseSettings(bad); err == nil || !strings.Contains(err.Error(), opt) {
			t.Errorf("%s=%q: error %v does not name the option", opt, val, err)
		}
	}
	if _, err := ParseSettings(runtime.Profile{Name: "k"}); err == nil {
		t.Error("a profile with neither image nor containerd_socket was accepted")
	}
}

func TestPodSpec(t *testing.T) {
	s := Settings{Namespace: "ns", RuntimeClass: "gvisor", NodeName: "n1", CPU: "500m", Memory: "64Mi"}
	spec := runtime.Spec{ID: "isobench-x-1", Args: []string{"echo", "hi"}, Env: []string{"A=b=c"}, Mounts: []runtime.Mount{
		{Type: "bind", Source: "/probe", Destination: "/.isobench/isobench", ReadOnly: true},
		{Type: "tmpfs", Destination: "/scratch", SizeBytes: 1 << 20}}}
	pod, err := PodSpec(s, "docker.io/isobench/img:abc", "sess", spec)
	if err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	if c.ImagePullPolicy != corev1.PullNever || c.Command[0] != "echo" || c.Env[0].Value != "b=c" {
		t.Errorf("container %+v", c)
	}
	if *pod.Spec.RuntimeClassName != "gvisor" || pod.Spec.NodeName != "" || pod.Spec.NodeSelector["kubernetes.io/hostname"] != "n1" {
		t.Errorf("placement: class %v node %q selector %v", *pod.Spec.RuntimeClassName, pod.Spec.NodeName, pod.Spec.NodeSelector)
	}
	if pod.Labels[Label] != "1" || pod.Labels[SessionLabel] != "sess" || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("labels %v restart %v", pod.Labels, pod.Spec.RestartPolicy)
	}
	if pod.Spec.Volumes[0].HostPath == nil || pod.Spec.Volumes[1].EmptyDir == nil || pod.Spec.Volumes[1].EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("volumes %+v", pod.Spec.Volumes)
	}
	if c.Resources.Limits.Cpu().MilliValue() != 500 || c.Resources.Requests.Memory().Value() != 64<<20 {
		t.Errorf("resources %+v", c.Resources)
	}
	s.DirectBind = true
	pod, _ = PodSpec(s, "img", "sess", spec)
	if pod.Spec.NodeName != "n1" {
		t.Errorf("direct binding did not set nodeName: %q", pod.Spec.NodeName)
	}
	if _, err := PodSpec(s, "img", "sess", runtime.Spec{ID: "isobench-y"}); err == nil {
		t.Error("a spec without a command was accepted")
	}
	if _, err := PodSpec(Settings{CPU: "lots"}, "img", "sess", spec); err == nil {
		t.Error("a bad cpu quantity was accepted")
	}
}

// podAt builds the pod states a watch shows in order.
func podAt(node string, sandbox bool, state string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u"}, Spec: corev1.PodSpec{NodeName: node}}
	if sandbox {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue})
	}
	cs := corev1.ContainerStatus{Name: ContainerName}
	switch state {
	case "waiting":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	case "running":
		cs.State.Running = &corev1.ContainerStateRunning{}
	case "terminated":
		cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 3}
	}
	if state != "" {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	}
	return p
}

func TestWatchStampsAndPhasesAreOrdered(t *testing.T) {
	w := &podWatch{name: "p", changed: make(chan struct{})}
	t0 := time.Now()
	steps := []*corev1.Pod{podAt("", false, ""), podAt("n", false, ""), podAt("n", true, "waiting"), podAt("n", true, "running"), podAt("n", true, "terminated")}
	for i, p := range steps {
		w.observe(p, t0.Add(time.Duration(i+1)*10*time.Millisecond), false)
	}
	w.observe(steps[4], t0.Add(60*time.Millisecond), true)
	st, _, deleted := w.snapshot()
	if !deleted || st.Deleted.Sub(t0) != 60*time.Millisecond {
		t.Errorf("deletion not stamped: %+v", st)
	}
	phases := PhasesFrom(st, t0, t0.Add(45*time.Millisecond), true)
	want := []string{"scheduled", "sandbox_ready", "container_started", "first_output", "exited"}
	if len(phases) != len(want) {
		t.Fatalf("phases %+v", phases)
	}
	for i, p := range phases {
		if p.Name != want[i] {
			t.Errorf("phase %d is %s, want %s", i, p.Name, want[i])
		}
		if i > 0 && p.Since < phases[i-1].Since {
			t.Errorf("phase %s (%v) before %s (%v)", p.Name, p.Since, phases[i-1].Name, phases[i-1].Since)
		}
	}
	if phases[0].Since != 20*time.Millisecond || phases[3].Since != 45*time.Millisecond {
		t.Errorf("phase times %+v", phases)
	}
	if got := PhasesFrom(st, t0, time.Time{}, false); got[0].Name != "sandbox_ready" {
		t.Errorf("direct binding still reports scheduling: %+v", got)
	}
	// An exit seen in the same update as the first sight of the container stamps both.
	var s Stamps
	MarkSteps(&s, podAt("n", false, "terminated"), t0)
	if s.Started.IsZero() || s.SandboxReady.IsZero() || s.Exited.IsZero() {
		t.Errorf("a fast container's steps were not all stamped: %+v", s)
	}
	// A pod of the same name but another UID is not ours.
	other := podAt("n", true, "running")
	other.UID = "v"
	before, _, _ := w.snapshot()
	w.observe(other, t0.Add(time.Second), false)
	if after, _, _ := w.snapshot(); after != before {
		t.Error("another pod's event changed the stamps")
	}
}

func TestWaitEndsOnConditionAndContext(t *testing.T) {
	w := &podWatch{name: "p", changed: make(chan struct{})}
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.observe(podAt("n", true, "running"), time.Now(), false)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.wait(ctx, func(st Stamps, _ *corev1.Pod) (bool, error) { return !st.Started.IsZero(), nil }, nil); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	if err := w.wait(short, func(st Stamps, _ *corev1.Pod) (bool, error) { return !st.Exited.IsZero(), nil }, nil); err == nil {
		t.Fatal("wait for an exit that never comes returned no error")
	}
}

func TestCannotStart(t *testing.T) {
	p := podAt("n", true, "waiting")
	if cannotStart(p) != "" {
		t.Error("ContainerCreating counted as fatal")
	}
	p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "image not present"}
	if why := cannotStart(p); !strings.Contains(why, "ErrImageNeverPull") {
		t.Errorf("cannotStart = %q", why)
	}
	if s := podState(p); !strings.Contains(s, "ErrImageNeverPull") {
		t.Errorf("podState = %q", s)
	}
}

func TestCopyStamped(t *testing.T) {
	in := "2026-12-02T16:01:16.123456789Z hello\n2026-12-02T16:01:16.2Z partial-start" +
		"\n2026-12-02T16:01:17Z world\n"
	var out bytes.Buffer
	var first time.Time
	if err := copyStamped(&out, strings.NewReader(in), func(t time.Time) { first = t }); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\npartial-start\nworld\n" {
		t.Errorf("output %q", out.String())
	}
	if first.Nanosecond() != 123456789 {
		t.Errorf("first stamp %v", first)
	}
	if err := copyStamped(&out, strings.NewReader("no stamp here\n"), func(time.Time) {}); err == nil {
		t.Error("a line without a timestamp was accepted")
	}
}

func TestCheckWithoutClusterSaysWhatToDo(t *testing.T) {
	d, err := New(runtime.Profile{Name: "k8s-x", Driver: DriverName, Options: map[string]string{
		"kubeconfig": "/nonexistent/kubeconfig", "containerd_socket": "/nonexistent.sock"}}, runtime.Env{})
	if err != nil {
		t.Fatal(err)
	}
	st := d.Check(context.Background())
	if st.Usable || !strings.Contains(st.Problem, "/nonexistent/kubeconfig") || !strings.Contains(st.Fix, "cluster.sh up") {
		t.Errorf("status %+v", st)
	}
}

func TestParseSLI(t *testing.T) {
	in := []byte("# HELP kubelet_pod_start_sli_duration_seconds x\n" +
		"kubelet_pod_start_sli_duration_seconds_bucket{le=\"0.5\"} 1\n" +
		"kubelet_pod_start_sli_duration_seconds_sum 1.75\n" +
		"kubelet_pod_start_sli_duration_seconds_count 3\n" +
		"kubelet_other_sum 9\n")
	r, ok := ParseSLI(in)
	if !ok || r.Sum != 1.75 || r.Count != 3 {
		t.Errorf("ParseSLI = %+v %v", r, ok)
	}
	if _, ok := ParseSLI([]byte("kubelet_other_sum 9\n")); ok {
		t.Error("metrics without the SLI parsed as having it")
	}
}
