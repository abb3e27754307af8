package vmmapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpecsLoad(t *testing.T) {
	fc := Load(t, "firecracker.yaml")
	if fc.Version() != "1.17.0-dev" || fc.BasePath() != "" {
		t.Errorf("firecracker spec: version %q, base path %q", fc.Version(), fc.BasePath())
	}
	ch := Load(t, "cloud-hypervisor.yaml")
	if ch.Version() != "0.3.0" || ch.BasePath() != "/api/v1" {
		t.Errorf("cloud-hypervisor spec: version %q, base path %q", ch.Version(), ch.BasePath())
	}
}

// TestValidateRejects shows the validator fails what it should, so that a passing client
// test means something.
func TestValidateRejects(t *testing.T) {
	fc := Load(t, "firecracker.yaml")
	ch := Load(t, "cloud-hypervisor.yaml")
	goodDrive := `{"drive_id":"rootfs","path_on_host":"/d","is_root_device":false,"is_read_only":false,"cache_type":"Unsafe"}`
	for _, c := range []struct {
		name       string
		spec       *Spec
		method     string
		path, body string
		wantErr    string // "" for a request that fits
	}{
		{"good drive", fc, "PUT", "/drives/rootfs", goodDrive, ""},
		{"good action", fc, "PUT", "/actions", `{"action_type":"InstanceStart"}`, ""},
		{"optional body left out", fc, "PUT", "/machine-config", "", ""},
		{"get without body", fc, "GET", "/", "", ""},
		{"unknown field", fc, "PUT", "/boot-source", `{"kernel_image_path":"/k","kernel_args":"x"}`, `"kernel_args" is unsupported`},
		{"unknown nested field", fc, "PUT", "/drives/rootfs",
			`{"drive_id":"rootfs","is_root_device":false,"rate_limiter":{"bandwidth":{"size":1,"refill_time":1,"burst":2}}}`, `"burst" is unsupported`},
		{"missing required field", fc, "PUT", "/machine-config", `{"vcpu_count":2}`, `"mem_size_mib" is missing`},
		{"wrong type", fc, "PUT", "/machine-config", `{"vcpu_count":"2","mem_size_mib":128}`, "vcpu_count"},
		{"above maximum", fc, "PUT", "/machine-config", `{"vcpu_count":33,"mem_size_mib":128}`, "vcpu_count"},
		{"not in enum", fc, "PUT", "/drives/rootfs", strings.Replace(goodDrive, "Unsafe", "None", 1), "cache_type"},
		{"null for an object", fc, "PUT", "/drives/rootfs", `{"drive_id":"r","is_root_device":false,"rate_limiter":null}`, "rate_limiter"},
		{"id differs from the path", fc, "PUT", "/drives/other", goodDrive, "drive_id=rootfs differs"},
		{"unknown path", fc, "PUT", "/bogus", `{}`, "has no path /bogus"},
		{"unknown method", fc, "DELETE", "/drives/rootfs", "", "has no DELETE /drives/rootfs"},
		{"empty path parameter", fc, "PUT", "/drives/", goodDrive, "has no path"},
		{"required body missing", fc, "PUT", "/actions", "", "requires a JSON body"},
		{"not JSON", fc, "PUT", "/actions", `{"action_type":`, "not JSON"},
		{"trailing data", fc, "PUT", "/actions", `{"action_type":"InstanceStart"} {}`, "after its JSON value"},
		{"body where none is taken", ch, "PUT", "/api/v1/vm.boot", `{}`, "takes no body"},
		{"path without base path", ch, "PUT", "/vm.boot", "", "under /api/v1"},
		{"good create", ch, "PUT", "/api/v1/vm.create", `{"payload":{"kernel":"/k"},"cpus":{"boot_vcpus":1,"max_vcpus":1}}`, ""},
		{"create without payload", ch, "PUT", "/api/v1/vm.create", `{"cpus":{"boot_vcpus":1,"max_vcpus":1}}`, `"payload" is missing`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			err := c.spec.Validate(c.method, c.path, body)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case c.wantErr != "" && err == nil:
				t.Errorf("accepted, want an error containing %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Errorf("error %q does not contain %q", err, c.wantErr)
			}
		})
	}
}

func TestCheckBodyReportsThroughT(t *testing.T) {
	fc := Load(t, "firecracker.yaml")
	collected := CollectErrors(t)
	fc.CheckBody(collected, "PUT", "/network-interfaces/eth0", map[string]any{"iface_id": "eth0", "host_dev_name": "tap0"})
	if errs := collected.Errors(); len(errs) != 0 {
		t.Errorf("a good body was reported: %q", errs)
	}
	fc.CheckBody(collected, "PUT", "/network-interfaces/eth0", map[string]any{"iface_id": "eth0", "host_name": "tap0"})
	if errs := collected.Errors(); len(errs) != 1 || !strings.Contains(errs[0], "host_dev_name") {
		t.Errorf("a body without host_dev_name was reported as %q", errs)
	}
}

// unixClient sends requests to the server on sock.
func unixClient(t *testing.T, sock string) func(method, path, contentType, body string) (int, []byte) {
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	t.Cleanup(client.CloseIdleConnections)
	return func(method, path, contentType, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, "http://localhost"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		reply, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, reply
	}
}

func TestServeFirecracker(t *testing.T) {
	fc := Load(t, "firecracker.yaml")
	collected := CollectErrors(t)
	sock := filepath.Join(t.TempDir(), "api.sock")
	rec := fc.Serve(collected, sock)
	do := unixClient(t, sock)

	status, reply := do("GET", "/", "", "")
	var info struct {
		ID, State, VmmVersion, AppName string
	}
	if status != 200 || json.Unmarshal(reply, &info) != nil {
		t.Errorf("GET /: %d %s", status, reply)
	}
	if !bytes.Contains(reply, []byte(`"state":"Not started"`)) || !bytes.Contains(reply, []byte(`"vmm_version"`)) {
		t.Errorf("GET / is no InstanceInfo: %s", reply)
	}
	if status, reply = do("PUT", "/actions", "application/json", `{"action_type":"InstanceStart"}`); status != 204 || len(reply) != 0 {
		t.Errorf("good PUT /actions: %d %s", status, reply)
	}
	if errs := collected.Errors(); len(errs) != 0 {
		t.Fatalf("good requests were reported: %q", errs)
	}

	status, reply = do("PUT", "/actions", "application/json", `{"action_type":"Start"}`)
	var fault struct {
		Message string `json:"fault_message"`
	}
	if status != 400 || json.Unmarshal(reply, &fault) != nil || !strings.Contains(fault.Message, "action_type") {
		t.Errorf("bad PUT /actions: %d %s", status, reply)
	}
	if status, _ = do("PUT", "/actions", "text/plain", `{"action_type":"InstanceStart"}`); status != 400 {
		t.Errorf("a JSON body sent as text/plain got %d", status)
	}
	if status, _ = do("PUT", "/nowhere", "application/json", `{}`); status != 400 {
		t.Errorf("an unknown path got %d", status)
	}
	if errs := collected.Errors(); len(errs) != 3 || !strings.Contains(errs[0], "action_type") ||
		!strings.Contains(errs[1], "Content-Type") || !strings.Contains(errs[2], "/nowhere") {
		t.Errorf("bad requests were reported as %q", errs)
	}

	rec.Answer("PUT", "/drives/{drive_id}", 400, map[string]string{"fault_message": "drive busy"})
	goodDrive := `{"drive_id":"d","path_on_host":"/d","is_root_device":false,"is_read_only":true}`
	if status, reply = do("PUT", "/drives/d", "application/json", goodDrive); status != 400 || !bytes.Contains(reply, []byte("drive busy")) {
		t.Errorf("Answer not used: %d %s", status, reply)
	}

	got := rec.Requests()
	want := []string{"GET /", "PUT /actions", "PUT /actions", "PUT /actions", "PUT /nowhere", "PUT /drives/d"}
	if len(got) != len(want) {
		t.Fatalf("recorded %v, want %v", rec.Calls(), want)
	}
	for i, r := range got {
		if r.String() != want[i] || (r.Problem != nil) != (i >= 2 && i <= 4) {
			t.Errorf("request %d: %v problem %v", i, r, r.Problem)
		}
	}
	if string(got[1].Body) != `{"action_type":"InstanceStart"}` || got[0].Body != nil {
		t.Errorf("bodies recorded as %q and %q", got[0].Body, got[1].Body)
	}
}

func TestServeCloudHypervisor(t *testing.T) {
	ch := Load(t, "cloud-hypervisor.yaml")
	sock := filepath.Join(t.TempDir(), "api.sock")
	rec := ch.Serve(t, sock)
	do := unixClient(t, sock)
	if status, reply := do("GET", "/api/v1/vmm.ping", "", ""); status != 200 || !bytes.Contains(reply, []byte(`"version"`)) {
		t.Errorf("vmm.ping: %d %s", status, reply)
	}
	create := `{"payload":{"kernel":"/k","cmdline":"console=ttyS0"},"cpus":{"boot_vcpus":2,"max_vcpus":2},"memory":{"size":536870912},` +
		`"disks":[{"path":"/d"}],"net":[{"tap":"tap0","mac":"52:54:00:00:00:01"}],"serial":{"mode":"Tty"},"console":{"mode":"Off"}}`
	if status, _ := do("PUT", "/api/v1/vm.create", "application/json", create); status != 204 {
		t.Errorf("vm.create: %d", status)
	}
	if status, _ := do("PUT", "/api/v1/vm.boot", "", ""); status != 204 {
		t.Errorf("vm.boot: %d", status)
	}
	if got := strings.Join(rec.Calls(), ", "); got != "GET /api/v1/vmm.ping, PUT /api/v1/vm.create, PUT /api/v1/vm.boot" {
		t.Errorf("recorded %s", got)
	}
}

// TestEveryOperationHasAnAnswer makes sure Serve can answer any operation of both specs
// with a body that fits the answer's schema.
func TestEveryOperationHasAnAnswer(t *testing.T) {
	for _, name := range []string{"firecracker.yaml", "cloud-hypervisor.yaml"} {
		s := Load(t, name)
		for _, r := range s.routes {
			if _, _, err := r.successResponse(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
