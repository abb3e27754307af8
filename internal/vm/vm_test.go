package vm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSpecSurvivesTheCommandLine(t *testing.T) {
	in := GuestSpec{Args: []string{"sh", "-c", "echo 'a b'; exit 3"}, Env: []string{"A=1"}, RootDevice: "/dev/vda",
		RootFSType: "ext4", Mounts: []GuestMount{{Type: "tmpfs", Destination: "/t", SizeBytes: 1 << 20}},
		Net: &GuestNet{Interface: "eth0", Address: "198.19.128.2/30", Gateway: "198.19.128.1"}}
	enc, err := EncodeSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(enc, " \t\n\"'") {
		t.Fatalf("encoded spec %q would be split by the kernel's command-line parser", enc)
	}
	got, ok := SpecFromCmdline("console=ttyS0 " + CmdlineSpecKey + "=" + enc + " panic=-1\n")
	if !ok {
		t.Fatal("spec not found on the command line")
	}
	out, err := DecodeSpec(got)
	if err != nil {
		t.Fatal(err)
	}
	if out.Args[1] != in.Args[1] || out.Net.Address != in.Net.Address || out.Mounts[0].SizeBytes != 1<<20 {
		t.Fatalf("round trip changed the spec: %+v", out)
	}
}

func TestEventsAreFoundBehindKernelNoise(t *testing.T) {
	line := FormatEvent(Event{Kind: EventStdout, Data: []byte("hi\x00\n")})
	e, ok := ParseEvent("[    1.2] random: x" + strings.TrimRight(line, "\n") + "\r")
	if !ok || e.Kind != EventStdout || string(e.Data) != "hi\x00\n" {
		t.Fatalf("ParseEvent = %+v, %v", e, ok)
	}
	e, ok = ParseEvent(strings.TrimSpace(FormatEvent(Event{Kind: EventExit, Value: 137})))
	if !ok || e.Value != 137 {
		t.Fatalf("exit event = %+v, %v", e, ok)
	}
	for _, bad := range []string{"plain kernel line", LinePrefix + "exit x", LinePrefix + "out !!", LinePrefix + "bogus 1"} {
		if _, ok := ParseEvent(bad); ok {
			t.Errorf("ParseEvent(%q) accepted a malformed line", bad)
		}
	}
}

func TestConsoleSeesAKernelPanic(t *testing.T) {
	con := NewConsole(nil, nil, nil)
	start := time.Now()
	con.HandleLine(strings.TrimSpace(FormatEvent(Event{Kind: EventInit, Value: 1})), start)
	con.HandleLine("[    1.2] Kernel panic - not syncing: sysrq triggered crash", start)
	select {
	case <-con.PanicSeen:
	default:
		t.Fatal("PanicSeen not closed")
	}
	_, err := con.Result()
	if err == nil || !strings.Contains(err.Error(), "guest kernel panic") || !strings.Contains(err.Error(), "sysrq triggered crash") {
		t.Errorf("Result = %v; want the panic named", err)
	}
	// A workload that reported its exit before the panic keeps its exit code.
	con = NewConsole(nil, nil, nil)
	con.HandleLine(strings.TrimSpace(FormatEvent(Event{Kind: EventExit, Value: 0})), start)
	con.HandleLine("Kernel panic - not syncing: Attempted to kill init!", start)
	if code, err := con.Result(); err != nil || code != 0 {
		t.Errorf("Result = %d, %v; want the reported exit", code, err)
	}
}

// The real cpio tool must read what CpioWriter writes, including appended archives.
func TestInitramfsIsReadableByCpio(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed")
	}
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, []byte("#!agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.cpio")
	if err := writeInitramfs(base, agent, nil); err != nil {
		t.Fatal(err)
	}
	bindDir := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(bindDir, "sub"), 0o755)
	os.WriteFile(filepath.Join(bindDir, "sub", "f"), []byte("12345"), 0o644)
	full := filepath.Join(dir, "full.cpio")
	if err := AppendInitramfs(full, base, map[string]string{BindsDir + "/0": bindDir}, map[string][]byte{SpecFile: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	f, _ := os.Open(full)
	defer f.Close()
	// cpio reads one archive per run; the second one follows the first's trailer.
	for i := 0; i < 2; i++ {
		cmd := exec.Command("cpio", "-id", "--quiet", "--no-absolute-filenames")
		cmd.Dir, cmd.Stdin = out, f
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cpio: %v: %s", err, msg)
		}
	}
	for path, want := range map[string]string{"init": "#!agent\n", "isobench/binds/0/sub/f": "12345", "isobench/spec.json": "x"} {
		got, err := os.ReadFile(filepath.Join(out, path))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "init")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("init mode: %v, %v", st, err)
	}
}

func TestModulesComeAfterTheirDependencies(t *testing.T) {
	k, err := FindKernel(DefaultKernelGlob)
	if err != nil {
		t.Skip(err.Error())
	}
	rel, _ := KernelRelease(k)
	files, err := ModuleFiles(filepath.Join("/lib/modules", rel), []string{"virtio_mmio", "virtio_blk", "virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, f := range files {
		pos[moduleName(f)] = i
	}
	for _, pair := range [][2]string{{"virtio_ring", "virtio"}, {"virtio", "virtio_mmio"}, {"failover", "net_failover"}, {"net_failover", "virtio_net"}} {
		a, okA := pos[pair[0]]
		b, okB := pos[pair[1]]
		if !okA || !okB || a > b {
			t.Errorf("%s must load before %s: order %v", pair[0], pair[1], files)
		}
	}
	if _, err := ModuleFiles(filepath.Join("/lib/modules", rel), []string{"no_such_module"}); err == nil {
		t.Error("a missing module was not reported")
	}
}

func TestVersionOrder(t *testing.T) {
	if !versionLess("/boot/vmlinuz-6.1.0-9-cloud-amd64", "/boot/vmlinuz-6.1.0-10-cloud-amd64") {
		t.Error("6.1.0-9 should sort before 6.1.0-10")
	}
}

func TestCheckStaticRefusesDynamicBinaries(t *testing.T) {
	if err := CheckStatic("/bin/ls"); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("CheckStatic(/bin/ls) = %v; want the dynamic-linking error", err)
	}
	if _, err := os.Stat("/bin/busybox"); err == nil {
		if err := CheckStatic("/bin/busybox"); err != nil {
			t.Errorf("static busybox refused: %v", err)
		}
	}
}

// The probe must give a verdict within its timeout whatever KVM does (here it may abort
// or hang the guest); a real hang is bounded by KVMProbeTimeout.
func TestKVMProbeNeverHangs(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	k, err := FindKernel(DefaultKernelGlob)
	if err != nil {
		t.Skip(err.Error())
	}
	for _, machine := range []string{"microvm,x-option-roms=off,isa-serial=on", "q35"} {
		t0 := time.Now()
		v := probeKVM(context.Background(), qemu, k, machine)
		if el := time.Since(t0); el > KVMProbeTimeout+3*time.Second {
			t.Errorf("probe with -M %s took %s", machine, el)
		}
		if v.Reason == "" {
			t.Error("verdict without a reason")
		}
		t.Logf("-M %s: KVM usable=%v: %s (%s)", machine, v.Usable, v.Reason, time.Since(t0))
	}
}

func TestReadVMMMemoryFindsGuestRAM(t *testing.T) {
	// This process has no 256 MiB mapping, so the guest RAM is not found.
	if _, err := ReadVMMMemory(os.Getpid(), 256<<20); err == nil || !bytes.Contains([]byte(err.Error()), []byte("guest RAM")) {
		t.Errorf("err = %v; want guest RAM not found", err)
	}
}
