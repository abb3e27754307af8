package netsetup

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Range is the only range isobench's links and containers may use: RFC 2544's
// benchmarking range, which no real network routes.
var Range = netip.MustParsePrefix("198.18.0.0/15")

// CheckReachable makes sure traffic to a container's address stays on the host: the
// address is on loopback or inside Range, and the host reaches it over one of its own
// links, not through a gateway. An engine that gives the host no address on the
// container's network (podman's CNI backend with an internal network) leaves only the
// default route, and requests would go to whatever answers beyond it.
func CheckReachable(addr netip.Addr) error {
	addr = addr.Unmap()
	if addr.IsLoopback() {
		return nil
	}
	if !Range.Contains(addr) {
		return fmt.Errorf("container address %s is outside %s: isobench sends traffic only to its own links", addr, Range)
	}
	routes, err := netlink.RouteGet(addr.AsSlice())
	if err != nil {
		return fmt.Errorf("finding the host's route to container address %s: %w", addr, err)
	}
	if len(routes) == 0 {
		return fmt.Errorf("the host has no route to container address %s", addr)
	}
	for _, r := range routes {
		if r.Gw != nil {
			dev := fmt.Sprintf("link %d", r.LinkIndex)
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				dev = l.Attrs().Name
			}
			return fmt.Errorf("the host reaches container address %s only through gateway %s on %s, not over a link of the container's network (the engine gave the host no address there): refusing to send traffic off the host", addr, r.Gw, dev)
		}
	}
	return nil
}
