package bench

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
)

// FreeLoopbackPorts picks n distinct ports that nothing listens on at the host's loopback
// (the host driver shares it), below the ephemeral range so outgoing connections do not
// take them meanwhile.
func FreeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n && tries < 200; tries++ {
		p := 20000 + rand.IntN(10000)
		if seen[p] {
			continue
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, errors.New("found no free TCP port between 20000 and 30000 on 127.0.0.1")
	}
	return ports, nil
}
