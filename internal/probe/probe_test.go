package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the isobench binary: fork+exec+wait re-executes
// it as `<binary> probe true`, as the real binary does inside containers.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Command {
		os.Exit(Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func runProbe(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMarkerAndTrue(t *testing.T) {
	code, out, _ := runProbe("marker")
	if code != 0 || out != Marker+"\n" {
		t.Fatalf("marker: exit %d, output %q", code, out)
	}
	if code, _, _ := runProbe("true"); code != 0 {
		t.Fatalf("true: exit %d", code)
	}
}

func TestBadUsageExitsTwo(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"no-such-subcommand"},
		{"syscall", "--iterations", "zero"},
		{"syscall", "--spawns", "0"},
		{"tcp-client"},
		{"tcp-server", "extra"},
	} {
		code, _, stderr := runProbe(args...)
		if code != 2 || !strings.Contains(stderr, "usage:") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 with usage", args, code, stderr)
		}
	}
}

func TestSyscallReportsEveryRepetition(t *testing.T) {
	code, out, stderr := runProbe("syscall", "--iterations", "20000", "--spawns", "5", "--repetitions", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res SyscallResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not a SyscallResult: %v\n%s", err, out)
	}
	for name, vals := range map[string][]float64{"getpid": res.GetpidNs, "clock_gettime": res.ClockGettime, "fork_exec_wait": res.ForkExecWait} {
		if len(vals) != 3 {
			t.Errorf("%s: %d repetitions, want 3", name, len(vals))
		}
		for _, v := range vals {
			if !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("%s: %v ns/op is not a positive finite cost", name, v)
			}
		}
	}
	// A fork+exec of a Go program takes far longer than one syscall: a sanity check that the
	// spawn loop really ran the child rather than failing fast.
	if res.ForkExecWait[0] < 10*res.GetpidNs[0] || res.ForkExecWait[0] < 10_000 {
		t.Errorf("fork+exec+wait %v ns is implausibly cheap next to getpid %v ns", res.ForkExecWait[0], res.GetpidNs[0])
	}
}

func TestSyscallMinTimeExtendsRepetitions(t *testing.T) {
	start := time.Now()
	res, err := MeasureSyscalls(10, 1, 2, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Three operations, two repetitions each, each at least 100ms.
	if elapsed := time.Since(start); elapsed < 600*time.Millisecond {
		t.Errorf("took %v; min-time 100ms over 3 operations x 2 repetitions needs at least 600ms", elapsed)
	}
	if res.MinTimeNs != 100e6 || len(res.GetpidNs) != 2 {
		t.Errorf("got %+v", res)
	}
}

func TestSpawnFailureIsReported(t *testing.T) {
	s, err := newSpawner("/nonexistent/isobench", []string{"isobench", Command, "true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.loop(1); err == nil || !strings.Contains(err.Error(), "exit 127") {
		t.Fatalf("spawning a missing program: err %v, want exec failure", err)
	}
}

func TestPingPong(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeEcho(ln) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := PingPong(ctx, ln.Addr().String(), 500, 64)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 500 || res.TimedOut {
		t.Errorf("count %d timed out %v, want 500 round trips", res.Count, res.TimedOut)
	}
	if !(res.MinUs > 0 && res.MinUs <= res.P50us && res.P50us <= res.P99us && res.P99us <= res.MaxUs) {
		t.Errorf("latencies out of order: %+v", res)
	}
	ln.Close()
	if err := <-done; err != nil {
		t.Errorf("server did not end cleanly: %v", err)
	}
}

func TestPingPongStopsAtTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go ServeEcho(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := PingPong(ctx, ln.Addr().String(), math.MaxInt32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Count == 0 {
		t.Errorf("want a partial, timed-out result, got %+v", res)
	}
}

func TestPingPongWithoutServerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	code, _, stderr := runProbe("tcp-client", "--connect", addr, "--timeout", "200ms")
	if code != 1 || !strings.Contains(stderr, "connecting to "+addr) {
		t.Fatalf("exit %d, stderr %q; want exit 1 naming the address", code, stderr)
	}
}

func TestNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if got := nearestRank(d, 50); got != 50 {
		t.Errorf("p50 of 1..100 = %d, want 50", got)
	}
	if got := nearestRank(d, 99); got != 99 {
		t.Errorf("p99 of 1..100 = %d, want 99", got)
	}
	if got := nearestRank(d[:1], 99); got != 1 {
		t.Errorf("p99 of one value = %d, want 1", got)
	}
}

// buildStaticProbe builds this package's test binary with CGO_ENABLED=0: it is a complete
// probe (see TestMain), so it exercises the real process entry, signals and static linking.
func buildStaticProbe(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH: cannot build the static probe")
	}
	bin := filepath.Join(t.TempDir(), "probe.test")
	cmd := exec.Command(goTool, "test", "-c", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building static probe: %v\n%s", err, out)
	}
	return bin
}

func TestStaticBinaryProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildStaticProbe(t)
	if err := CheckStatic(bin); err != nil {
		t.Fatal(err)
	}
	if err := CheckStatic("/bin/sh"); err == nil {
		t.Error("CheckStatic accepted /bin/sh, which is dynamically linked on Debian")
	}

	// sleep blocks until SIGTERM and then exits 0.
	sleep := exec.Command(bin, Command, "sleep")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if sleep.ProcessState != nil {
		t.Fatal("sleep exited on its own")
	}
	if err := sleep.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := sleep.Wait(); err != nil {
		t.Fatalf("sleep after SIGTERM: %v, want exit 0", err)
	}

	// tcp-server announces its address, serves tcp-client, and ends on SIGTERM.
	server := exec.Command(bin, Command, "tcp-server", "--listen", "127.0.0.1:0")
	stdout, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer server.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading server announcement: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("server said %q, want \"listening ADDR\"", line)
	}
	out, err := exec.Command(bin, Command, "tcp-client", "--connect", addr, "--count", "200", "--timeout", "10s").Output()
	if err != nil {
		t.Fatalf("tcp-client: %v", err)
	}
	var res TCPResult
	if err := json.Unmarshal(out, &res); err != nil || res.Count != 200 {
		t.Fatalf("tcp-client printed %q (%v), want 200 round trips", out, err)
	}
	if err := server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := server.Wait(); err != nil {
		t.Fatalf("server after SIGTERM: %v, want exit 0", err)
	}
}
