// Package kata checks a host for Kata Containers (shim, configuration, hypervisor, KVM),
// for every engine driver that can run Kata.
package kata

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/isobench/isobench/internal/runtime"
)

// Shim is Kata Containers' containerd shim; containerd finds it in PATH by the
// handler name io.containerd.kata.v2.
const Shim = "containerd-shim-kata-v2"

// ConfigPaths are where Kata looks for configuration.toml, first match wins.
var ConfigPaths = []string{
	"/etc/kata-containers/configuration.toml",
	"/usr/share/defaults/kata-containers/configuration.toml",
	"/opt/kata/share/defaults/kata-containers/configuration.toml",
}

// InstallFix says how to get Kata Containers on a Debian host.
const InstallFix = "install Kata Containers (kata-containers release tarball or kata-deploy): it puts " +
	Shim + " in PATH (link /opt/kata/bin/" + Shim + " to /usr/local/bin) and configuration.toml in " +
	"/etc/kata-containers/ or /usr/share/defaults/kata-containers/; Kata needs /dev/kvm"

// Check fills st for a Kata runtime: Class vm, the shim's path and the hypervisor that
// configuration.toml selects in st.Options["hypervisor"]. It returns false, with Problem
// and Fix set, when the shim, its configuration or /dev/kvm is missing.
func Check(st *runtime.Status) bool {
	st.Class = runtime.ClassVM
	if st.Options == nil {
		st.Options = map[string]string{}
	}
	shim, err := exec.LookPath(Shim)
	if err != nil {
		st.Found = false
		st.Problem = Shim + " not found in PATH"
		st.Fix = InstallFix
		return false
	}
	st.Options["shim"] = shim
	cfg := ""
	for _, p := range ConfigPaths {
		if _, err := os.Stat(p); err == nil {
			cfg = p
			break
		}
	}
	if cfg == "" {
		st.Problem = "no Kata configuration.toml in " + strings.Join(ConfigPaths[:2], " or ")
		st.Fix = "copy the configuration of your hypervisor (configuration-qemu.toml, configuration-clh.toml, configuration-fc.toml) " +
			"from the Kata release's share/defaults/kata-containers/ to /etc/kata-containers/configuration.toml"
		return false
	}
	st.Options["config"] = cfg
	hv, err := Hypervisor(cfg)
	if err != nil {
		st.Problem = "reading " + cfg + ": " + err.Error()
		st.Fix = "restore configuration.toml from the Kata release"
		return false
	}
	if hv == "" {
		st.Problem = cfg + " selects no hypervisor (no [hypervisor.NAME] section)"
		st.Fix = "restore configuration.toml from the Kata release"
		return false
	}
	st.Options["hypervisor"] = hv
	if _, err := os.Stat("/dev/kvm"); err != nil {
		st.Problem = "Kata needs /dev/kvm, which this host lacks"
		st.Fix = "run on bare metal or in a VM with nested virtualization enabled, then modprobe kvm_intel (or kvm_amd)"
		return false
	}
	return true
}

var hypervisorSection = regexp.MustCompile(`^\s*\[hypervisor\.([A-Za-z0-9_-]+)\]`)

// Hypervisor returns the NAME of the first [hypervisor.NAME] section of a Kata
// configuration.toml (qemu, clh, firecracker, dragonball, stratovirt): the one Kata uses.
func Hypervisor(configPath string) (string, error) {
	path, err := filepath.EvalSymlinks(configPath)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := hypervisorSection.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], nil
		}
	}
	return "", sc.Err()
}
