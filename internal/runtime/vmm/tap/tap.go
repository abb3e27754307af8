// Package tap makes the host side of a microVM's network: a tap device with a /30 taken
// from isobench's subnet.
package tap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/runtime"
)

// DefaultSubnet is the part of isobench's 198.18.0.0/15 that VM links take their /30s
// from, apart from the range container veth pairs use first.
var DefaultSubnet = netip.MustParsePrefix("198.19.128.0/17")

// Tap is one VM's tap device with a point-to-point /30.
type Tap struct {
	Name    string
	HostIP  netip.Addr
	GuestIP netip.Addr
	Bits    int
}

var tapMu sync.Mutex

// Prefix starts the name of every VM tap device isobench makes.
const Prefix = runtime.LinkPrefix + "vm"

// Create makes a persistent tap device named after id ("isbvm" + hash), gives the host
// end the first address of a free /30 in subnet and brings it up. The device alias holds
// id so cleanup can tell whose it was.
func Create(id string, subnet netip.Prefix) (*Tap, error) {
	tapMu.Lock()
	defer tapMu.Unlock()
	// Other isobench processes allocate from the same range; a file lock orders them.
	unlock, err := lockFile(runtime.HostStateDir + "/vmnet.lock")
	if err != nil {
		return nil, err
	}
	defer unlock()

	host, guest, err := freeSlash30(subnet)
	if err != nil {
		return nil, err
	}
	t := &Tap{Name: fmt.Sprintf("%s%08x", Prefix, fnv32(id)), HostIP: host, GuestIP: guest, Bits: 30}
	link := &netlink.Tuntap{
		LinkAttrs: netlink.LinkAttrs{Name: t.Name},
		Mode:      netlink.TUNTAP_MODE_TAP,
		// The VMM reopens the device with these flags; they must match.
		Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR | netlink.TUNTAP_ONE_QUEUE,
	}
	if err := netlink.LinkAdd(link); err != nil {
		return nil, fmt.Errorf("creating tap %s: %w", t.Name, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = t.Remove()
		}
	}()
	l, err := netlink.LinkByName(t.Name)
	if err != nil {
		return nil, fmt.Errorf("finding tap %s: %w", t.Name, err)
	}
	if err := netlink.LinkSetAlias(l, id); err != nil {
		return nil, fmt.Errorf("tagging tap %s: %w", t.Name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: host.AsSlice(), Mask: net.CIDRMask(t.Bits, 32)}}
	if err := netlink.AddrAdd(l, addr); err != nil {
		return nil, fmt.Errorf("addressing tap %s: %w", t.Name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("bringing up tap %s: %w", t.Name, err)
	}
	ok = true
	return t, nil
}

// Remove deletes the tap device; a device already gone is not an error.
func (t *Tap) Remove() error {
	l, err := netlink.LinkByName(t.Name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("finding tap %s: %w", t.Name, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("removing tap %s: %w", t.Name, err)
	}
	return nil
}

// GuestCIDR is the guest's address with prefix length.
func (t *Tap) GuestCIDR() string { return fmt.Sprintf("%s/%d", t.GuestIP, t.Bits) }

func freeSlash30(subnet netip.Prefix) (host, guest netip.Addr, err error) {
	used := map[netip.Addr]bool{}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return host, guest, fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			used[ip] = true
		}
	}
	b := subnet.Masked().Addr().As4()
	start := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	size := uint32(1) << (32 - subnet.Bits())
	for off := uint32(0); off+4 <= size; off += 4 {
		h := addrFromU32(start + off + 1)
		if !used[h] {
			return h, addrFromU32(start + off + 2), nil
		}
	}
	return host, guest, fmt.Errorf("no free /30 left in %s", subnet)
}

func addrFromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// lockFile takes an exclusive flock on path, creating it and its directory.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(runtime.HostStateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", runtime.HostStateDir, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
