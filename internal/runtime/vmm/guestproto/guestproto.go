// Package guestproto is the line protocol between isobench's guest agent (the /init of a
// microVM) and the VMM drivers on the host: the spec the agent runs and the events it reports.
package guestproto

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// LinePrefix starts every protocol line the agent writes to the console; kernel messages
// share the console, so the driver keeps only lines that carry it.
const LinePrefix = "ISOBENCH:"

// CmdlineSpecKey names the kernel command-line parameter that carries the encoded GuestSpec.
const CmdlineSpecKey = "isobench.spec"

// SpecFile is where the agent finds the GuestSpec when it was too long for the command line.
const SpecFile = "/isobench/spec.json"

// MaxCmdlineSpec bounds the encoded spec on the command line (x86 allows 2048 bytes in all).
const MaxCmdlineSpec = 1400

// Paths inside the initramfs.
const (
	AgentPath   = "/init"             // the agent binary, also the probe binary for bind mounts
	ModulesDir  = "/isobench/modules" // kernel modules, loaded in file-name order
	BindsDir    = "/isobench/binds"   // per-VM bind-mount sources
	NewRootPath = "/newroot"          // where the agent mounts the root disk
)

// GuestSpec tells the agent what to run.
type GuestSpec struct {
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`
	Cwd  string   `json:"cwd,omitempty"`
	// RootDevice is the block device holding the image's root filesystem.
	RootDevice string `json:"root_device"`
	RootFSType string `json:"root_fstype"`
	// Mounts are applied inside the root filesystem before the workload starts.
	Mounts []GuestMount `json:"mounts,omitempty"`
	// Net configures one interface; nil leaves the guest with loopback only.
	Net *GuestNet `json:"net,omitempty"`
}

// GuestMount is a bind of a path inside the initramfs, or a tmpfs.
type GuestMount struct {
	Type        string `json:"type"` // "bind" or "tmpfs"
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"read_only,omitempty"`
	SizeBytes   int64  `json:"size_bytes,omitempty"`
}

// GuestNet is the guest side of a point-to-point link to the host.
type GuestNet struct {
	Interface string `json:"interface"`
	Address   string `json:"address"` // CIDR, e.g. 198.19.128.2/30
	Gateway   string `json:"gateway"`
}

// EncodeSpec turns a spec into a command-line-safe string (gzip, then base64url).
func EncodeSpec(s GuestSpec) (string, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encoding guest spec: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return "", fmt.Errorf("compressing guest spec: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compressing guest spec: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// DecodeSpec reverses EncodeSpec.
func DecodeSpec(enc string) (GuestSpec, error) {
	var s GuestSpec
	gz, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return s, fmt.Errorf("decoding guest spec: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return s, fmt.Errorf("decompressing guest spec: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return s, fmt.Errorf("decompressing guest spec: %w", err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("parsing guest spec: %w", err)
	}
	return s, nil
}

// SpecFromCmdline finds the encoded spec in a kernel command line.
func SpecFromCmdline(cmdline string) (string, bool) {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, CmdlineSpecKey+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Event kinds the agent reports.
const (
	EventInit    = "init"    // agent runs as PID 1; Value is the guest's CLOCK_BOOTTIME in ns
	EventStarted = "started" // workload process started; Value is CLOCK_BOOTTIME in ns
	EventStdout  = "out"     // Data is a chunk of the workload's stdout
	EventStderr  = "err"     // Data is a chunk of the workload's stderr
	EventExit    = "exit"    // Value is the workload's exit code (128+signal when killed)
	EventFail    = "fail"    // Data is why the agent could not run the workload
)

// Event is one decoded protocol line.
type Event struct {
	Kind  string
	Value int64
	Data  []byte
}

// FormatEvent renders one protocol line, newline included.
func FormatEvent(e Event) string {
	switch e.Kind {
	case EventStdout, EventStderr, EventFail:
		return LinePrefix + e.Kind + " " + base64.StdEncoding.EncodeToString(e.Data) + "\n"
	default:
		return LinePrefix + e.Kind + " " + strconv.FormatInt(e.Value, 10) + "\n"
	}
}

// ParseEvent decodes a console line. Kernel messages may precede the prefix on the same
// line (the console is shared), so the prefix is searched for, not required at the start.
func ParseEvent(line string) (Event, bool) {
	i := strings.Index(line, LinePrefix)
	if i < 0 {
		return Event{}, false
	}
	kind, payload, _ := strings.Cut(strings.TrimSpace(line[i+len(LinePrefix):]), " ")
	e := Event{Kind: kind}
	switch kind {
	case EventStdout, EventStderr, EventFail:
		data, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			return Event{}, false
		}
		e.Data = data
	case EventInit, EventStarted, EventExit:
		v, err := strconv.ParseInt(payload, 10, 64)
		if err != nil {
			return Event{}, false
		}
		e.Value = v
	default:
		return Event{}, false
	}
	return e, true
}
