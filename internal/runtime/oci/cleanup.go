package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/gvisor"
)

// sweepOf sweeps the containers the profile's runtime lists with its state root.
func sweepOf(ctx context.Context, env runtime.Env, p runtime.Profile) (runtime.ProfileSweep, error) {
	d, err := New(p, env)
	if err != nil {
		return runtime.ProfileSweep{}, err
	}
	drv := d.(*Driver)
	bin, err := exec.LookPath(p.Binary)
	if err != nil {
		return runtime.ProfileSweep{}, nil // a runtime that is not installed lists nothing
	}
	drv.binary = bin
	global := drv.globalArgs(true)
	return runtime.ProfileSweep{Endpoint: bin + " " + strings.Join(global, " "), Run: func() ([]string, error) { return drv.sweep(ctx, global) }}, nil
}

// sweep force-deletes the isobench containers the runtime lists under these global
// arguments, then what killed creates left in its state directory.
func (d *Driver) sweep(ctx context.Context, global []string) ([]string, error) {
	ids, err := d.list(ctx, global)
	if err != nil {
		return nil, err
	}
	var sweep runtime.Sweep
	listed := map[string]bool{}
	for _, id := range ids {
		listed[id] = true
		if !strings.HasPrefix(id, runtime.NamePrefix) {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(dctx, d.binary, append(global, "delete", "--force", id)...).CombinedOutput()
		cancel()
		if err != nil {
			sweep.Add(nil, fmt.Errorf("%s delete %s: %v: %s", d.profile.Name, id, err, strings.TrimSpace(string(out))))
			continue
		}
		sweep.Add([]string{fmt.Sprintf("%s container %s", d.profile.Name, id)}, nil)
	}
	sweep.Add(d.removeStaleState(global, func(id string) bool { return !listed[id] }))
	if d.flavor == flavorRunsc {
		sweep.Add(nil, d.unpinNullNetns(ctx))
	}
	return sweep.Result()
}

// stateRoots are where the runtimes keep container state unless --root says otherwise.
var stateRoots = map[flavor]string{flavorRunc: "/run/runc", flavorCrun: "/run/crun", flavorRunsc: gvisor.DefaultRoot}

// stateRoot is the runtime's state directory for these global arguments.
func stateRoot(f flavor, global []string) string {
	root := stateRoots[f]
	for i, a := range global {
		if v, ok := strings.CutPrefix(a, "--root="); ok {
			root = v
		} else if a == "--root" && i+1 < len(global) {
			root = global[i+1]
		}
	}
	return root
}

// unpinNullNetns unmounts runsc's null network namespace in this profile's state
// directory once no container is left there (gvisor.UnpinNullNetns).
func (d *Driver) unpinNullNetns(ctx context.Context) error {
	if d.binary == "" {
		return nil // never checked, so never ran a container
	}
	return gvisor.UnpinNullNetns(ctx, d.binary, stateRoot(d.flavor, d.globalArgs(true)))
}

// removeStaleState removes isobench's entries from the runtime's state directory that
// the runtime itself no longer lists: a create killed half-way leaves a directory (runc:
// only its exec.fifo) or a lock file (runsc) that no delete can reach.
func (d *Driver) removeStaleState(global []string, stale func(id string) bool) ([]string, error) {
	root := stateRoot(d.flavor, global)
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, nil // no state directory: nothing was left
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		id, ok := stateEntryID(e.Name())
		if !ok {
			continue
		}
		name := e.Name()
		if !stale(id) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
			errs = append(errs, fmt.Errorf("removing stale state %s: %w", name, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("%s stale state %s", d.profile.Name, filepath.Join(root, name)))
	}
	return removed, errors.Join(errs...)
}

// stateEntryID tells which isobench container a file in a runtime's state directory
// belongs to: runc and crun name a directory after the id; runsc names its files
// "<id>_sandbox:<id>.lock" and the like, and its sandbox's socket "runsc-<id>.sock".
func stateEntryID(name string) (string, bool) {
	if sock, ok := strings.CutPrefix(name, "runsc-"); ok {
		name = strings.TrimSuffix(sock, ".sock")
	}
	if !strings.HasPrefix(name, runtime.NamePrefix) {
		return "", false
	}
	id, _, _ := strings.Cut(name, "_sandbox:")
	return id, true
}

// list returns the IDs of the containers the runtime knows.
func (d *Driver) list(ctx context.Context, global []string) ([]string, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(lctx, d.binary, append(global, "list", "--format", "json")...).Output()
	if err != nil {
		return nil, fmt.Errorf("%s list: %w", d.profile.Name, err)
	}
	var states []struct {
		ID string `json:"id"`
	}
	if s := strings.TrimSpace(string(out)); s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &states); err != nil {
			return nil, fmt.Errorf("%s list: unexpected output: %w", d.profile.Name, err)
		}
	}
	var ids []string
	for _, s := range states {
		ids = append(ids, s.ID)
	}
	return ids, nil
}
