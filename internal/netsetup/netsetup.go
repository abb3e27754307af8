// Package netsetup gives a container its own network namespace joined to the host by
// a veth pair, addressed from isobench's subnet (RFC 2544's 198.18.0.0/15 by default).
// Links and namespaces are made with netlink, not by running `ip`.
package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/isobench/isobench/internal/nsthread"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// LinkPrefix starts every link name this package makes.
const LinkPrefix = "isb"

// NetnsDir is where named namespaces live (as `ip netns` keeps them).
const NetnsDir = "/var/run/netns"

// Link is one container's namespace and veth pair.
type Link struct {
	// Namespace is the name of the network namespace; NetnsPath its bind-mounted file.
	Namespace string
	NetnsPath string
	HostLink  string
	HostIP    netip.Addr
	PeerIP    netip.Addr
}

var allocMu sync.Mutex

// Create makes namespace `name` (it should start with "isobench-") and a veth pair
// whose peer end is eth0 inside it, with a /30 from subnet. The host end is tagged with
// the namespace name in its alias, so cleanup can find it.
func Create(name string, subnet netip.Prefix) (*Link, error) {
	allocMu.Lock()
	defer allocMu.Unlock()
	hostIP, peerIP, err := freePair(subnet)
	if err != nil {
		return nil, err
	}
	l := &Link{Namespace: name, NetnsPath: filepath.Join(NetnsDir, name), HostIP: hostIP, PeerIP: peerIP}
	l.HostLink = fmt.Sprintf("%s%08x", LinkPrefix, hash32(name))
	ok := false
	defer func() {
		if !ok {
			_ = l.Remove()
		}
	}()
	ns, err := newNamedNS(name)
	if err != nil {
		return nil, fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	defer ns.Close()

	peerTmp := l.HostLink + "p"
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.HostLink, Alias: name}, PeerName: peerTmp}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("creating veth %s: %w", l.HostLink, err)
	}
	host, err := netlink.LinkByName(l.HostLink)
	if err != nil {
		return nil, fmt.Errorf("finding veth %s: %w", l.HostLink, err)
	}
	if err := netlink.AddrAdd(host, &netlink.Addr{IPNet: ipNet(hostIP, 30)}); err != nil {
		return nil, fmt.Errorf("addressing %s: %w", l.HostLink, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return nil, fmt.Errorf("bringing up %s: %w", l.HostLink, err)
	}
	peer, err := netlink.LinkByName(peerTmp)
	if err != nil {
		return nil, fmt.Errorf("finding veth peer %s: %w", peerTmp, err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		return nil, fmt.Errorf("moving %s into %s: %w", peerTmp, name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("opening netlink in %s: %w", name, err)
	}
	defer h.Close()
	inner, err := h.LinkByName(peerTmp)
	if err != nil {
		return nil, fmt.Errorf("finding %s in %s: %w", peerTmp, name, err)
	}
	if err := h.LinkSetName(inner, "eth0"); err != nil {
		return nil, fmt.Errorf("renaming %s to eth0: %w", peerTmp, err)
	}
	if err := h.AddrAdd(inner, &netlink.Addr{IPNet: ipNet(peerIP, 30)}); err != nil {
		return nil, fmt.Errorf("addressing eth0 in %s: %w", name, err)
	}
	if err := h.LinkSetUp(inner); err != nil {
		return nil, fmt.Errorf("bringing up eth0 in %s: %w", name, err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		if err := h.LinkSetUp(lo); err != nil {
			return nil, fmt.Errorf("bringing up lo in %s: %w", name, err)
		}
	}
	// The host is the container's only way out, and only to the host itself.
	gw := &netlink.Route{LinkIndex: inner.Attrs().Index, Dst: ipNet(hostIP, 32), Scope: netlink.SCOPE_LINK}
	if err := h.RouteReplace(gw); err != nil {
		return nil, fmt.Errorf("routing in %s: %w", name, err)
	}
	ok = true
	return l, nil
}

// Remove deletes the veth pair and the namespace; it is safe to call more than once.
func (l *Link) Remove() error {
	var errs []error
	if link, err := netlink.LinkByName(l.HostLink); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", l.HostLink, err))
		}
	}
	if err := netns.DeleteNamed(l.Namespace); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("deleting namespace %s: %w", l.Namespace, err))
	}
	return errors.Join(errs...)
}

// Leftovers lists namespaces and host links whose names start with prefix / LinkPrefix.
func Leftovers(nsPrefix string) (namespaces, links []string) {
	entries, _ := os.ReadDir(NetnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), nsPrefix) {
			namespaces = append(namespaces, e.Name())
		}
	}
	all, _ := netlink.LinkList()
	for _, l := range all {
		if strings.HasPrefix(l.Attrs().Name, LinkPrefix) {
			links = append(links, l.Attrs().Name)
		}
	}
	return namespaces, links
}

// RemoveLeftovers deletes what Leftovers finds.
func RemoveLeftovers(nsPrefix string) (removed []string, err error) {
	namespaces, links := Leftovers(nsPrefix)
	var errs []error
	for _, name := range links {
		if l, err := netlink.LinkByName(name); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("deleting link %s: %w", name, err))
				continue
			}
			removed = append(removed, "link "+name)
		}
	}
	for _, name := range namespaces {
		if err := netns.DeleteNamed(name); err != nil {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", name, err))
			continue
		}
		removed = append(removed, "netns "+name)
	}
	return removed, errors.Join(errs...)
}

// newNamedNS creates a named namespace without leaving any goroutine's thread in it.
func newNamedNS(name string) (netns.NsHandle, error) {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return 0, err
	}
	ns := netns.None()
	err := nsthread.Do(func() error {
		var err error
		ns, err = netns.NewNamed(name)
		return err
	}, nil)
	if err != nil {
		if ns.IsOpen() {
			ns.Close()
		}
		return 0, fmt.Errorf("making network namespace %s: %w", name, err)
	}
	return ns, nil
}

// freePair picks the first /30 of subnet whose host address no link on the host uses.
// The first /30 is skipped so the subnet's network address is never a host.
func freePair(subnet netip.Prefix) (host, peer netip.Addr, err error) {
	used := map[netip.Addr]bool{}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return host, peer, fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			used[ip] = true
		}
	}
	base := subnet.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint32(1) << (32 - subnet.Bits())
	for off := uint32(4); off+4 <= size; off += 4 {
		h := u32Addr(start + off + 1)
		if !used[h] {
			return h, u32Addr(start + off + 2), nil
		}
	}
	return host, peer, fmt.Errorf("no free /30 left in %s", subnet)
}

func u32Addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, 32)}
}

// hash32 is FNV-1a, to fit a namespace name into a 15-byte link name.
func hash32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
