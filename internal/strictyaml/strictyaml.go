// Package strictyaml decodes settings given by key (a config file's benchmark settings, a
// profile's options) into the struct that declares them, refusing keys the struct lacks
// with the allowed ones named, and values its Validate method refuses.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode fills into, a pointer to a struct holding the defaults, from values. A struct
// with a Validate() error method then checks the result.
func Decode[V any](values map[string]V, into any) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	if err := CheckKeys(keys, into); err != nil {
		return err
	}
	raw, err := yaml.Marshal(values)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		return errors.New(oneLine(err.Error()))
	}
	if v, ok := into.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// CheckKeys refuses keys that into, a pointer to a struct, has no field for, naming the
// ones it has.
func CheckKeys(keys []string, into any) error {
	allowed := Keys(reflect.TypeOf(into).Elem())
	var unknown []string
	for _, k := range keys {
		if !allowed[k] {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("unknown key %s: allowed are %s", strings.Join(unknown, ", "), strings.Join(sorted(allowed), ", "))
}

// OneOf checks that the value of key is one of allowed ("" is the default and passes).
func OneOf(key, value string, allowed ...string) error {
	if value == "" {
		return nil
	}
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return fmt.Errorf("%s: %q is not one of %s", key, value, strings.Join(allowed, ", "))
}

// Keys is the set of yaml keys of a struct's fields, inlined structs included.
func Keys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, flags, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(flags, "inline") && f.Type.Kind() == reflect.Struct {
			for k := range Keys(f.Type) {
				keys[k] = true
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = true
	}
	return keys
}

func sorted(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// oneLine folds the YAML library's multi-line errors into one line.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "yaml: unmarshal errors:\n", "")
	return strings.Join(strings.Fields(s), " ")
}
