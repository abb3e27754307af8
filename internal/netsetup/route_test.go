package netsetup

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestCheckReachableRefusesAddressesOffTheHost(t *testing.T) {
	for _, a := range []string{"10.88.0.2", "8.8.8.8", "192.168.1.1", "172.17.0.2"} {
		err := CheckReachable(netip.MustParseAddr(a))
		if err == nil || !strings.Contains(err.Error(), "outside 198.18.0.0/15") {
			t.Errorf("%s: err = %v, want outside 198.18.0.0/15", a, err)
		}
	}
	if err := CheckReachable(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("loopback: %v", err)
	}
}

// An address of isobench's range that no link of the host carries is reached, if at
// all, only through the default route: that is the podman-with-CNI case.
func TestCheckReachableRefusesTheDefaultRoute(t *testing.T) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	hasDefault := false
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			hasDefault = r.Gw != nil
		}
	}
	if !hasDefault {
		t.Skip("this host has no default route through a gateway: nothing could leave it")
	}
	// An address of 198.18.0.0/15 that no link of this host carries right now (engines'
	// networks take /24s from its top, isobench's links from its bottom).
	var addr netip.Addr
	for _, a := range []string{"198.19.255.254", "198.19.127.254", "198.18.127.254", "198.18.191.254"} {
		cand := netip.MustParseAddr(a)
		if r, err := netlink.RouteGet(cand.AsSlice()); err == nil && len(r) > 0 && r[0].Gw != nil {
			addr = cand
			break
		}
	}
	if !addr.IsValid() {
		t.Skip("links of this host carry every candidate address in 198.18.0.0/15 right now")
	}
	err = CheckReachable(addr)
	if err == nil || !strings.Contains(err.Error(), "only through gateway") {
		t.Errorf("err = %v, want a refusal naming the gateway", err)
	}
}
