package vmm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/guestassets"
	"github.com/isobench/isobench/internal/runtime/vmm/kvmprobe"
	"github.com/isobench/isobench/internal/runtime/vmm/tap"
)

// KVMDriver is what the drivers of KVM-only VMMs (Firecracker, Cloud Hypervisor) share:
// profile options, the check (binary, a KVM that runs ordinary guests, the kernel) and
// the guest assets, with the vmlinux these VMMs boot through its PVH entry point. A
// driver embeds it and adds New with its VMM's launch and API.
type KVMDriver struct {
	// Opts are the profile's options over DefaultKVMOptions.
	Opts        KVMOptions
	bootTimeout time.Duration
	Prof        runtime.Profile
	Env         runtime.Env
	Kind        KVMDriverKind

	// Settled by Check and Prepare.
	Binary   string
	Kernel   string // the bzImage the vmlinux comes from
	Vmlinux  string
	MemBytes int64
	CPUs     int
	Assets   *guestassets.Assets
	Agents   AgentFiles // spots the agent among bind sources

	mu      sync.Mutex
	checked *runtime.Status
}

// KVMDriverKind is what differs between KVM-only VMMs before a VM exists.
type KVMDriverKind struct {
	Name          string   // the driver's name
	DefaultBinary string   // when the profile names none
	Install       string   // the fix when the binary is missing
	Modules       []string // what the guest loads from the initramfs to reach its disk and network
	MaxCPUs       int
}

// KVMOptions are the profile options every microVM driver takes.
type KVMOptions struct {
	Memory      string `yaml:"memory"`       // guest RAM, e.g. 512M
	CPUs        string `yaml:"cpus"`         // vCPUs
	Kernel      string `yaml:"kernel"`       // the guest kernel (default: newest /boot/vmlinuz-*-cloud-amd64)
	Agent       string `yaml:"agent"`        // the static isobench binary booted as init
	BootTimeout string `yaml:"boot_timeout"` // how long the guest may take to reach the agent
	Binary      string `yaml:"binary"`       // the VMM's binary
}

// DefaultKVMOptions are the microVM defaults: 512 MiB, 2 vCPUs, 10 s to reach the agent.
func DefaultKVMOptions() KVMOptions {
	return KVMOptions{Memory: "512M", CPUs: "2", BootTimeout: "10s"}
}

// Parsed checks the options and returns guest memory in bytes, vCPUs (at most maxCPUs)
// and the boot timeout.
func (o KVMOptions) Parsed(maxCPUs int) (memBytes int64, cpus int, boot time.Duration, err error) {
	if memBytes, err = ParseSize(o.Memory); err != nil {
		return 0, 0, 0, fmt.Errorf("memory: %w", err)
	}
	if cpus, err = strconv.Atoi(o.CPUs); err != nil || cpus < 1 || cpus > maxCPUs {
		return 0, 0, 0, fmt.Errorf("cpus %q is not a number from 1 to %d", o.CPUs, maxCPUs)
	}
	if boot, err = time.ParseDuration(o.BootTimeout); err != nil || boot <= 0 {
		return 0, 0, 0, fmt.Errorf("boot_timeout %q is not a positive duration such as 10s", o.BootTimeout)
	}
	return memBytes, cpus, boot, nil
}

// NewKVMDriver makes the shared part of a KVM-only VMM's driver from the options every
// such VMM has, as the driver decoded them over DefaultKVMOptions.
func NewKVMDriver(p runtime.Profile, env runtime.Env, kind KVMDriverKind, opts KVMOptions) (*KVMDriver, error) {
	d := &KVMDriver{Prof: p, Env: env, Kind: kind, Opts: opts}
	var err error
	if d.MemBytes, d.CPUs, d.bootTimeout, err = d.Opts.Parsed(kind.MaxCPUs); err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	return d, nil
}

// Profile implements runtime.Driver.
func (d *KVMDriver) Profile() runtime.Profile { return d.Prof }

// Check implements runtime.Driver: the binary must exist and KVM must run ordinary guests
// (CheckKVMOnlyVMM probes that with a real boot), and the kernel must be there.
func (d *KVMDriver) Check(ctx context.Context) runtime.Status {
	d.mu.Lock()
	if d.checked != nil {
		st := *d.checked
		d.mu.Unlock()
		return st
	}
	d.mu.Unlock()
	bin := orDefault(d.Opts.Binary, d.Prof.Binary)
	if bin == "" {
		bin = d.Kind.DefaultBinary
	}
	st := CheckKVMOnlyVMM(ctx, bin, d.Kind.Install)
	st.Options[runtime.OptionNetwork] = "virtio-net-tap"
	if st.Problem != "" {
		return st
	}
	kernel := d.Opts.Kernel
	if kernel == "" {
		k, err := guestassets.FindKernel(guestassets.DefaultKernelGlob)
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
	st.Options["memory"] = d.Opts.Memory
	st.Options["cpus"] = strconv.Itoa(d.CPUs)
	st.Usable = true
	d.mu.Lock()
	d.Binary, d.Kernel = st.Binary, kernel
	d.checked = &st
	d.mu.Unlock()
	return st
}

// Prepare implements runtime.Driver: the vmlinux extracted from the kernel, the initramfs
// with the agent and modules, and the image's ext4 disk, all cached under <home>/assets.
func (d *KVMDriver) Prepare(ctx context.Context, img *image.Image) error {
	if st := d.Check(ctx); !st.Usable {
		return fmt.Errorf("%s: %s (%s)", d.Kind.Name, st.Problem, st.Fix)
	}
	return d.PrepareGuest(ctx, img)
}

// PrepareGuest builds the guest assets for d.Kernel without checking for the VMM, so the
// guest side can also be booted under QEMU where the VMM cannot run (see vmmtest).
func (d *KVMDriver) PrepareGuest(ctx context.Context, img *image.Image) error {
	root, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("unpacking image %s: %w", img.Name, err)
	}
	agent, err := AgentBinary(d.Prof, d.Env)
	if err != nil {
		return err
	}
	dir := filepath.Join(d.Home(), "assets")
	a, err := guestassets.PrepareAssets(ctx, guestassets.AssetRequest{
		Dir: dir, Kernel: d.Kernel, Modules: d.Kind.Modules, Agent: agent, RootFS: root, Digest: img.Digest, GuestMemory: d.MemBytes,
	})
	if err != nil {
		return fmt.Errorf("preparing guest assets: %w", err)
	}
	vmlinux, err := guestassets.VmlinuxPath(dir, d.Kernel)
	if err != nil {
		return err
	}
	if err := guestassets.ExtractVmlinux(d.Kernel, vmlinux); err != nil {
		return err
	}
	d.Assets, d.Vmlinux = a, vmlinux
	return nil
}

// Home is isobench's home directory, where assets and VM state live.
func (d *KVMDriver) Home() string {
	if d.Env.Home != "" {
		return d.Env.Home
	}
	return image.Home("")
}

// BootTimeout bounds the wait for the agent's init line.
func (d *KVMDriver) BootTimeout() time.Duration {
	return d.bootTimeout
}

// NewMachine makes a VM's host side with this driver's settings and its own disk copy.
func (d *KVMDriver) NewMachine(ctx context.Context, s runtime.Spec, cmdline string) (*Machine, error) {
	if d.Assets == nil {
		return nil, fmt.Errorf("%s: Prepare was not called", d.Kind.Name)
	}
	return NewMachine(ctx, MachineConfig{
		Label: d.Kind.Name, Home: d.Home(), Spec: s, Assets: d.Assets, Agents: &d.Agents,
		TapSubnet: TapSubnetFor(d.Env.Subnet), BaseCmdline: cmdline,
		GuestMemory: d.MemBytes, BootTimeout: d.BootTimeout(), CopyDisk: true,
	})
}

// BootParams is what a KVM-only VMM's configuration of one VM is made of.
type BootParams struct {
	VCPUs    int
	MemBytes int64
	Vmlinux  string
	Initrd   string
	Cmdline  string
	Disk     string   // the VM's own copy of the image's disk
	Tap      *tap.Tap // nil without networking
}

// BootParams are the settings of a VM made by NewMachine.
func (d *KVMDriver) BootParams(m *Machine) BootParams {
	return BootParams{VCPUs: d.CPUs, MemBytes: d.MemBytes, Vmlinux: d.Vmlinux,
		Initrd: m.Initrd, Cmdline: m.Cmdline, Disk: m.Disk, Tap: m.Tap}
}

// Close implements runtime.Driver; the cached assets stay for later runs.
func (d *KVMDriver) Close(ctx context.Context) error { return nil }

// ValidationOption records, with every result and in doctor, how far a driver was tried.
const ValidationOption = "validation"

// Unvalidated says that the driver of VMM binary was never run against a real binary:
// no host isobench was developed on could run it, so its requests were checked only
// against the VMM's published API definition and its guest booted under QEMU.
func Unvalidated(binary string) string {
	return "driver never run against a real " + binary + " binary (requests checked only against its published API; guest booted under QEMU)"
}

// CheckKVMOnlyVMM is the Check of VMMs that have no emulation fallback (Firecracker,
// Cloud Hypervisor): the binary must exist and KVM must run ordinary guests, which the
// probe verifies with QEMU (the only VMM here that can boot a kernel without a prepared
// disk and report the result on a console).
func CheckKVMOnlyVMM(ctx context.Context, binary, install string) runtime.Status {
	st := runtime.Status{Class: runtime.ClassVM, Options: map[string]string{ValidationOption: Unvalidated(binary)}}
	bin, err := exec.LookPath(binary)
	if err != nil {
		st.Problem, st.Fix = binary+" not found", install
		return st
	}
	st.Found, st.Binary = true, bin
	if !st.Hash(bin, &st.SHA256) {
		return st
	}
	if out, err := exec.CommandContext(ctx, bin, "--version").Output(); err == nil {
		st.Version = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		st.Problem = "cannot verify that KVM runs ordinary guests: the probe needs qemu-system-x86_64"
		st.Fix = "apt-get install qemu-system-x86"
		return st
	}
	kernel, err := guestassets.FindKernel(guestassets.DefaultKernelGlob)
	if err != nil {
		st.Problem, st.Fix = err.Error(), "apt-get install linux-image-cloud-amd64"
		return st
	}
	v := kvmprobe.Probe(ctx, qemu, kernel, kvmprobe.HostMachine)
	st.Options["kvm"] = v.Reason
	if !v.Usable {
		st.Problem = "KVM cannot run ordinary guests here: " + v.Reason
		st.Fix = "run on a host with working KVM (bare metal, or a VM with nested virtualization)"
		return st
	}
	return st
}

// AgentBinary is the static isobench binary a microVM boots as its init: the profile's
// agent option, else env.Agent, else this executable.
func AgentBinary(p runtime.Profile, env runtime.Env) (string, error) {
	if agent := p.Option(runtime.OptionAgent, env.Agent); agent != "" {
		return agent, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the isobench binary for the guest agent: %w", err)
	}
	return exe, nil
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
