// Package vmmapitest checks the requests of isobench's VMM API clients (Firecracker,
// Cloud Hypervisor) against the VMMs' own published API definitions, kept in testdata/.
// Neither VMM can run on a development machine, so a fake server that validates every
// request strictly against the upstream spec is the closest thing to the real API.
package vmmapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// Spec is one VMM's API definition as OpenAPI 3, with every object schema that lists
// its properties made closed (see closeObjectSchemas).
type Spec struct {
	name     string
	doc      *openapi3.T
	basePath string // the server URL's path ("/api/v1" for Cloud Hypervisor), without a trailing slash
	routes   []*route
}

// route is one operation: a method on a path template such as /drives/{drive_id}.
type route struct {
	method   string
	template string
	pattern  *regexp.Regexp
	params   int // templated segments; the route with fewer wins when several match
	op       *openapi3.Operation
}

// Load reads testdata/<name> of this package (found through runtime.Caller, so it works
// from any package's tests), converting a Swagger 2.0 document to OpenAPI 3.
func Load(t testing.TB, name string) *Spec {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatalf("vmmapitest: cannot find this package's directory")
	}
	s, err := LoadFile(filepath.Join(filepath.Dir(self), "testdata", name))
	if err != nil {
		t.Fatalf("vmmapitest: %v", err)
	}
	return s
}

// LoadFile is Load for any file, returning the error instead of failing a test.
func LoadFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading API definition: %w", err)
	}
	doc, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("loading API definition %s: %w", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("API definition %s is not valid OpenAPI: %w", path, err)
	}
	closeObjectSchemas(doc)
	s := &Spec{name: filepath.Base(path), doc: doc}
	if len(doc.Servers) > 0 {
		bp, err := doc.Servers.BasePath()
		if err != nil {
			return nil, fmt.Errorf("API definition %s: server base path: %w", path, err)
		}
		s.basePath = strings.TrimSuffix(bp, "/")
	}
	for template, item := range doc.Paths.Map() {
		pattern, params := templatePattern(s.basePath + template)
		for method, op := range item.Operations() {
			s.routes = append(s.routes, &route{method: method, template: template, pattern: pattern, params: params, op: op})
		}
	}
	if len(s.routes) == 0 {
		return nil, fmt.Errorf("API definition %s has no operations", path)
	}
	return s, nil
}

// parse decodes an OpenAPI 3 document, or a Swagger 2.0 one converted to OpenAPI 3.
func parse(data []byte) (*openapi3.T, error) {
	var head struct {
		Swagger string `yaml:"swagger"`
		OpenAPI string `yaml:"openapi"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	switch {
	case strings.HasPrefix(head.Swagger, "2."):
		var doc2 openapi2.T
		if err := openapi2.UnmarshalFromData(data, &doc2); err != nil {
			return nil, fmt.Errorf("decoding Swagger 2.0: %w", err)
		}
		doc, err := openapi2conv.ToV3(&doc2)
		if err != nil {
			return nil, fmt.Errorf("converting Swagger 2.0 to OpenAPI 3: %w", err)
		}
		return doc, nil
	case strings.HasPrefix(head.OpenAPI, "3."):
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			return nil, fmt.Errorf("decoding OpenAPI 3: %w", err)
		}
		return doc, nil
	}
	return nil, fmt.Errorf("neither swagger 2.x nor openapi 3.x (swagger %q, openapi %q)", head.Swagger, head.OpenAPI)
}

// closeObjectSchemas makes every object schema that lists properties but says nothing
// about others reject unknown fields (additionalProperties: false). The VMMs'
// deserializers (serde's deny_unknown_fields in Firecracker) refuse or silently drop
// such fields, and either way a misspelt field name in our clients is a bug.
// Objects without listed properties stay free-form, and allOf members are left open
// (closing them would make each reject the others' properties).
func closeObjectSchemas(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef, inAllOf bool)
	walk = func(ref *openapi3.SchemaRef, inAllOf bool) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil && !inAllOf {
			closed := false
			s.AdditionalProperties.Has = &closed
		}
		for _, p := range s.Properties {
			walk(p, false)
		}
		walk(s.Items, false)
		walk(s.AdditionalProperties.Schema, false)
		walk(s.Not, false)
		for _, sub := range s.AllOf {
			walk(sub, true)
		}
		for _, sub := range slices.Concat(s.AnyOf, s.OneOf) {
			walk(sub, false)
		}
	}
	if doc.Components != nil {
		for _, ref := range doc.Components.Schemas {
			walk(ref, false)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value != nil {
					walk(p.Value.Schema, false)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema, false)
				}
			}
			for _, resp := range op.Responses.Map() {
				if resp.Value != nil {
					for _, mt := range resp.Value.Content {
						walk(mt.Schema, false)
					}
				}
			}
		}
	}
}

// Schema errors name the failing field's JSON pointer and the reason, without kin's
// dumps of the whole schema and value.
var (
	asRequest  = []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails()}
	asResponse = []openapi3.SchemaValidationOption{openapi3.VisitAsResponse(), openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails()}
)

var templateParam = regexp.MustCompile(`\{[^}/]+\}`)

// templatePattern turns a path template into an anchored regexp where each {param}
// matches one non-empty path segment.
func templatePattern(template string) (*regexp.Regexp, int) {
	var b strings.Builder
	b.WriteString("^")
	last := 0
	params := templateParam.FindAllStringIndex(template, -1)
	for _, m := range params {
		b.WriteString(regexp.QuoteMeta(template[last:m[0]]))
		b.WriteString(`([^/]+)`)
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(template[last:]))
	b.WriteString("$")
	return regexp.MustCompile(b.String()), len(params)
}

// BasePath is the path every operation's path is under on the wire: "" for Firecracker,
// "/api/v1" for Cloud Hypervisor.
func (s *Spec) BasePath() string { return s.basePath }

// Version is the definition's info.version.
func (s *Spec) Version() string { return s.doc.Info.Version }

// find resolves a request's method and wire path (base path included) to its operation.
func (s *Spec) find(method, path string) (*route, error) {
	var best *route
	var methods []string
	for _, r := range s.routes {
		if !r.pattern.MatchString(path) {
			continue
		}
		if r.method != method {
			methods = append(methods, r.method)
			continue
		}
		if best == nil || r.params < best.params {
			best = r
		}
	}
	if best != nil {
		return best, nil
	}
	if len(methods) > 0 {
		sort.Strings(methods)
		return nil, fmt.Errorf("%s has no %s %s (that path takes %s)", s.name, method, path, strings.Join(slices.Compact(methods), ", "))
	}
	where := ""
	if s.basePath != "" {
		where = fmt.Sprintf(" (its paths are under %s)", s.basePath)
	}
	return nil, fmt.Errorf("%s has no path %s%s", s.name, path, where)
}

// Validate checks one request, given as sent on the wire: its method, its path with the
// spec's base path, and its raw body (nil or empty for none). The body must be one JSON
// value that the operation's request body schema accepts as a request: no unknown fields,
// every required field present, types, enums and bounds as the spec says.
func (s *Spec) Validate(method, path string, body []byte) error {
	_, err := s.validate(method, path, body)
	return err
}

func (s *Spec) validate(method, path string, body []byte) (*route, error) {
	r, err := s.find(method, path)
	if err != nil {
		return nil, err
	}
	if err := r.validateParams(path); err != nil {
		return r, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if err := r.validateBody(path, body); err != nil {
		if r.template != strings.TrimPrefix(path, s.basePath) {
			return r, fmt.Errorf("%s %s (%s): %w", method, path, r.template, err)
		}
		return r, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return r, nil
}

// pathParams maps the template's parameter names to their values in path.
func (r *route) pathParams(path string) map[string]string {
	values := r.pattern.FindStringSubmatch(path)[1:]
	params := map[string]string{}
	for i, name := range templateParam.FindAllString(r.template, -1) {
		params[strings.Trim(name, "{}")] = values[i]
	}
	return params
}

// validateParams checks the templated path segments against their parameters' schemas.
func (r *route) validateParams(path string) error {
	for name, v := range r.pathParams(path) {
		p := r.op.Parameters.GetByInAndName(openapi3.ParameterInPath, name)
		if p == nil || p.Schema == nil || p.Schema.Value == nil {
			continue
		}
		if err := p.Schema.Value.VisitJSON(v, asRequest...); err != nil {
			return fmt.Errorf("path parameter %s=%q: %w", name, v, err)
		}
	}
	return nil
}

func (r *route) validateBody(path string, body []byte) error {
	empty := len(bytes.TrimSpace(body)) == 0
	if r.op.RequestBody == nil || r.op.RequestBody.Value == nil {
		if !empty {
			return fmt.Errorf("the operation takes no body, got %d bytes", len(body))
		}
		return nil
	}
	rb := r.op.RequestBody.Value
	if empty {
		if rb.Required {
			return errors.New("the operation requires a JSON body, got none")
		}
		return nil
	}
	mt := rb.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return errors.New("the operation takes no JSON body")
	}
	value, err := decodeOneJSON(body)
	if err != nil {
		return err
	}
	if err := mt.Schema.Value.VisitJSON(value, asRequest...); err != nil {
		return fmt.Errorf("body %s: %w", body, err)
	}
	// Firecracker refuses a body whose id differs from the path's ("The id from the path
	// does not match the id from the body!"); the spec cannot say so.
	if obj, ok := value.(map[string]any); ok {
		for name, v := range r.pathParams(path) {
			if field, ok := obj[name]; ok && field != v {
				return fmt.Errorf("body field %s=%v differs from the path's %s", name, field, v)
			}
		}
	}
	return nil
}

// decodeOneJSON decodes exactly one JSON value; trailing data is an error, as for the VMMs.
func decodeOneJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("body is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("body has data after its JSON value")
	}
	return v, nil
}

// CheckBody reports through t.Errorf when body, marshalled to JSON, is not a valid
// request body for method and path (wire path, base path included).
func (s *Spec) CheckBody(t testing.TB, method, path string, body any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Errorf("vmmapitest: marshalling the body of %s %s: %v", method, path, err)
		return
	}
	if err := s.Validate(method, path, raw); err != nil {
		t.Errorf("vmmapitest: %v", err)
	}
}

// successResponse is the operation's lowest 2xx answer and, when that answer has JSON
// content, a body the schema accepts.
func (r *route) successResponse() (int, []byte, error) {
	status := 0
	for code := range r.op.Responses.Map() {
		var n int
		if _, err := fmt.Sscanf(code, "%d", &n); err == nil && n/100 == 2 && (status == 0 || n < status) {
			status = n
		}
	}
	if status == 0 {
		return 0, nil, fmt.Errorf("%s %s has no 2xx response", r.method, r.template)
	}
	schema := r.responseSchema(status)
	if schema == nil {
		return status, nil, nil
	}
	value := sample(schema, 0)
	if err := schema.VisitJSON(value, asResponse...); err != nil {
		return 0, nil, fmt.Errorf("made-up %d answer of %s %s does not fit its schema: %w", status, r.method, r.template, err)
	}
	raw, err := json.Marshal(value)
	return status, raw, err
}

// responseSchema is the JSON schema of the operation's answer with status, if any.
func (r *route) responseSchema(status int) *openapi3.Schema {
	resp := r.op.Responses.Status(status)
	if resp == nil || resp.Value == nil {
		return nil
	}
	mt := resp.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

// sample makes the smallest value a schema accepts: required fields only, first enum
// values, empty arrays, minimums. Enough for an answer our clients may decode.
func sample(s *openapi3.Schema, depth int) any {
	if s == nil || depth > 32 {
		return nil
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	if s.Default != nil {
		return s.Default
	}
	switch {
	case s.Type.Is(openapi3.TypeObject) || len(s.Properties) > 0:
		obj := map[string]any{}
		for _, name := range s.Required {
			if p := s.Properties[name]; p != nil {
				obj[name] = sample(p.Value, depth+1)
			}
		}
		return obj
	case s.Type.Is(openapi3.TypeArray):
		return []any{}
	case s.Type.Is(openapi3.TypeString):
		return ""
	case s.Type.Is(openapi3.TypeInteger), s.Type.Is(openapi3.TypeNumber):
		if s.Min != nil {
			return *s.Min
		}
		return 0
	case s.Type.Is(openapi3.TypeBoolean):
		return false
	}
	return nil
}
