package vmm

import (
	"context"
	"os/exec"
	"path/filepath"

	"github.com/isobench/isobench/internal/runtime"
	"github.com/isobench/isobench/internal/runtime/vmm/unixapi"
)

// APIVM is a microVM whose VMM takes its whole configuration C through a REST API on a
// unix socket (Firecracker, Cloud Hypervisor).
type APIVM[C any] struct {
	*Machine
	Config C
	// API is the VMM's API client, set by Launch.
	API  *unixapi.Client
	sock string
	log  string
}

// NewAPIVM makes the machine for s and its VMM configuration; the VMM's API socket
// (sockName) goes in the state directory, its log (logName) with the raw outputs.
func NewAPIVM[C any](ctx context.Context, d *KVMDriver, s runtime.Spec, cmdline, sockName, logName string, build func(BootParams) C) (*APIVM[C], error) {
	m, err := d.NewMachine(ctx, s, cmdline)
	if err != nil {
		return nil, err
	}
	return &APIVM[C]{Machine: m, Config: build(d.BootParams(m)), sock: filepath.Join(m.Dir, sockName), log: filepath.Join(m.RawDir, logName)}, nil
}

// Sock is the VMM's API socket.
func (v *APIVM[C]) Sock() string { return v.sock }

// Log is the VMM's own log file.
func (v *APIVM[C]) Log() string { return v.log }

// Launch starts the VMM with cmd and waits until its API (label, under prefix) answers at
// readyPath.
func (v *APIVM[C]) Launch(ctx context.Context, cmd *exec.Cmd, label, prefix, readyPath string) error {
	api := unixapi.New(label, v.sock, prefix)
	if err := v.LaunchAPI(ctx, cmd, api, readyPath, v.log); err != nil {
		return err
	}
	v.API = api
	return nil
}
