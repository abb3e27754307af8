package cli

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/isobench/isobench/internal/clusterrun"
	"github.com/isobench/isobench/internal/report"
	"github.com/isobench/isobench/internal/runtime/kubernetes"
)

func init() { addCommand(newClusterCmd) }

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run isobench on every node of a Kubernetes cluster",
		Long: `cluster run runs isobench itself on each selected node of a Kubernetes cluster (a
privileged Job per node, sharing the node's PID and network namespaces and its filesystem),
streams each node's run directory back and writes one report grouped by host.

A single-node cluster for this machine (no registry needed) is started and stopped by
scripts/k8s/cluster.sh up|down.`,
	}
	cmd.AddCommand(newClusterRunCmd(), newClusterNodeExecCmd())
	return cmd
}

func newClusterRunCmd() *cobra.Command {
	var (
		kubeconfig, namespace, image, binary, out string
		nodes                                     []string
		parallel                                  bool
		timeout                                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run [--nodes a,b] [--parallel] -- RUN_ARGS...",
		Short: "Run `isobench run RUN_ARGS` on each node and merge the run directories into one report",
		Example: `  isobench cluster run -- --runtimes runc,runsc --bench startup,cpu --quick
  isobench cluster run --nodes node-a,node-b --parallel --out runs/cluster -- --bench cpu`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if kubeconfig == "" {
				kubeconfig = os.Getenv("KUBECONFIG")
			}
			if kubeconfig == "" {
				kubeconfig = kubernetes.LocalKubeconfig
			}
			if binary == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("finding the isobench binary: %w", err)
				}
				binary = exe
			}
			if !filepath.IsAbs(binary) {
				return badInput("--binary %q must be an absolute path on the nodes", binary)
			}
			if timeout <= 0 {
				return badInput("--timeout must be positive, such as 30m")
			}
			for _, a := range args {
				if a == "--out" || a == "-o" || len(a) > 6 && a[:6] == "--out=" {
					return badInput("give --out before `--`: cluster run chooses each node's run directory")
				}
			}
			if out == "" {
				out = filepath.Join("runs", "cluster-"+time.Now().UTC().Format("20060102-150405"))
			}
			if _, err := os.Stat(out); err == nil {
				return badInput("--out %s exists already: name a new directory", out)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("making %s: %w", out, err)
			}
			cfg, err := kubernetes.RESTConfig(kubeconfig)
			if err != nil {
				return badInput("%v (start the local cluster with scripts/k8s/cluster.sh up, or pass --kubeconfig)", err)
			}
			client, err := k8s.NewForConfig(cfg)
			if err != nil {
				return fmt.Errorf("client for %s: %w", kubeconfig, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := clusterrun.Run(ctx, client, clusterrun.Options{Namespace: namespace, Nodes: nodes, Parallel: parallel,
				Image: image, Binary: binary, RunArgs: args, OutDir: out, Timeout: timeout, Log: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			var dirs []string
			failed := 0
			for _, r := range res {
				if r.RunDir != "" {
					dirs = append(dirs, r.RunDir)
				}
				if r.Err != nil {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "node %s: %v\n", r.Node, r.Err)
				}
			}
			if err := writeNodeFailures(filepath.Join(out, "nodes.txt"), res); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return &ExitError{Code: 130, Err: fmt.Errorf("interrupted; the cluster's jobs were removed")}
			}
			if len(dirs) == 0 {
				return fmt.Errorf("no node gave a run directory (%d failed)", failed)
			}
			sum, err := report.Write(cmd.Context(), dirs, filepath.Join(out, "report"), report.Options{NoiseCV: 0.10, Title: "isobench cluster run"})
			if err != nil {
				return fmt.Errorf("merging the nodes' runs: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "cluster run: %d node(s) measured, %d failed; report %s\n", len(dirs), failed, sum.HTML)
			if failed > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("%d node(s) failed (see %s)", failed, filepath.Join(out, "nodes.txt"))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "the cluster (default $KUBECONFIG, else the local cluster of scripts/k8s/cluster.sh)")
	f.StringVar(&namespace, "namespace", "default", "namespace for the Jobs")
	f.StringSliceVar(&nodes, "nodes", nil, "nodes to run on (default every Ready node)")
	f.BoolVar(&parallel, "parallel", false, "run on all nodes at once instead of one at a time")
	f.StringVar(&image, "job-image", "docker.io/local/pause:3.10", "the Jobs' container image, present on the nodes (isobench itself comes from the node's filesystem)")
	f.StringVar(&binary, "binary", "", "the isobench binary's path on the nodes (default this binary's path)")
	f.StringVarP(&out, "out", "o", "", "directory for the nodes' run directories and the merged report (default runs/cluster-<time>)")
	f.DurationVar(&timeout, "timeout", 2*time.Hour, "longest run on one node")
	return cmd
}

func writeNodeFailures(path string, res []clusterrun.NodeResult) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer f.Close()
	for _, r := range res {
		status := "ok " + r.RunDir
		if r.Err != nil {
			status = "failed: " + r.Err.Error()
		}
		fmt.Fprintf(f, "%s\t%s\n", r.Node, status)
	}
	return f.Close()
}

func newClusterNodeExecCmd() *cobra.Command {
	var root, binary string
	cmd := &cobra.Command{
		Use:    "node-exec --root DIR --binary PATH -- RUN_ARGS...",
		Short:  "Inside a node's Job: run isobench on the node and write its run directory to stdout",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := clusterrun.NodeExec(root, binary, args, os.Stdout, os.Stderr); code != 0 {
				return &ExitError{Code: code, Err: fmt.Errorf("the run on this node exited with status %d", code)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", "/", "the node's root filesystem")
	cmd.Flags().StringVar(&binary, "binary", "", "the isobench binary inside root")
	return cmd
}
