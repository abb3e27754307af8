package vmmapitest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Request is one request the spec server received.
type Request struct {
	Method string
	Path   string // as sent, base path included
	Body   []byte // raw, nil when empty
	// Problem is why the request does not fit the spec (it was answered 400 and
	// reported with t.Errorf), nil when it fits.
	Problem error
}

// String is "METHOD /path", the form tests compare call sequences in.
func (r Request) String() string { return r.Method + " " + r.Path }

// Recorder is what Serve's server received; safe for concurrent use.
type Recorder struct {
	spec *Spec
	t    testing.TB

	mu       sync.Mutex
	requests []Request
	answers  map[*route]answer
	closed   bool // after cleanup: t must not be used any more
}

type answer struct {
	status int
	body   []byte
}

// Serve starts an HTTP server on the unix socket sock, closed by t.Cleanup. For every
// request it finds the operation by method and path, validates the body strictly (see
// Validate), records the request and answers the operation's lowest 2xx status, with a
// made-up body that fits the schema when that answer has JSON content (GET / of
// Firecracker gets an InstanceInfo). A request that does not fit gets 400 with a
// {"fault_message": ...} body, as Firecracker answers, and fails t with t.Errorf.
func (s *Spec) Serve(t testing.TB, sock string) *Recorder {
	t.Helper()
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("vmmapitest: listening on %s: %v", sock, err)
	}
	rec := &Recorder{spec: s, t: t, answers: map[*route]answer{}}
	srv := &http.Server{Handler: rec}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
		// A handler still running takes mu to report; after this none will use t.
		rec.mu.Lock()
		rec.closed = true
		rec.mu.Unlock()
	})
	return rec
}

// Answer makes the server answer every request to the operation that method and path
// resolve to (a wire path or the spec's template, e.g. /drives/{drive_id}) with status
// and body (marshalled to JSON; nil for none), after validating the request as usual.
// Use it to fake a VMM's other answers, such as a 400 with a fault message. A body that
// does not fit the schema the spec gives that status fails the test.
func (r *Recorder) Answer(method, path string, status int, body any) {
	r.t.Helper()
	rt, err := r.spec.find(method, path)
	if err != nil {
		r.t.Errorf("vmmapitest: Answer: %v", err)
		return
	}
	var raw []byte
	if body != nil {
		if raw, err = json.Marshal(body); err != nil {
			r.t.Errorf("vmmapitest: Answer: marshalling the body for %s %s: %v", method, path, err)
			return
		}
		if schema := rt.responseSchema(status); schema != nil {
			value, _ := decodeOneJSON(raw)
			if err := schema.VisitJSON(value, asResponse...); err != nil {
				r.t.Errorf("vmmapitest: Answer: the %d body for %s %s does not fit the spec: %v", status, method, rt.template, err)
			}
		}
	}
	r.mu.Lock()
	r.answers[rt] = answer{status: status, body: raw}
	r.mu.Unlock()
}

// Requests is a copy of every request received so far, in arrival order.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Calls is "METHOD /path" of every request received so far, in arrival order.
func (r *Recorder) Calls() []string {
	var calls []string
	for _, req := range r.Requests() {
		calls = append(calls, req.String())
	}
	return calls
}

func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "reading the body", http.StatusBadRequest)
		return
	}
	if len(body) == 0 {
		body = nil
	}
	path := req.URL.Path
	rt, problem := r.spec.validate(req.Method, path, body)
	if problem == nil {
		problem = checkRequestHead(req, rt, body)
	}

	var status int
	var reply []byte
	if problem == nil {
		r.mu.Lock()
		a, overridden := r.answers[rt]
		r.mu.Unlock()
		if overridden {
			status, reply = a.status, a.body
		} else if status, reply, err = rt.successResponse(); err != nil {
			problem = fmt.Errorf("vmmapitest cannot answer: %w", err)
		}
	}
	if problem != nil {
		status = http.StatusBadRequest
		reply, _ = json.Marshal(map[string]string{"fault_message": problem.Error()})
	}

	r.mu.Lock()
	r.requests = append(r.requests, Request{Method: req.Method, Path: path, Body: body, Problem: problem})
	if problem != nil && !r.closed {
		r.t.Errorf("vmmapitest: %s request does not fit the spec: %v", r.spec.name, problem)
	}
	r.mu.Unlock()

	if reply != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(reply)
}

// checkRequestHead checks what Validate cannot see: the query and the body's media type.
func checkRequestHead(req *http.Request, rt *route, body []byte) error {
	if req.URL.RawQuery != "" {
		for _, p := range rt.op.Parameters {
			if p.Value != nil && p.Value.In == "query" {
				return nil
			}
		}
		return fmt.Errorf("%s %s: the operation takes no query, got %q", req.Method, req.URL.Path, req.URL.RawQuery)
	}
	if body == nil {
		return nil
	}
	ct := req.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("%s %s: a JSON body needs Content-Type application/json, got %q", req.Method, req.URL.Path, ct)
	}
	return nil
}
