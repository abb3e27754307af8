package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/mounts"
	"github.com/isobench/isobench/internal/netsetup"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/kubernetes"
)

func init() { addCommand(newCleanupCmd) }

func newCleanupCmd() *cobra.Command {
	var kubeconfigs []string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what runs killed with SIGKILL left behind",
		Long: `Remove every container, engine object, mount, network namespace, link and state
directory that isobench made and a killed run left behind. Only objects named with the
isobench- prefix (links: isb) are touched. With --kubeconfig, also the pods and jobs
labelled isobench=1 in that cluster (a Kubernetes cluster is never touched without it).`,
		Example: `  isobench cleanup
  isobench cleanup --kubeconfig /var/lib/k8s-local/pki/admin.kubeconfig`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Geteuid() != 0 {
				return badInput("isobench cleanup needs root: run it as root")
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			profiles := cfg.Profiles()
			for _, kc := range kubeconfigs {
				if _, err := os.Stat(kc); err != nil {
					return badInput("--kubeconfig %s: %v", kc, err)
				}
				profiles = append(profiles, kubernetes.SweepProfile(kc))
			}
			removed, err := cleanupHost(cmd, profiles)
			for _, r := range removed {
				fmt.Fprintln(cmd.OutOrStdout(), "removed", r)
			}
			if len(removed) == 0 && err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to clean up")
			}
			return err
		},
	}
	cmd.Flags().StringArrayVar(&kubeconfigs, "kubeconfig", nil, "also remove isobench's pods and jobs from the cluster of this kubeconfig (repeatable)")
	return cmd
}

func cleanupHost(cmd *cobra.Command, profiles []runtime.Profile) ([]string, error) {
	ctx := cmd.Context()
	env := runtime.Env{Home: home()}
	var removed []string
	var errs []error
	names, fns := runtime.Cleaners()
	for i, fn := range fns {
		r, err := fn(ctx, env, profiles)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", names[i], err))
		}
	}
	r, err := netsetup.RemoveLeftovers(runtime.NamePrefix)
	removed = append(removed, r...)
	if err != nil {
		errs = append(errs, err)
	}
	// Container state: overlays and bundles under <home>/run.
	states, _ := filepath.Glob(filepath.Join(env.Home, "run", runtime.NamePrefix+"*"))
	for _, dir := range states {
		points, err := mounts.Under(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		mounted := len(points) > 0
		if err := mounts.UnmountAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		what := "state " + dir
		if mounted {
			what += " (unmounted)"
		}
		removed = append(removed, what)
	}
	// Mounts elsewhere that name isobench state (a killed run's bind mounts).
	left, err := mounts.Under(filepath.Join(env.Home, "run"))
	if err != nil {
		errs = append(errs, err)
	}
	for _, m := range left {
		if strings.Contains(m, runtime.NamePrefix) {
			if err := mounts.UnmountAll(m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Unpacked trees no image uses any more (kept earlier because a run had them mounted).
	if _, err := os.Lstat(filepath.Join(env.Home, "images", "oci-layout")); err == nil {
		trees, err := image.CollectUnused(env.Home)
		for _, t := range trees {
			removed = append(removed, "unused root filesystem "+t)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
