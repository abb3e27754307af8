package vmm

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
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

// ReadVMMMemory reads /proc/<pid>/smaps and finds the guest RAM mapping by size.
func ReadVMMMemory(pid int, guestBytes int64) (VMMMemory, error) {
	var m VMMMemory
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return m, fmt.Errorf("reading VMM memory map: %w", err)
	}
	defer f.Close()
	guestKB := guestBytes >> 10
	inGuest, found := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		// A mapping header starts with an address range, e.g. 7f00-7f80 rw-p ...
		if strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			inGuest = false
			continue
		}
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Size:":
			// Only the first mapping of the exact size counts, in case another matches.
			inGuest = kb == guestKB && !found
			found = found || inGuest
		case "Pss:":
			m.PSS += kb << 10
			if inGuest {
				m.GuestPSS += kb << 10
			}
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("reading VMM memory map: %w", err)
	}
	if !found {
		return m, fmt.Errorf("no mapping of %d KiB (the guest RAM) in VMM process %d", guestKB, pid)
	}
	return m, nil
}
