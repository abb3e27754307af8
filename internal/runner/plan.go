package runner

import (
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/config"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/results"
	"github.com/isobench/isobench/internal/runtime"
)

type plannedRuntime struct {
	profile runtime.Profile
	driver  runtime.Driver
	status  runtime.Status
}

// Plan is a checked run, ready to execute.
type Plan struct {
	opts     Options
	runID    string
	img      *image.Image
	rootfs   string
	benches  []bench.Benchmark
	runtimes []*plannedRuntime
	skipped  map[string]string
	probe    string
	env      runtime.Env
	// newWriter opens the run directory; nil is results.Create (tests give a failing one).
	newWriter func(dir string) (resultsWriter, error)
}

// NewPlan checks everything a run needs before anything is written: profiles, drivers,
// benchmarks, the image and its tools, the probe binary.
func NewPlan(ctx context.Context, opts Options) (*Plan, error) {
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, inputErr("isobench run needs root (containers, mounts, namespaces): run it as root")
	}
	p := &Plan{opts: opts, runID: newRunID(), skipped: map[string]string{}}
	subnet, err := netip.ParsePrefix(opts.Config.Network.Subnet)
	if err != nil {
		return nil, inputErr("network.subnet %q is not a prefix like %s", opts.Config.Network.Subnet, config.DefaultSubnet)
	}
	p.env = runtime.Env{Home: opts.Home, Subnet: subnet}

	if len(opts.Benches) == 0 {
		return nil, inputErr("no benchmark given: use --bench startup (see `isobench list`)")
	}
	for _, name := range opts.Benches {
		b, err := bench.Get(name)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		p.benches = append(p.benches, b)
	}

	store, err := image.Open(opts.Home)
	if err != nil {
		return nil, fmt.Errorf("opening image store: %w", err)
	}
	p.img, err = store.Get(opts.Image)
	if err != nil {
		return nil, &InputError{Err: err}
	}

	explicit := len(opts.Runtimes) > 0
	names := opts.Runtimes
	if !explicit {
		for _, prof := range opts.Config.Profiles() {
			names = append(names, prof.Name)
		}
	}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			return nil, inputErr("runtime %q is given twice in --runtimes", name)
		}
		seen[name] = true
		prof, err := opts.Config.Profile(name)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		d, err := runtime.New(prof, p.env)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		st := d.Check(ctx)
		if !st.Usable {
			if explicit && !opts.SkipUnusable {
				return nil, inputErr("runtime %s cannot run here: %s; fix: %s (or pass --skip-unusable)", name, st.Problem, st.Fix)
			}
			p.skipped[name] = fmt.Sprintf("%s; fix: %s", st.Problem, st.Fix)
			continue
		}
		p.runtimes = append(p.runtimes, &plannedRuntime{profile: prof, driver: d, status: st})
	}
	if len(p.runtimes) == 0 {
		var why []string
		for n, r := range p.skipped {
			why = append(why, n+": "+r)
		}
		return nil, inputErr("no usable runtime: %s (see `isobench doctor`)", strings.Join(why, "; "))
	}

	p.rootfs, err = p.img.RootFS(ctx)
	if err != nil {
		return nil, fmt.Errorf("unpacking image %s: %w", p.img.Name, err)
	}
	for _, b := range p.benches {
		for _, tool := range b.Tools() {
			ok, err := p.img.HasTool(ctx, tool)
			if err != nil {
				return nil, fmt.Errorf("looking for %s in image %s: %w", tool, p.img.Name, err)
			}
			if !ok {
				return nil, inputErr("benchmark %s needs %s, which image %q lacks: use the default image (isobench image build) or import one that has it", b.Name(), tool, p.img.Name)
			}
		}
	}
	p.probe, err = staticSelf()
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Runtimes describes the runtimes the plan will run, by profile name, as environment.json will.
func (p *Plan) Runtimes() map[string]results.RuntimeInfo {
	out := map[string]results.RuntimeInfo{}
	for _, r := range p.runtimes {
		out[r.profile.Name] = runtimeInfo(r)
	}
	return out
}

// Skipped lists the runtimes left out, with the reason.
func (p *Plan) Skipped() map[string]string { return p.skipped }

// staticSelf returns the path of this binary, which containers run as the probe; it must
// be static because the image has none of the host's libraries.
func staticSelf() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the isobench binary: %w", err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", exe, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", inputErr("%s is dynamically linked, but containers run it as their probe: build it with CGO_ENABLED=0 go build ./cmd/isobench", exe)
		}
	}
	return exe, nil
}

func newRunID() string {
	b := make([]byte, 4)
	rand.Read(b) // never fails: crypto/rand panics rather than return an error
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

func runtimeInfo(r *plannedRuntime) results.RuntimeInfo {
	return results.RuntimeInfo{
		Profile: r.profile.Name, Driver: r.profile.Driver, Class: string(r.status.Class),
		Binary: r.status.Binary, SHA256: r.status.SHA256, Version: r.status.Version,
		Emulated: r.status.Emulated, Options: r.status.Options,
	}
}
