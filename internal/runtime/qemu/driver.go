// Package qemu is the qemu-microvm driver: every container is a QEMU microvm (virtio-mmio
// devices, qboot firmware, no PCI) booting Debian's cloud kernel with the isobench agent
// as init, the image on a virtio-blk disk and, with networking, a tap device.
package qemu

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm"
	"github.com/isobench/isobench/internal/runtime/vmm/guestassets"
	"github.com/isobench/isobench/internal/runtime/vmm/kvmprobe"
	"github.com/isobench/isobench/internal/strictyaml"
)

// DriverName is the driver kind and the name of its built-in profile.
const DriverName = "qemu-microvm"

// Machine settings. The Debian cloud kernel has virtio-mmio only as a module and without
// CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, so it finds the devices through ACPI: ACPI stays on.
// Under TCG the kernel calibrates its clock with the PIT, so PIT and PIC stay on there.
const (
	machineKVM = kvmprobe.HostMachine
	machineTCG = "microvm,x-option-roms=off,isa-serial=on"
)

// guestModules are what the guest loads from the initramfs to reach its disk and network.
var guestModules = []string{"virtio_mmio", "virtio_blk", "virtio_net"}

// Options are the qemu-microvm driver's profile options.
type Options struct {
	vmm.KVMOptions `yaml:",inline"`
	// Accel is auto, kvm or tcg (default auto: KVM where it runs ordinary guests).
	Accel string `yaml:"accel"`
	// Machine overrides the -M value.
	Machine string `yaml:"machine"`
}

// Validate refuses an accelerator QEMU has not.
func (o Options) Validate() error { return strictyaml.OneOf("accel", o.Accel, "auto", "kvm", "tcg") }

func init() {
	runtime.DeclareOptions(DriverName, Options{})
	runtime.Register(DriverName, New, runtime.Profile{
		Name: DriverName, Driver: DriverName, Binary: "qemu-system-x86_64",
		Options: map[string]string{"memory": "512M", "cpus": "2", "accel": "auto"},
		Description: "QEMU microvm (virtio-mmio, qboot, no PCI) with the Debian cloud kernel; " +
			"under TCG when KVM cannot run ordinary guests (then results are emulated, not comparable)",
	})
	runtime.RegisterCleaner(DriverName, cleanup)
}

// Driver runs containers as QEMU microvms.
type Driver struct {
	profile runtime.Profile
	env     runtime.Env
	opts    Options

	qemu     string
	kernel   string
	memBytes int64
	cpus     int
	agent    string

	mu      sync.Mutex
	accel   string // "kvm" or "tcg", settled by Check or Prepare
	kvmNote string
	assets  *guestassets.Assets
	agents  vmm.AgentFiles // spots the agent among bind sources
}

// New makes the driver. Profile options: memory (512M), cpus (2), kernel (newest
// /boot/vmlinuz-*-cloud-amd64), accel (auto, kvm or tcg), agent (static isobench binary;
// default: this executable), machine (overrides the -M value).
func New(p runtime.Profile, env runtime.Env) (runtime.Driver, error) {
	d := &Driver{profile: p, env: env, opts: Options{KVMOptions: vmm.DefaultKVMOptions(), Accel: "auto"}}
	// TCG boots are slow: without a profile's boot_timeout a minute.
	d.opts.BootTimeout = ""
	if err := p.DecodeOptions(&d.opts); err != nil {
		return nil, err
	}
	parsed := d.opts.KVMOptions
	if parsed.BootTimeout == "" {
		parsed.BootTimeout = "10s"
	}
	var err error
	if d.memBytes, d.cpus, _, err = parsed.Parsed(maxCPUs); err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	return d, nil
}

// Profile implements runtime.Driver.
func (d *Driver) Profile() runtime.Profile { return d.profile }

// Check implements runtime.Driver. It probes KVM with a short real boot (cached for a
// few minutes, see kvmprobe.Probe) and falls back to TCG, marking results emulated.
func (d *Driver) Check(ctx context.Context) runtime.Status {
	st := runtime.Status{Class: runtime.ClassVM, Options: map[string]string{runtime.OptionNetwork: "virtio-net-tap"}}
	bin, err := exec.LookPath(orDefault(d.opts.Binary, orDefault(d.profile.Binary, "qemu-system-x86_64")))
	if err != nil {
		st.Problem, st.Fix = "qemu-system-x86_64 not found", "apt-get install qemu-system-x86"
		return st
	}
	st.Found, st.Binary = true, bin
	d.qemu = bin
	if !st.Hash(bin, &st.SHA256) {
		return st
	}
	if out, err := exec.CommandContext(ctx, bin, "-version").Output(); err == nil {
		st.Version = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if err := d.findKernel(); err != nil {
		st.Problem, st.Fix = err.Error(), "apt-get install linux-image-cloud-amd64"
		return st
	}
	if err := d.settleAccel(ctx); err != nil {
		st.Problem, st.Fix = err.Error(), "use accel: auto or tcg, or run on a host where KVM runs ordinary guests"
		return st
	}
	st.Emulated = d.accel == "tcg"
	st.Options["accel"] = d.accel
	st.Options["kvm"] = d.kvmNote
	st.Options["machine"] = d.machine()
	st.Options["kernel"] = d.kernel
	st.Options["memory"] = d.opts.Memory
	st.Options["cpus"] = strconv.Itoa(d.cpus)
	if vhostNet() {
		st.Options["vhost"] = "on"
	} else {
		st.Options["vhost"] = "off"
	}
	st.Usable = true
	return st
}

// maxCPUs is no limit of isobench's own: QEMU refuses what the machine cannot take.
const maxCPUs = 1 << 16

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func (d *Driver) findKernel() error {
	if d.kernel != "" {
		return nil
	}
	k := d.opts.Kernel
	if k == "" {
		var err error
		if k, err = guestassets.FindKernel(guestassets.DefaultKernelGlob); err != nil {
			return err
		}
	} else if _, err := os.Stat(k); err != nil {
		return fmt.Errorf("kernel: %w", err)
	}
	d.kernel = k
	return nil
}

// settleAccel decides between KVM and TCG once per driver.
func (d *Driver) settleAccel(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.accel != "" {
		return nil
	}
	want := d.opts.Accel
	if want == "tcg" {
		d.accel, d.kvmNote = "tcg", "not used (accel: tcg)"
		return nil
	}
	v := kvmprobe.Probe(ctx, d.qemu, d.kernel, machineKVM)
	d.kvmNote = v.Reason
	switch {
	case v.Usable:
		d.accel = "kvm"
	case want == "kvm":
		return fmt.Errorf("accel kvm requested but KVM is not usable: %s", v.Reason)
	default:
		d.accel = "tcg"
	}
	return nil
}

func (d *Driver) machine() string {
	if m := d.opts.Machine; m != "" {
		return m
	}
	if d.accel == "kvm" {
		return machineKVM
	}
	return machineTCG
}

func vhostNet() bool {
	f, err := os.OpenFile("/dev/vhost-net", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Prepare implements runtime.Driver: it builds (or finds cached) the initramfs with the
// agent and modules, and the image's ext4 disk under <home>/assets.
func (d *Driver) Prepare(ctx context.Context, img *image.Image) error {
	root, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("unpacking image %s: %w", img.Name, err)
	}
	return d.prepareRootFS(ctx, img.Digest, root)
}

func (d *Driver) prepareRootFS(ctx context.Context, digest, rootfs string) error {
	if d.qemu == "" {
		if st := d.Check(ctx); !st.Usable {
			return fmt.Errorf("%s: %s", DriverName, st.Problem)
		}
	}
	agent, err := vmm.AgentBinary(d.profile, d.env)
	if err != nil {
		return err
	}
	d.agent = agent
	a, err := guestassets.PrepareAssets(ctx, guestassets.AssetRequest{
		Dir: filepath.Join(d.home(), "assets"), Kernel: d.kernel, Modules: guestModules,
		Agent: agent, RootFS: rootfs, Digest: digest, GuestMemory: d.memBytes,
	})
	if err != nil {
		return fmt.Errorf("preparing guest assets: %w", err)
	}
	d.assets = a
	return nil
}

func (d *Driver) home() string {
	if d.env.Home != "" {
		return d.env.Home
	}
	return image.Home("")
}

// tapSubnet is where this driver's VM links come from (see vmm.TapSubnetFor).
func (d *Driver) tapSubnet() netip.Prefix { return vmm.TapSubnetFor(d.env.Subnet) }

// Close implements runtime.Driver; the cached assets stay for later runs.
func (d *Driver) Close(ctx context.Context) error { return nil }
