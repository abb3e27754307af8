package vmm

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/isobench/isobench/internal/runtime/vmm/guestproto"
)

func TestConsoleSeesAKernelPanic(t *testing.T) {
	con := NewConsole(nil, nil, nil)
	start := time.Now()
	con.HandleLine(strings.TrimSpace(guestproto.FormatEvent(guestproto.Event{Kind: guestproto.EventInit, Value: 1})), start)
	con.HandleLine("[    1.2] Kernel panic - not syncing: sysrq triggered crash", start)
	select {
	case <-con.PanicSeen:
	default:
		t.Fatal("PanicSeen not closed")
	}
	select {
	case <-con.PanicReported:
		t.Fatal("PanicReported closed before the report's last line")
	default:
	}
	con.HandleLine("[    1.3] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---", start)
	select {
	case <-con.PanicReported:
	default:
		t.Fatal("PanicReported not closed by the report's last line")
	}
	_, err := con.Result()
	if err == nil || !strings.Contains(err.Error(), "guest kernel panic") || !strings.Contains(err.Error(), "sysrq triggered crash") {
		t.Errorf("Result = %v; want the panic named", err)
	}
	// A workload that reported its exit before the panic keeps its exit code.
	con = NewConsole(nil, nil, nil)
	con.HandleLine(strings.TrimSpace(guestproto.FormatEvent(guestproto.Event{Kind: guestproto.EventExit, Value: 0})), start)
	con.HandleLine("Kernel panic - not syncing: Attempted to kill init!", start)
	if code, err := con.Result(); err != nil || code != 0 {
		t.Errorf("Result = %d, %v; want the reported exit", code, err)
	}
}

func TestReadVMMMemoryFindsGuestRAM(t *testing.T) {
	// This process has no 256 MiB mapping, so the guest RAM is not found.
	if _, err := ReadVMMMemory(os.Getpid(), 256<<20); err == nil || !bytes.Contains([]byte(err.Error()), []byte("guest RAM")) {
		t.Errorf("err = %v; want guest RAM not found", err)
	}
}
