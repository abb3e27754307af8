package hostcpu

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/procs"
	"github.com/isobench/isobench/internal/runtime"
)

func snap(at time.Time, ps ...proc) *Snapshot {
	s := &Snapshot{At: at, procs: map[string]proc{}}
	for _, p := range ps {
		s.procs[p.key()] = p
	}
	return s
}

func TestSinceCountsExitedChildrenOnceThroughTheirParent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	before := snap(t0,
		proc{pid: 10, start: 1, role: "sandbox", own: 100, reaped: 0},
		proc{pid: 11, ppid: 10, start: 2, role: "sandbox", own: 40}, // exits, reaped by 10
		proc{pid: 20, ppid: 1, start: 3, role: "gofer", own: 5},     // stays
		proc{pid: 30, ppid: 99, start: 4, role: "workload", own: 7}, // exits, parent unknown
	)
	after := snap(t0.Add(2*time.Second),
		proc{pid: 10, start: 1, role: "sandbox", own: 300, reaped: 90}, // 11 took 50 more in all
		proc{pid: 20, ppid: 1, start: 3, role: "gofer", own: 25},
		proc{pid: 12, ppid: 10, start: 9, role: "sandbox", own: 30}, // new
		proc{pid: 11, ppid: 10, start: 77, role: "sandbox", own: 1}, // pid reused: a new process
	)
	u := Since(before, after)
	// sandbox: 200 (own) + 90-40 (reaped child's section time) + 30 + 1 = 281 ticks.
	if got := u.Seconds["sandbox"]; got != 2.81 {
		t.Errorf("sandbox = %v s, want 2.81", got)
	}
	if got := u.Seconds["gofer"]; got != 0.2 {
		t.Errorf("gofer = %v s, want 0.2", got)
	}
	if got := u.Seconds[RoleTotal]; got != 3.01 {
		t.Errorf("total = %v s, want 3.01", got)
	}
	if u.Lost != 1 || u.Wall != 2*time.Second {
		t.Errorf("lost %d wall %s", u.Lost, u.Wall)
	}
	if r := u.Roles(); r[0] != RoleTotal || len(r) != 3 {
		t.Errorf("roles %v", r)
	}
}

// TestTakeMeasuresARealBusyProcess burns CPU in a child for a while and checks that the
// time shows up under its role, with its own child's time counted once.
func TestTakeMeasuresARealBusyProcess(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.2; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; (j=0; while [ $j -lt 100000 ]; do j=$((j+1)); done); sleep 30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	listed := []runtime.Process{{PID: cmd.Process.Pid, Role: "workload"}}
	before, err := TakeProcesses(listed)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The shell sleeps for 30 s once both loops are done: its child then is that sleep.
		kids := procs.Descendants(cmd.Process.Pid)
		if len(kids) == 1 {
			if args := procs.Cmdline(kids[0]); len(args) == 2 && args[0] == "sleep" && args[1] == "30" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the busy loops did not finish in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
	after, err := TakeProcesses(listed)
	if err != nil {
		t.Fatal(err)
	}
	u := Since(before, after)
	if u.Seconds["workload"] < 0.05 {
		t.Fatalf("busy shell took %v s of CPU, want a measurable amount: %+v", u.Seconds["workload"], u)
	}
	if u.Seconds["workload"] > u.Wall.Seconds()*2 {
		t.Fatalf("%v s of CPU in %s of wall time on 2 CPUs is impossible", u.Seconds["workload"], u.Wall)
	}
	if _, err := Take(context.Background(), fakeContainer{}); err == nil {
		t.Fatal("a container with no processes was measured")
	}
}

type fakeContainer struct{ runtime.Container }

func (fakeContainer) ID() string { return "isobench-fake" }
func (fakeContainer) Processes(context.Context) ([]runtime.Process, error) {
	return nil, nil
}
