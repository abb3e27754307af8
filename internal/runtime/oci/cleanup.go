package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/runtime"
)

func init() { runtime.RegisterCleaner(DriverName, cleanup) }

// cleanup force-deletes the isobench containers every OCI profile's runtime still lists.
func cleanup(ctx context.Context, env runtime.Env, profiles []runtime.Profile) ([]string, error) {
	var removed []string
	var errs []error
	done := map[string]bool{}
	for _, p := range profiles {
		if p.Driver != DriverName {
			continue
		}
		d, err := New(p, env)
		if err != nil {
			continue
		}
		drv := d.(*Driver)
		bin, err := exec.LookPath(p.Binary)
		if err != nil {
			continue
		}
		drv.binary = bin
		global := drv.globalArgs(true)
		key := bin + " " + strings.Join(global, " ")
		if done[key] {
			continue
		}
		done[key] = true
		ids, err := drv.list(ctx, global)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range ids {
			if !strings.HasPrefix(id, runtime.NamePrefix) {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			out, err := exec.CommandContext(dctx, bin, append(global, "delete", "--force", id)...).CombinedOutput()
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s delete %s: %v: %s", p.Name, id, err, strings.TrimSpace(string(out))))
				continue
			}
			removed = append(removed, fmt.Sprintf("%s container %s", p.Name, id))
		}
	}
	return removed, errors.Join(errs...)
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
