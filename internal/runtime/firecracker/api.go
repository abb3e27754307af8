package firecracker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// The request bodies of Firecracker's API, with the JSON names of its swagger
// definition (firecracker-go-sdk's client/models marshal to the same).

// BootSource is PUT /boot-source.
type BootSource struct {
	KernelImagePath string `json:"kernel_image_path"`
	InitrdPath      string `json:"initrd_path,omitempty"`
	BootArgs        string `json:"boot_args,omitempty"`
}

// MachineConfiguration is PUT /machine-config.
type MachineConfiguration struct {
	VcpuCount  int   `json:"vcpu_count"`
	MemSizeMib int64 `json:"mem_size_mib"`
	Smt        bool  `json:"smt"`
}

// Drive is PUT /drives/{drive_id}.
type Drive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
	CacheType    string `json:"cache_type,omitempty"`
}

// NetworkInterface is PUT /network-interfaces/{iface_id}.
type NetworkInterface struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
	GuestMac    string `json:"guest_mac,omitempty"`
}

// InstanceActionInfo is PUT /actions.
type InstanceActionInfo struct {
	ActionType string `json:"action_type"`
}

// Config is one VM's configuration, in the order Create sends it; as JSON it is also
// Firecracker's --config-file format.
type Config struct {
	BootSource        BootSource           `json:"boot-source"`
	MachineConfig     MachineConfiguration `json:"machine-config"`
	Drives            []Drive              `json:"drives"`
	NetworkInterfaces []NetworkInterface   `json:"network-interfaces"`
}

// apiClient talks HTTP to Firecracker's API socket.
type apiClient struct {
	sock string
	http *http.Client
}

func newAPIClient(sock string) *apiClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &apiClient{sock: sock, http: &http.Client{Transport: tr}}
}

// waitReady polls GET / until the API answers, firecracker exits or ctx ends.
func (a *apiClient) waitReady(ctx context.Context, exited <-chan struct{}) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/", nil)
		resp, err := a.http.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the firecracker API at %s: %w", a.sock, ctx.Err())
		case <-exited:
			return fmt.Errorf("firecracker exited before its API socket was ready")
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// put sends one PUT and fails on anything but a 2xx answer, with Firecracker's fault message.
func (a *apiClient) put(ctx context.Context, path string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://localhost"+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("firecracker API PUT %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var fault struct {
			Message string `json:"fault_message"`
		}
		if json.Unmarshal(msg, &fault) == nil && fault.Message != "" {
			msg = []byte(fault.Message)
		}
		return fmt.Errorf("firecracker API PUT %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// configure sends a whole Config (everything before InstanceStart).
func (a *apiClient) configure(ctx context.Context, c Config) error {
	if err := a.put(ctx, "/machine-config", c.MachineConfig); err != nil {
		return err
	}
	if err := a.put(ctx, "/boot-source", c.BootSource); err != nil {
		return err
	}
	for _, d := range c.Drives {
		if err := a.put(ctx, "/drives/"+d.DriveID, d); err != nil {
			return err
		}
	}
	for _, n := range c.NetworkInterfaces {
		if err := a.put(ctx, "/network-interfaces/"+n.IfaceID, n); err != nil {
			return err
		}
	}
	return nil
}

func (a *apiClient) close() { a.http.CloseIdleConnections() }
