package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Stamps are when the client's watch saw each step of one pod, on the monotonic clock
// (they include the watch's delivery delay, milliseconds on a quiet cluster).
type Stamps struct {
	Scheduled, SandboxReady, Started, Exited, Deleted time.Time
}

// podWatch follows one pod by name through the informer's events.
type podWatch struct {
	name string

	mu      sync.Mutex
	stamps  Stamps
	last    *corev1.Pod
	deleted bool
	changed chan struct{}
}

func (w *podWatch) snapshot() (Stamps, *corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stamps, w.last, w.deleted
}

// observe stamps the steps a pod's new state shows for the first time.
func (w *podWatch) observe(p *corev1.Pod, now time.Time, deleted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last != nil && p.UID != w.last.UID {
		return // another pod of the same name: not ours
	}
	MarkSteps(&w.stamps, p, now)
	if deleted && w.stamps.Deleted.IsZero() {
		w.stamps.Deleted = now
		w.deleted = true
	}
	w.last = p
	close(w.changed)
	w.changed = make(chan struct{})
}

// MarkSteps sets the stamps of the steps p shows that have none yet.
func MarkSteps(s *Stamps, p *corev1.Pod, now time.Time) {
	set := func(t *time.Time) {
		if t.IsZero() {
			*t = now
		}
	}
	if p.Spec.NodeName != "" {
		set(&s.Scheduled)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReadyToStartContainers && c.Status == corev1.ConditionTrue {
			set(&s.SandboxReady)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			// A container that ran at all had its sandbox ready, even if the watch never
			// showed that condition on its own.
			set(&s.SandboxReady)
			set(&s.Started)
		}
		if cs.State.Terminated != nil {
			set(&s.Exited)
		}
	}
}

// poke wakes the waiters without a new pod state.
func (w *podWatch) poke() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.changed)
	w.changed = make(chan struct{})
}

// probeEvery is how often a waiter with no news asks the API server directly: the
// informer retries a refused watch silently, so a lost API server shows only this way.
const probeEvery = 2 * time.Second

// wait blocks until done says so or ctx ends; while no event comes, probe (if not nil)
// runs every probeEvery and ends the wait with its error.
func (w *podWatch) wait(ctx context.Context, done func(Stamps, *corev1.Pod) (bool, error), probe func() error) error {
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		w.mu.Lock()
		st, last, ch := w.stamps, w.last, w.changed
		w.mu.Unlock()
		if ok, err := done(st, last); ok || err != nil {
			return err
		}
		select {
		case <-ch:
		case <-tick.C:
			if probe != nil {
				if err := probe(); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchError is a failure of the informer's watch: events were missed or came late.
type watchError struct {
	At  time.Time
	Err string
}

// tracker feeds the informer's pod events to the podWatch of each pod.
type tracker struct {
	mu      sync.Mutex
	pods    map[string]*podWatch
	errs    []watchError
	stopCh  chan struct{}
	stopped sync.Once
}

func startTracker(ctx context.Context, c k8s.Interface, namespace, selector string) (*tracker, error) {
	t := &tracker{pods: map[string]*podWatch{}, stopCh: make(chan struct{})}
	f := informerFactory(c, namespace, selector)
	inf := f.Core().V1().Pods().Informer()
	if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		t.mu.Lock()
		t.errs = append(t.errs, watchError{At: time.Now(), Err: err.Error()})
		watches := make([]*podWatch, 0, len(t.pods))
		for _, w := range t.pods {
			watches = append(watches, w)
		}
		t.mu.Unlock()
		// Whoever waits on a pod learns of the loss now, not at its timeout.
		for _, w := range watches {
			w.poke()
		}
	}); err != nil {
		return nil, fmt.Errorf("pod informer: %w", err)
	}
	if _, err := inf.AddEventHandler(t); err != nil {
		return nil, fmt.Errorf("pod informer: %w", err)
	}
	f.Start(t.stopCh)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), inf.HasSynced) {
		t.stop()
		t.mu.Lock()
		defer t.mu.Unlock()
		why := "no answer"
		if len(t.errs) > 0 {
			why = t.errs[len(t.errs)-1].Err
		}
		return nil, fmt.Errorf("watching pods in %s: the informer did not sync within 30 s: %s", namespace, why)
	}
	return t, nil
}

func (t *tracker) stop() { t.stopped.Do(func() { close(t.stopCh) }) }

// follow registers a pod name before the pod is created, so that no event is missed.
func (t *tracker) follow(name string) *podWatch {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := &podWatch{name: name, changed: make(chan struct{})}
	t.pods[name] = w
	return w
}

func (t *tracker) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pods, name)
}

// errorsSince returns the watch failures from since on.
func (t *tracker) errorsSince(since time.Time) []watchError {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []watchError
	for _, e := range t.errs {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	return out
}

func (t *tracker) dispatch(obj any, deleted bool) {
	now := time.Now()
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	t.mu.Lock()
	w := t.pods[p.Name]
	t.mu.Unlock()
	if w != nil {
		w.observe(p, now, deleted)
	}
}

// OnAdd implements cache.ResourceEventHandler.
func (t *tracker) OnAdd(obj any, _ bool) { t.dispatch(obj, false) }

// OnUpdate implements cache.ResourceEventHandler.
func (t *tracker) OnUpdate(_, obj any) { t.dispatch(obj, false) }

// OnDelete implements cache.ResourceEventHandler.
func (t *tracker) OnDelete(obj any) { t.dispatch(obj, true) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
