package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmp is a minimal QEMU Machine Protocol client: enough to resume a VM started with -S.
type qmp struct {
	conn net.Conn
	dec  *json.Decoder
}

// dialQMP connects to the QMP socket, retrying while qemu is still creating it.
func dialQMP(ctx context.Context, path string, exited <-chan struct{}) (*qmp, error) {
	var conn net.Conn
	var err error
	for {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "unix", path)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to QMP %s: %w", path, ctx.Err())
		case <-exited:
			return nil, fmt.Errorf("qemu exited before its QMP socket was ready")
		case <-time.After(2 * time.Millisecond):
		}
	}
	q := &qmp{conn: conn, dec: json.NewDecoder(bufio.NewReader(conn))}
	var greeting map[string]any
	if err := q.dec.Decode(&greeting); err != nil {
		conn.Close()
		return nil, fmt.Errorf("reading QMP greeting: %w", err)
	}
	if err := q.execute(ctx, "qmp_capabilities"); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

// execute runs one command and waits for its answer, skipping asynchronous events.
func (q *qmp) execute(ctx context.Context, command string) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = q.conn.SetDeadline(dl)
		defer q.conn.SetDeadline(time.Time{})
	}
	if err := json.NewEncoder(q.conn).Encode(map[string]string{"execute": command}); err != nil {
		return fmt.Errorf("sending QMP %s: %w", command, err)
	}
	for {
		var msg struct {
			Return *json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := q.dec.Decode(&msg); err != nil {
			return fmt.Errorf("reading QMP answer to %s: %w", command, err)
		}
		if msg.Error != nil {
			return fmt.Errorf("QMP %s: %s: %s", command, msg.Error.Class, msg.Error.Desc)
		}
		if msg.Return != nil {
			return nil
		}
	}
}

func (q *qmp) close() error { return q.conn.Close() }
