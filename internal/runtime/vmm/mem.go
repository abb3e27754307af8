package vmm

import (
	"fmt"

	"github.com/isobench/isobench/internal/procs"
)

// VMMMemory splits a VMM process's proportional set size into the guest's RAM and the
// rest. The guest RAM is the one anonymous mapping exactly as large as the memory given
// to the guest; whatever the guest touched shows up there, so PSS minus that mapping's
// PSS is what the VMM itself costs (device emulation, its heap, its binary's share).
type VMMMemory struct {
	PSS      int64 // whole process, bytes
	GuestPSS int64 // the guest RAM mapping, bytes
}

// Overhead is the VMM's own memory: PSS without the guest's RAM.
func (m VMMMemory) Overhead() int64 { return m.PSS - m.GuestPSS }

// ReadVMMMemory reads the VMM's memory map and finds the guest RAM mapping by size.
func ReadVMMMemory(pid int, guestBytes int64) (VMMMemory, error) {
	var m VMMMemory
	maps, err := procs.Mappings(pid)
	if err != nil {
		return m, fmt.Errorf("reading VMM memory map: %w", err)
	}
	found := false
	for _, mp := range maps {
		m.PSS += mp.PSSBytes
		// Only the first mapping of the exact size counts, in case another matches.
		if !found && mp.SizeBytes == guestBytes>>10<<10 {
			m.GuestPSS, found = mp.PSSBytes, true
		}
	}
	if !found {
		return m, fmt.Errorf("no mapping of %d KiB (the guest RAM) in VMM process %d", guestBytes>>10, pid)
	}
	return m, nil
}
