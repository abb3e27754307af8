package enginetest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/bench"
	"github.com/isobench/isobench/internal/runtime"
)

// Subnet is what engine tests give drivers as runtime.Env.Subnet.
var Subnet = netip.MustParsePrefix("198.18.0.0/15")

// Lifecycle checks output, mounts, exit codes, limits, processes and networking through a
// driver.
func Lifecycle(t *testing.T, ctx context.Context, d runtime.Driver) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("bound"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%secho-%d", runtime.NamePrefix, time.Now().UnixNano())
	out, err := bench.RunToExit(ctx, d, runtime.Spec{ID: id,
		Args: []string{"sh", "-c", "echo isobench-ready; cat /data/f; echo x > /scratch/y && cat /scratch/y"},
		Mounts: []runtime.Mount{
			{Type: "bind", Source: dir, Destination: "/data", ReadOnly: true},
			{Type: "tmpfs", Destination: "/scratch", SizeBytes: 1 << 20},
		}})
	if err != nil {
		t.Fatalf("echo: %v (stderr %q)", err, bench.StderrOf(err))
	}
	if got := string(out.Stdout); got != "isobench-ready\nboundx\n" {
		t.Errorf("stdout = %q", got)
	}
	tm := out.Timings
	if tm.StartToOutput <= 0 || tm.StartToOutput > tm.StartToExit {
		t.Errorf("start to output %v not within start to exit %v", tm.StartToOutput, tm.StartToExit)
	}
	t.Logf("%s: create %v, start to output %v, start to exit %v, delete %v, total %v",
		d.Profile().Name, tm.Create, tm.StartToOutput, tm.StartToExit, tm.Delete, tm.Total)

	out, err = bench.RunToExit(ctx, d, runtime.Spec{ID: id + "-exit3", Args: []string{"sh", "-c", "echo oops >&2; exit 3"}})
	if err == nil || out == nil || out.ExitCode != 3 {
		t.Errorf("exit 3: got outcome %+v, error %v", out, err)
	} else if !strings.Contains(bench.StderrOf(err), "oops") {
		t.Errorf("exit 3: stderr %q lacks oops", bench.StderrOf(err))
	}

	Limits(t, ctx, d)

	// A networked container: the host reaches a server in it, and its processes are known.
	if st := d.Check(ctx); st.Options["network"] == "none" {
		t.Logf("%s runs with --network=none: no networked container", d.Profile().Name)
		return
	}
	c, err := d.New(ctx, runtime.Spec{ID: id + "-net", Network: true, Args: []string{"nc", "-l", "-p", "7000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Delete(ctx)
	if err := c.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ni := c.Network()
	ip, err := netip.ParseAddr(ni.ContainerIP)
	if err != nil || !Subnet.Contains(ip) || ni.HostIP == "" {
		t.Fatalf("Network() = %+v, want a container address in %s and a host address", ni, Subnet)
	}
	procs, err := c.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, p := range procs {
		roles[p.Role]++
	}
	if roles[runtime.RoleShim] != 1 || roles[runtime.RoleWorkload]+roles[runtime.RoleSandbox] == 0 {
		t.Errorf("Processes() = %+v: want one shim and the workload or sandbox", procs)
	}
	var conn net.Conn
	for i := 0; i < 50; i++ {
		if conn, err = net.DialTimeout("tcp", net.JoinHostPort(ni.ContainerIP, "7000"), time.Second); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("connecting to the container at %s: %v", ni.ContainerIP, err)
	} else {
		conn.Close()
	}
	t.Logf("network %+v, processes %+v", ni, procs)
	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}
