// Package firecracker is the Firecracker microVM driver: every container is a Firecracker
// VM configured through its API socket (machine config, boot source, drives, network
// interfaces), booting the vmlinux extracted from Debian's cloud kernel with the isobench
// agent as init, a per-VM copy of the image's ext4 disk and, with networking, a tap.
//
// The firecracker-go-sdk module could not be fetched here (the Go module proxy answers
// 403 for it), so api.go speaks the same REST API with the same JSON bodies the SDK's
// models marshal to; the tests check every request against Firecracker's own swagger
// definition. Firecracker needs KVM; there is no emulation fallback.
package firecracker

import (
	"context"
	"fmt"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
)

// DriverName is the driver kind and its built-in profile's name.
const DriverName = "firecracker"

// Install is the fix when the binary is missing.
const Install = "install firecracker from its GitHub releases into PATH"

// kind is what the shared KVM-only driver needs to know of Firecracker. Its devices are
// virtio-mmio.
var kind = vmm.KVMDriverKind{
	Name: DriverName, DefaultBinary: "firecracker", Install: Install, MaxCPUs: 32,
	Modules: []string{"virtio_mmio", "virtio_blk", "virtio_net"},
}

// Options are the firecracker driver's profile options.
type Options struct {
	vmm.KVMOptions `yaml:",inline"`
	// Jailer must be false: isobench does not run Firecracker's jailer.
	Jailer string `yaml:"jailer"`
}

// Validate refuses the jailer, which isobench does not support.
func (o Options) Validate() error {
	if o.Jailer != "" && o.Jailer != "false" {
		return fmt.Errorf("jailer %q: running under the jailer is not supported (use jailer: false)", o.Jailer)
	}
	return nil
}

func init() {
	runtime.DeclareOptions(DriverName, Options{})
	runtime.Register(DriverName, New, runtime.Profile{
		Name: DriverName, Driver: DriverName, Binary: "firecracker",
		Options:     map[string]string{"memory": "512M", "cpus": "2", "jailer": "false"},
		Description: "Firecracker microVM (needs working KVM; no emulation fallback; driver never run against a real VMM binary)",
	})
	runtime.RegisterCleaner(DriverName, cleanup)
}

// Driver runs containers as Firecracker microVMs.
type Driver struct {
	*vmm.KVMDriver
}

// New makes the driver. Profile options: those of vmm.NewKVMDriver, and jailer (only
// false: the jailer is not supported).
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	opts := Options{KVMOptions: vmm.DefaultKVMOptions(), Jailer: "false"}
	if err := p.DecodeOptions(&opts); err != nil {
		return nil, err
	}
	base, err := vmm.NewKVMDriver(p, env, kind, opts.KVMOptions)
	if err != nil {
		return nil, err
	}
	return &Driver{KVMDriver: base}, nil
}

// Check implements runtime.Driver, recording that the jailer is not used.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	st := d.KVMDriver.Check(ctx)
	st.Options["jailer"] = "false"
	return st
}

// cleanup kills firecracker processes that a killed run left and removes VM taps.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	return vmm.SweepVMMs("firecracker", vmm.SocketVMM(env, "firecracker", "--api-sock"))
}
