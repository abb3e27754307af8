package vmm

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/isobench/isobench/internal/hostinfo"
	"github.com/isobench/isobench/internal/runtime/vmm/tap"
)

// ParseSize reads 512M, 1G, 65536K or a number of bytes.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	n, err := strconv.ParseInt(strings.TrimRight(s, "KMG"), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 512M", s)
	}
	return n * mult, nil
}

// TapSubnetFor is the upper half of the run's subnet s, so VM links and the veth pairs that
// netsetup hands out from the bottom of the subnet do not race for the same /30.
func TapSubnetFor(s netip.Prefix) netip.Prefix {
	if !s.IsValid() || !s.Addr().Is4() || s.Bits() > 28 {
		return tap.DefaultSubnet
	}
	s = s.Masked()
	b := s.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(1) << (32 - s.Bits() - 1)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), s.Bits()+1)
}

// GuestMAC derives a locally administered MAC address from the guest address.
func GuestMAC(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// TCGClockArgs is what a guest under TCG needs on its kernel command line to keep a
// nanosecond clock. Its PIT calibration of the TSC fails now and then and the kernel
// hangs, so tsc_early_khz gives it the host's rate, at which the emulated TSC runs. And
// its TSC sync check between vCPUs fails under emulation, which leaves the guest on
// refined-jiffies (4 ms steps: fio then reports 0 us latencies); the emulated TSC is one
// host clock for all vCPUs, so tsc=reliable is true and keeps the TSC as clocksource.
func TCGClockArgs() string {
	args := " tsc=reliable"
	if khz := HostTSCkHz(); khz > 0 {
		args += " tsc_early_khz=" + strconv.Itoa(khz)
	}
	return args
}

// HostTSCkHz is the host's clock rate, 0 when unknown.
func HostTSCkHz() int { return hostinfo.CPUkHz() }
