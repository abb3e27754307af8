package guestassets

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/runtime/vmm/guestproto"
)

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
	if err := AppendInitramfs(full, base, map[string]string{guestproto.BindsDir + "/0": bindDir}, map[string][]byte{guestproto.SpecFile: []byte("x")}); err != nil {
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

// A guest too small for its initramfs panics at boot with SIGBUS in the agent; the
// driver must refuse the setting instead, naming the memory that would do.
func TestCheckGuestMemoryRefusesTooLittleRAM(t *testing.T) {
	initrd := filepath.Join(t.TempDir(), "initramfs.cpio")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(111 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = CheckGuestMemory(initrd, 256<<20)
	if err == nil || !strings.Contains(err.Error(), "at least 318M") {
		t.Errorf("256M for a 111 MiB initramfs: %v; want a refusal naming 318M", err)
	}
	if err := CheckGuestMemory(initrd, 512<<20); err != nil {
		t.Errorf("512M for a 111 MiB initramfs: %v", err)
	}
}
