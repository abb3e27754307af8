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
	// 198.19.0.0/15's last address: the tap and engine allocators never hand it out.
	addr := netip.MustParseAddr("198.19.255.254")
	if r, err := netlink.RouteGet(addr.AsSlice()); err == nil && len(r) > 0 && r[0].Gw == nil {
		t.Skipf("a link of this host carries %s right now", addr)
	}
	err = CheckReachable(addr)
	if err == nil || !strings.Contains(err.Error(), "only through gateway") {
		t.Errorf("err = %v, want a refusal naming the gateway", err)
	}
}
