package vmm

import (
	"fmt"
	"os"
	"sync"

	"github.com/isobench/isobench/internal/filehash"
	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/guestproto"
)

// AgentFiles tells whether a bind source is the agent binary itself (the probe usually
// is), which the guest already has as /init, remembering each file's hash.
type AgentFiles struct {
	mu   sync.Mutex
	sums map[string]string // host path -> sha256
}

// IsAgent compares path with the agent whose sha256 is agentSHA.
func (a *AgentFiles) IsAgent(path, agentSHA string) (bool, error) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return false, nil
	}
	a.mu.Lock()
	sum, ok := a.sums[path]
	a.mu.Unlock()
	if !ok {
		if sum, err = filehash.SHA256(path); err != nil {
			return false, err
		}
		a.mu.Lock()
		if a.sums == nil {
			a.sums = map[string]string{}
		}
		a.sums[path] = sum
		a.mu.Unlock()
	}
	return sum == agentSHA, nil
}

// GuestMounts turns a container's mounts into the guest's. A microVM has no shared
// filesystem: a bind of the agent maps to /init, any other bind source travels in the
// initramfs; files maps those initramfs paths to their host sources.
func (a *AgentFiles) GuestMounts(mounts []runtime.Mount, agentSHA string) (gms []guestproto.GuestMount, files map[string]string, err error) {
	files = map[string]string{}
	for i, m := range mounts {
		gm := guestproto.GuestMount{Type: m.Type, Destination: m.Destination, ReadOnly: m.ReadOnly, SizeBytes: m.SizeBytes}
		if m.Type == "bind" {
			agent, err := a.IsAgent(m.Source, agentSHA)
			if err != nil {
				return nil, nil, err
			}
			if agent {
				gm.Source = guestproto.AgentPath
			} else {
				gm.Source = fmt.Sprintf("%s/%d", guestproto.BindsDir, i)
				files[gm.Source] = m.Source
			}
		}
		gms = append(gms, gm)
	}
	return gms, files, nil
}
