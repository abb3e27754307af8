package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isobench/isobench/internal/runtime"
)

// ContainerName is the workload container's name in every pod.
const ContainerName = "workload"

// PodName turns a container id into a valid pod name (DNS-1123 label, at most 63 bytes).
func PodName(id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 63 || name != strings.ToLower(id) {
		sum := sha256.Sum256([]byte(id))
		suffix := "-" + hex.EncodeToString(sum[:4])
		if len(name) > 63-len(suffix) {
			name = name[:63-len(suffix)]
		}
		name = strings.TrimRight(name, "-") + suffix
	}
	return name
}

// PodSpec builds the pod that runs one container spec.
func PodSpec(s Settings, imageRef, session string, spec runtime.Spec) (*corev1.Pod, error) {
	if len(spec.Args) == 0 {
		return nil, fmt.Errorf("container %s: no command", spec.ID)
	}
	zero := int64(0)
	no := false
	ctr := corev1.Container{
		Name:            ContainerName,
		Image:           imageRef,
		ImagePullPolicy: corev1.PullNever,
		Command:         spec.Args,
		WorkingDir:      spec.Cwd,
	}
	for _, e := range spec.Env {
		k, v, _ := strings.Cut(e, "=")
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: k, Value: v})
	}
	if s.CPU != "" || s.Memory != "" {
		rl := corev1.ResourceList{}
		for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: s.CPU, corev1.ResourceMemory: s.Memory} {
			if v == "" {
				continue
			}
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return nil, fmt.Errorf("resource %s %q: %w", name, v, err)
			}
			rl[name] = q
		}
		ctr.Resources = corev1.ResourceRequirements{Requests: rl, Limits: rl}
	}
	var volumes []corev1.Volume
	for i, m := range spec.Mounts {
		name := fmt.Sprintf("m%d", i)
		var src corev1.VolumeSource
		switch m.Type {
		case "bind":
			// A host path only means something on the node that runs the pod: the local
			// cluster's node is this host.
			src.HostPath = &corev1.HostPathVolumeSource{Path: m.Source}
		case "tmpfs":
			ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
			if m.SizeBytes > 0 {
				q := resource.NewQuantity(m.SizeBytes, resource.BinarySI)
				ed.SizeLimit = q
			}
			src.EmptyDir = ed
		default:
			return nil, fmt.Errorf("mount %s: unknown type %q", m.Destination, m.Type)
		}
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: src})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: m.Destination, ReadOnly: m.ReadOnly})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PodName(spec.ID),
			Namespace: s.Namespace,
			Labels:    map[string]string{Label: "1", SessionLabel: session},
			Annotations: map[string]string{
				"isobench/container-id": spec.ID,
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			TerminationGracePeriodSeconds: &zero,
			NodeSelector:                  s.NodeSelector,
			Containers:                    []corev1.Container{ctr},
			Volumes:                       volumes,
		},
	}
	if s.RuntimeClass != "" {
		rc := s.RuntimeClass
		pod.Spec.RuntimeClassName = &rc
	}
	if s.NodeName != "" {
		if s.DirectBind {
			pod.Spec.NodeName = s.NodeName
		} else {
			if pod.Spec.NodeSelector == nil {
				pod.Spec.NodeSelector = map[string]string{}
			}
			pod.Spec.NodeSelector["kubernetes.io/hostname"] = s.NodeName
		}
	}
	return pod, nil
}

var benchSubnet = netip.MustParsePrefix("198.18.0.0/15")

func inBenchSubnet(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && benchSubnet.Contains(a)
}
