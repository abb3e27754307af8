package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The kubelet's pod start SLI: seconds from the pod's creationTimestamp (whole seconds) until
// the kubelet saw all its containers started, without image pulls. The kubelet exports it
// only as a histogram, so one pod's value is the change of its sum while its count grew by
// exactly one: a pod started meanwhile by someone else leaves the trial without one.
const sliMetric = "kubelet_pod_start_sli_duration_seconds"

// sliReading is the histogram's sum and count on one node.
type sliReading struct {
	Sum   float64
	Count float64
}

// ParseSLI reads the SLI histogram's sum and count from a Prometheus text exposition.
func ParseSLI(metrics []byte) (sliReading, bool) {
	var r sliReading
	var haveSum, haveCount bool
	sc := bufio.NewScanner(bytes.NewReader(metrics))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		// Series may carry labels; the SLI has none that split it here.
		base, _, _ := strings.Cut(name, "{")
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		switch base {
		case sliMetric + "_sum":
			r.Sum += v
			haveSum = true
		case sliMetric + "_count":
			r.Count += v
			haveCount = true
		}
	}
	return r, haveSum && haveCount
}

// sliTracker keeps the last reading per node.
type sliTracker struct {
	mu   sync.Mutex
	last map[string]sliReading
}

// read scrapes a node's kubelet metrics through the API server's node proxy.
func (d *Driver) readSLI(ctx context.Context, node string) (sliReading, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := d.client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "metrics").Do(ctx).Raw()
	if err != nil {
		return sliReading{}, fmt.Errorf("kubelet metrics of %s: %w", node, err)
	}
	r, ok := ParseSLI(body)
	if !ok {
		return r, fmt.Errorf("kubelet metrics of %s: no %s", node, sliMetric)
	}
	return r, nil
}

// baseline records a node's current reading (the first pod on it then has a value).
func (d *Driver) sliBaseline(ctx context.Context, node string) {
	r, err := d.readSLI(ctx, node)
	if err != nil {
		return // the SLI is extra; without the metric the trial simply has none
	}
	d.sli.mu.Lock()
	defer d.sli.mu.Unlock()
	if d.sli.last == nil {
		d.sli.last = map[string]sliReading{}
	}
	d.sli.last[node] = r
}

// podSLI returns one pod's SLI in seconds from the change since the node's last reading, or
// why there is none.
func (d *Driver) podSLI(ctx context.Context, node string) (float64, string) {
	r, err := d.readSLI(ctx, node)
	if err != nil {
		return 0, err.Error()
	}
	d.sli.mu.Lock()
	defer d.sli.mu.Unlock()
	prev, ok := d.sli.last[node]
	if d.sli.last == nil {
		d.sli.last = map[string]sliReading{}
	}
	d.sli.last[node] = r
	switch {
	case !ok:
		return 0, "no earlier reading of node " + node
	case r.Count == prev.Count:
		return 0, "the kubelet counted no pod start on node " + node + " (a pod that exits before the kubelet sees it running is not counted)"
	case r.Count-prev.Count != 1:
		return 0, fmt.Sprintf("%g pod starts on node %s since the last reading, not one", r.Count-prev.Count, node)
	}
	return r.Sum - prev.Sum, ""
}
