package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/isobench/isobench/internal/runtime"
)

// SweepOption marks the profile `isobench cleanup --kubeconfig` adds: only such a profile
// makes the cleaner touch a cluster, so a plain `isobench cleanup` leaves clusters alone.
const SweepOption = "sweep"

// SweepProfile is the profile `isobench cleanup --kubeconfig` hands to the cleaners.
func SweepProfile(kubeconfig string) runtime.Profile {
	return runtime.Profile{Name: "cleanup-" + kubeconfig, Driver: DriverName,
		Options: map[string]string{"kubeconfig": kubeconfig, SweepOption: "1", "image": "none"}}
}

// sweepOf deletes, in every namespace of the cluster a sweep profile (SweepProfile) names,
// the pods and jobs isobench labelled (label isobench=1), and nothing else.
func sweepOf(ctx context.Context, _ runtime.Env, p runtime.Profile) (runtime.ProfileSweep, error) {
	if p.Option(SweepOption, "") != "1" {
		return runtime.ProfileSweep{}, nil
	}
	kubeconfig := p.Option("kubeconfig", "")
	return runtime.ProfileSweep{Endpoint: "kubeconfig " + kubeconfig, Run: func() ([]string, error) { return sweepCluster(ctx, kubeconfig) }}, nil
}

// sweepCluster sweeps the cluster kubeconfig points to.
func sweepCluster(ctx context.Context, kubeconfig string) ([]string, error) {
	cfg, err := RESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	c, err := k8s.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", kubeconfig, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return Sweep(ctx, c)
}

// Sweep removes every object labelled isobench=1 from a cluster: jobs (with their pods) and pods.
func Sweep(ctx context.Context, c k8s.Interface) ([]string, error) {
	var removed []string
	var errs []error
	sel := Label + "=1"
	jobs, err := c.BatchV1().Jobs("").List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing isobench's jobs: %w", err)
	}
	bg := metav1.DeletePropagationBackground
	zero := int64(0)
	for _, j := range jobs.Items {
		if err := c.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg, GracePeriodSeconds: &zero}); err != nil {
			errs = append(errs, fmt.Errorf("deleting job %s/%s: %w", j.Namespace, j.Name, err))
			continue
		}
		removed = append(removed, "job "+j.Namespace+"/"+j.Name)
	}
	pods, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("listing isobench's pods: %w", err))...)
	}
	namespaces := map[string]bool{}
	for _, p := range pods.Items {
		namespaces[p.Namespace] = true
	}
	for ns := range namespaces {
		r, err := deletePods(ctx, c, ns, sel)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
