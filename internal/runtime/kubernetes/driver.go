// Package kubernetes runs containers as pods of a Kubernetes cluster, one pod per container,
// under a RuntimeClass (runc, gVisor, Kata), through client-go with a pod informer whose
// watch stamps time each start-up phase on the monotonic clock. The image is imported into
// the node's containerd (no registry: imagePullPolicy Never) or named by the profile.
package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
)

const (
	// DriverName is the driver kind of Kubernetes profiles.
	DriverName = "kubernetes"
	// Label marks everything isobench makes in a cluster (value "1").
	Label = "isobench"
	// SessionLabel tells one driver's pods from another's, so that Close removes only its own.
	SessionLabel = "isobench-session"

	// LocalKubeconfig, LocalContainerdSocket and LocalHostIP belong to the single-node cluster
	// scripts/k8s/cluster.sh starts on this machine; the built-in profiles point there.
	LocalKubeconfig       = "/var/lib/k8s-local/pki/admin.kubeconfig"
	LocalContainerdSocket = "/var/lib/k8s-local/run/containerd.sock"
	LocalHostIP           = "198.18.224.1"

	defaultStartTimeout = 2 * time.Minute
	requestTimeout      = 30 * time.Second
)

// Options are the keys a kubernetes profile takes (see ParseSettings for their meaning).
type Options struct {
	Kubeconfig       string `yaml:"kubeconfig"`
	Namespace        string `yaml:"namespace"`
	RuntimeClass     string `yaml:"runtime_class"`
	NodeName         string `yaml:"node_name"`
	Bind             string `yaml:"bind"`
	NodeSelector     string `yaml:"node_selector"`
	Image            string `yaml:"image"`
	ContainerdSocket string `yaml:"containerd_socket"`
	CPU              string `yaml:"cpu"`
	Memory           string `yaml:"memory"`
	HostIP           string `yaml:"host_ip"`
	StartTimeout     string `yaml:"start_timeout"`
	Sweep            string `yaml:"sweep"`
}

func init() {
	runtime.DeclareOptions(DriverName, Options{})
	prof := func(name, class, desc string) runtime.Profile {
		return runtime.Profile{Name: name, Driver: DriverName, Description: desc, Options: map[string]string{
			"runtime_class": class, "containerd_socket": LocalContainerdSocket, "host_ip": LocalHostIP}}
	}
	runtime.Register(DriverName, New,
		prof("k8s-runc", "runc", "a pod per container under RuntimeClass runc (the cluster of scripts/k8s/cluster.sh unless kubeconfig is set)"),
		prof("k8s-gvisor", "gvisor", "a pod per container under RuntimeClass gvisor (gVisor's containerd shim)"),
		prof("k8s-kata", "kata", "a pod per container under RuntimeClass kata (Kata Containers: needs KVM and Kata on the node)"),
	)
	runtime.RegisterCleaner(DriverName, runtime.ProfileCleaner(DriverName, sweepOf))
}

// Settings are a profile's options, checked.
type Settings struct {
	Kubeconfig   string
	Namespace    string
	RuntimeClass string
	// NodeName pins pods to a node; with DirectBind the pod is bound at creation and the
	// scheduler is left out.
	NodeName     string
	DirectBind   bool
	NodeSelector map[string]string
	// Image names the image on the node; empty means isobench imports it into
	// ContainerdSocket's namespace k8s.io.
	Image            string
	ContainerdSocket string
	CPU, Memory      string
	// HostIP is the address pods reach the host at (network benchmarks).
	HostIP       string
	StartTimeout time.Duration
}

// ParseSettings reads a profile's options. Options: kubeconfig (default $KUBECONFIG, else the
// local cluster's), namespace (default), runtime_class, node_name, bind (scheduler|direct),
// node_selector (k=v,k=v), image, containerd_socket, cpu, memory, host_ip, start_timeout.
func ParseSettings(p runtime.Profile) (Settings, error) {
	// Unknown keys are refused as the config loader refuses them.
	if err := p.DecodeOptions(&Options{}); err != nil {
		return Settings{}, err
	}
	s := Settings{
		Kubeconfig:       p.Option("kubeconfig", os.Getenv("KUBECONFIG")),
		Namespace:        p.Option("namespace", "default"),
		RuntimeClass:     p.Option("runtime_class", ""),
		NodeName:         p.Option("node_name", ""),
		Image:            p.Option("image", ""),
		ContainerdSocket: p.Option("containerd_socket", ""),
		CPU:              p.Option("cpu", ""),
		Memory:           p.Option("memory", ""),
		HostIP:           p.Option("host_ip", ""),
		StartTimeout:     defaultStartTimeout,
	}
	if s.Kubeconfig == "" {
		s.Kubeconfig = LocalKubeconfig
	}
	switch b := p.Option("bind", "scheduler"); b {
	case "scheduler":
	case "direct":
		s.DirectBind = true
	default:
		return s, fmt.Errorf("profile %s: bind must be scheduler or direct, not %q", p.Name, b)
	}
	if sel := p.Option("node_selector", ""); sel != "" {
		s.NodeSelector = map[string]string{}
		for _, kv := range strings.Split(sel, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" {
				return s, fmt.Errorf("profile %s: node_selector must be key=value[,key=value], not %q", p.Name, sel)
			}
			s.NodeSelector[k] = v
		}
	}
	if t := p.Option("start_timeout", ""); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("profile %s: start_timeout must be a positive duration such as 60s, not %q", p.Name, t)
		}
		s.StartTimeout = d
	}
	if s.Image == "" && s.ContainerdSocket == "" {
		return s, fmt.Errorf("profile %s: set image (already on the nodes) or containerd_socket (the node's containerd to import into)", p.Name)
	}
	if s.HostIP != "" && !inBenchSubnet(s.HostIP) {
		return s, fmt.Errorf("profile %s: host_ip %s is outside 198.18.0.0/15, where isobench's traffic stays", p.Name, s.HostIP)
	}
	return s, nil
}

// Driver runs containers as pods.
type Driver struct {
	profile  runtime.Profile
	env      runtime.Env
	settings Settings
	badInput error
	session  string

	client  k8s.Interface
	config  *rest.Config
	image   string
	tracker *tracker
	stop    chan struct{}
	nodeIP  string

	mu      sync.Mutex
	handler string // the RuntimeClass's handler, from Check
	sli     sliTracker
}

// New makes a Kubernetes driver; bad options surface in Check.
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	s, err := ParseSettings(p)
	b := make([]byte, 4)
	if _, rerr := rand.Read(b); rerr != nil {
		return nil, fmt.Errorf("making a session id: %w", rerr)
	}
	return &Driver{profile: p, env: env, settings: s, badInput: err, session: hex.EncodeToString(b)}, nil
}

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// Settings returns the checked options.
func (d *Driver) Settings() Settings { return d.settings }

// Client returns the cluster client (after a successful Check or Prepare).
func (d *Driver) Client() k8s.Interface { return d.client }

func (d *Driver) connect() error {
	if d.client != nil {
		return nil
	}
	cfg, err := RESTConfig(d.settings.Kubeconfig)
	if err != nil {
		return err
	}
	c, err := k8s.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", d.settings.Kubeconfig, err)
	}
	d.config, d.client = cfg, c
	return nil
}

// RESTConfig loads a kubeconfig with isobench's client settings: a request timeout, and
// enough client-side rate to not throttle one pod per trial.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = requestTimeout
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "isobench"
	return cfg, nil
}

// Check implements runtime.Driver: the cluster answers, the RuntimeClass exists, the node
// (when named) is Ready.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	st := runtime.Status{Class: runtime.ClassContainer, Options: map[string]string{
		"runtime_class": d.settings.RuntimeClass, "namespace": d.settings.Namespace, "kubeconfig": d.settings.Kubeconfig}}
	if d.badInput != nil {
		st.Problem, st.Fix = d.badInput.Error(), "fix the profile's options in the config file"
		return st
	}
	if d.settings.DirectBind {
		st.Options["bind"] = "direct"
	}
	st.Class = classOf(d.settings.RuntimeClass)
	if err := d.connect(); err != nil {
		st.Problem = err.Error()
		st.Fix = "start the local cluster (scripts/k8s/cluster.sh up) or set the profile's kubeconfig option (or KUBECONFIG)"
		return st
	}
	st.Found = true
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := serverVersion(cctx, d.client)
	if err != nil {
		st.Problem = fmt.Sprintf("the Kubernetes API server of %s does not answer: %v", d.settings.Kubeconfig, err)
		st.Fix = "start the cluster (scripts/k8s/cluster.sh up for the local one)"
		return st
	}
	st.Version = "Kubernetes " + v
	if d.settings.RuntimeClass != "" {
		rc, err := d.client.NodeV1().RuntimeClasses().Get(cctx, d.settings.RuntimeClass, metav1.GetOptions{})
		if err != nil {
			st.Problem = fmt.Sprintf("RuntimeClass %s: %v", d.settings.RuntimeClass, err)
			st.Fix = "create the RuntimeClass with the node's handler for it (and install that runtime on the nodes)"
			if d.settings.RuntimeClass == "kata" {
				st.Fix = "install Kata Containers on the nodes (it needs KVM; this host's /dev/kvm cannot run it) and create RuntimeClass kata with handler kata"
			}
			return st
		}
		d.mu.Lock()
		d.handler = rc.Handler
		d.mu.Unlock()
		st.Options["handler"] = rc.Handler
		st.Class = classOf(rc.Handler)
	}
	if d.settings.NodeName != "" {
		n, err := d.client.CoreV1().Nodes().Get(cctx, d.settings.NodeName, metav1.GetOptions{})
		if err != nil {
			st.Problem = fmt.Sprintf("node %s: %v", d.settings.NodeName, err)
			st.Fix = "name a node `kubectl get nodes` lists in the profile's node_name"
			return st
		}
		if !nodeReady(n) {
			st.Problem = "node " + d.settings.NodeName + " is not Ready"
			st.Fix = "check its kubelet"
			return st
		}
		st.Options["node"] = n.Name
		st.Options["kubelet"] = n.Status.NodeInfo.KubeletVersion
		st.Options["container_runtime"] = n.Status.NodeInfo.ContainerRuntimeVersion
	}
	st.Usable = true
	return st
}

func serverVersion(ctx context.Context, c k8s.Interface) (string, error) {
	body, err := c.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := jsonUnmarshal(body, &v); err != nil {
		return "", fmt.Errorf("reading /version: %w", err)
	}
	return v.GitVersion, nil
}

func classOf(handler string) runtime.Class {
	switch {
	case strings.Contains(handler, "runsc") || strings.Contains(handler, "gvisor"):
		return runtime.ClassSandbox
	case strings.Contains(handler, "kata") || strings.Contains(handler, "firecracker"):
		return runtime.ClassVM
	}
	return runtime.ClassContainer
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Prepare imports the image into the node's containerd (unless the profile names one) and
// starts the pod informer.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error {
	if d.badInput != nil {
		return d.badInput
	}
	if err := d.connect(); err != nil {
		return err
	}
	d.image = d.settings.Image
	if d.image == "" {
		ref, err := importImage(ctx, d.settings.ContainerdSocket, img)
		if err != nil {
			return err
		}
		d.image = ref
	}
	if d.settings.DirectBind && d.settings.NodeName == "" {
		node, err := firstReadyNode(ctx, d.client)
		if err != nil {
			return err
		}
		d.settings.NodeName = node
	}
	if nodes, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 50}); err == nil {
		for i := range nodes.Items {
			d.sliBaseline(ctx, nodes.Items[i].Name)
		}
	}
	if d.tracker == nil {
		t, err := startTracker(ctx, d.client, d.settings.Namespace, Label+"=1,"+SessionLabel+"="+d.session)
		if err != nil {
			return err
		}
		d.tracker = t
	}
	return nil
}

func firstReadyNode(ctx context.Context, c k8s.Interface) (string, error) {
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing nodes for direct binding: %w", err)
	}
	for i := range nodes.Items {
		if nodeReady(&nodes.Items[i]) && !nodes.Items[i].Spec.Unschedulable {
			return nodes.Items[i].Name, nil
		}
	}
	return "", errors.New("direct binding: no Ready node; name one with the profile's node_name")
}

// Close removes every pod this driver made that is still there and stops the informer.
func (d *Driver) Close(ctx context.Context) error {
	var err error
	if d.client != nil && d.tracker != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, err = deletePods(cctx, d.client, d.settings.Namespace, Label+"=1,"+SessionLabel+"="+d.session)
	}
	if d.tracker != nil {
		d.tracker.stop()
		d.tracker = nil
	}
	return err
}

// deletePods deletes the pods a label selector finds, at once, and waits until they are gone.
func deletePods(ctx context.Context, c k8s.Interface, namespace, selector string) ([]string, error) {
	pods, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing pods %s in %s: %w", selector, namespace, err)
	}
	var names []string
	var errs []error
	zero := int64(0)
	for _, p := range pods.Items {
		err := c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		names = append(names, "pod "+p.Namespace+"/"+p.Name)
	}
	for _, p := range pods.Items {
		if err := waitGone(ctx, c, p.Namespace, p.Name, p.UID); err != nil {
			errs = append(errs, err)
		}
	}
	return names, errors.Join(errs...)
}

// waitGone polls until a pod (of that UID) no longer exists.
func waitGone(ctx context.Context, c k8s.Interface, namespace, name string, uid any) error {
	for {
		p, err := c.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && string(p.UID) != fmt.Sprint(uid)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s/%s still there: %w", namespace, name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// informerFactory watches the pods of one namespace that carry a label selector.
func informerFactory(c k8s.Interface, namespace, selector string) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
}

var _ cache.ResourceEventHandler = (*tracker)(nil)
