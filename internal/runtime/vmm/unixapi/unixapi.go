// Package unixapi is a client for a VMM's REST API on a unix socket.
package unixapi

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

// Client is a VMM's REST API on a unix socket (Firecracker, Cloud Hypervisor).
type Client struct {
	Label string // the VMM's name, for errors
	Sock  string
	// Prefix goes before every path ("/api/v1" for Cloud Hypervisor).
	Prefix string
	http   *http.Client
}

// New makes a client for the API socket at sock.
func New(label, sock, prefix string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &Client{Label: label, Sock: sock, Prefix: prefix, http: &http.Client{Transport: tr}}
}

// WaitReady polls GET path until the API answers, the VMM exits or ctx ends.
func (a *Client) WaitReady(ctx context.Context, path string, exited <-chan struct{}) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost"+a.Prefix+path, nil)
		resp, err := a.http.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the %s API at %s: %w", a.Label, a.Sock, ctx.Err())
		case <-exited:
			return fmt.Errorf("%s exited before its API socket was ready", a.Label)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Put sends one PUT with body as JSON (none when body is nil) and fails on anything but
// a 2xx answer, with the VMM's own message.
func (a *Client) Put(ctx context.Context, path string, body any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding %s request %s: %w", a.Label, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://localhost"+a.Prefix+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s API PUT %s: %w", a.Label, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		// Firecracker answers {"fault_message": ...}; Cloud Hypervisor answers plain text.
		var fault struct {
			Message string `json:"fault_message"`
		}
		if json.Unmarshal(msg, &fault) == nil && fault.Message != "" {
			msg = []byte(fault.Message)
		}
		return fmt.Errorf("%s API PUT %s: %s: %s", a.Label, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Close drops the idle connections.
func (a *Client) Close() { a.http.CloseIdleConnections() }
