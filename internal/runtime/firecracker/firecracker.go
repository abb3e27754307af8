// Package firecracker is the Firecracker microVM driver: every container is a Firecracker
// VM configured through its API socket (machine config, boot source, drives, network
// interfaces), booting the vmlinux extracted from Debian's cloud kernel with the isobench
// agent as init, a per-VM copy of the image's ext4 disk and, with networking, a tap.
//
// The firecracker-go-sdk module could not be fetched here (the Go module proxy answers
// 403 for it), so api.go speaks the same REST API with the same JSON bodies the SDK's
// models marshal to. Firecracker needs KVM; there is no emulation fallback.
package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/vm"
)

// DriverName is the driver kind and its built-in profile's name.
const DriverName = "firecracker"

// Install is the fix when the binary is missing.
const Install = "install firecracker from its GitHub releases into PATH"

// guestModules are what the guest loads from the initramfs to reach its disk and network.
var guestModules = []string{"virtio_mmio", "virtio_blk", "virtio_net"}

func init() {
	runtime.Register(DriverName, New, runtime.Profile{
		Name: DriverName, Driver: DriverName, Binary: "firecracker",
		Options:     map[string]string{"memory": "512M", "cpus": "2", "jailer": "false"},
		Description: "Firecracker microVM (needs working KVM; no emulation fallback)",
	})
	runtime.RegisterCleaner(DriverName, cleanup)
}

// Driver runs containers as Firecracker microVMs.
type Driver struct {
	profile runtime.Profile
	env     runtime.Env

	binary   string // resolved by Check
	kernel   string // the bzImage
	vmlinux  string // extracted by Prepare
	memBytes int64
	cpus     int

	mu      sync.Mutex
	checked *runtime.Status
	assets  *vm.Assets
	agents  vm.AgentFiles // spots the agent among bind sources
}

// New makes the driver. Profile options: memory (512M), cpus (2), kernel (newest
// /boot/vmlinuz-*-cloud-amd64; a bzImage or a vmlinux), jailer (only false: the jailer is
// not supported), agent (static isobench binary; default: this executable),
// boot_timeout (10s).
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	d := &Driver{profile: p, env: env}
	var err error
	if d.memBytes, err = vm.ParseSize(p.Option("memory", "512M")); err != nil {
		return nil, fmt.Errorf("profile %s: memory: %w", p.Name, err)
	}
	if d.cpus, err = strconv.Atoi(p.Option("cpus", "2")); err != nil || d.cpus < 1 || d.cpus > 32 {
		return nil, fmt.Errorf("profile %s: cpus %q is not a number from 1 to 32", p.Name, p.Option("cpus", ""))
	}
	if j := p.Option("jailer", "false"); j != "false" {
		return nil, fmt.Errorf("profile %s: jailer %q: running under the jailer is not supported (use jailer: false)", p.Name, j)
	}
	return d, nil
}

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// Check implements runtime.Driver: the binary must exist and KVM must run ordinary guests
// (vm.CheckKVMOnlyVMM probes that with a real boot), and the kernel must be there.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	d.mu.Lock()
	if d.checked != nil {
		st := *d.checked
		d.mu.Unlock()
		return st
	}
	d.mu.Unlock()
	bin := d.profile.Option("binary", d.profile.Binary)
	if bin == "" {
		bin = "firecracker"
	}
	st := vm.CheckKVMOnlyVMM(ctx, bin, Install)
	st.Options["network"] = "virtio-net-tap"
	if st.Problem != "" {
		return st
	}
	kernel := d.profile.Option("kernel", "")
	if kernel == "" {
		k, err := vm.FindKernel(vm.DefaultKernelGlob)
		if err != nil {
			st.Problem, st.Fix = err.Error(), "apt-get install linux-image-cloud-amd64"
			return st
		}
		kernel = k
	} else if _, err := os.Stat(kernel); err != nil {
		st.Problem, st.Fix = "kernel: "+err.Error(), "set the profile's kernel option to an existing kernel"
		return st
	}
	st.Options["kernel"] = kernel
	st.Options["memory"] = d.profile.Option("memory", "512M")
	st.Options["cpus"] = strconv.Itoa(d.cpus)
	st.Options["jailer"] = "false"
	st.Usable = true
	d.mu.Lock()
	d.binary, d.kernel = st.Binary, kernel
	d.checked = &st
	d.mu.Unlock()
	return st
}

// Prepare implements runtime.Driver: the vmlinux extracted from the kernel, the initramfs
// with the agent and modules, and the image's ext4 disk, all cached under <home>/assets.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error {
	if st := d.Check(ctx); !st.Usable {
		return fmt.Errorf("%s: %s (%s)", DriverName, st.Problem, st.Fix)
	}
	root, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("unpacking image %s: %w", img.Name, err)
	}
	agent := d.profile.Option("agent", "")
	if agent == "" {
		if agent, err = os.Executable(); err != nil {
			return fmt.Errorf("finding the isobench binary for the guest agent: %w", err)
		}
	}
	dir := filepath.Join(d.home(), "assets")
	a, err := vm.PrepareAssets(ctx, vm.AssetRequest{
		Dir: dir, Kernel: d.kernel, Modules: guestModules, Agent: agent, RootFS: root, Digest: img.Digest,
	})
	if err != nil {
		return fmt.Errorf("preparing guest assets: %w", err)
	}
	vmlinux, err := vm.VmlinuxPath(dir, d.kernel)
	if err != nil {
		return err
	}
	if err := vm.ExtractVmlinux(d.kernel, vmlinux); err != nil {
		return err
	}
	d.assets, d.vmlinux = a, vmlinux
	return nil
}

func (d *Driver) home() string {
	if d.env.Home != "" {
		return d.env.Home
	}
	return image.Home("")
}

// Close implements runtime.Driver; the cached assets stay for later runs.
func (d *Driver) Close(ctx context.Context) error { return nil }

var errNotPrepared = errors.New("firecracker: Prepare was not called")
