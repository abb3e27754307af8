package runtime

import (
	"fmt"
	"reflect"

	"github.com/isobench/isobench/internal/strictyaml"
)

// Option keys that several drivers (and the report) share.
const (
	OptionRuntime    = "runtime"     // engines: the runtime name the engine knows
	OptionOCIRuntime = "oci_runtime" // engines: the OCI runtime behind it (runc, crun, runsc)
	OptionHost       = "host"        // Docker-API engines: the endpoint
	OptionPlatform   = "platform"    // runsc: ptrace, systrap or kvm
	OptionNetwork    = "network"     // runsc: gVisor's network mode
	OptionAgent      = "agent"       // microVMs: the static isobench binary booted as init
)

// optionTypes holds each driver kind's declared options struct.
var optionTypes = map[string]reflect.Type{}

// DeclareOptions names the options a driver kind takes: opts is a struct (or a pointer to
// one) whose string fields carry `yaml` tags; a profile with any other key is refused. A
// struct with a Validate() error method also checks the values.
func DeclareOptions(driver string, opts any) {
	t := reflect.TypeOf(opts)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	mu.Lock()
	defer mu.Unlock()
	optionTypes[driver] = t
}

// CheckOptions refuses a profile whose options its driver does not declare, naming the
// allowed keys, or whose values the driver's options refuse.
func CheckOptions(p Profile) error {
	mu.Lock()
	t, ok := optionTypes[p.Driver]
	mu.Unlock()
	if !ok {
		if len(p.Options) == 0 {
			return nil
		}
		return fmt.Errorf("runtime %q: driver %s takes no options", p.Name, p.Driver)
	}
	return p.DecodeOptions(reflect.New(t).Interface())
}

// DecodeOptions fills opts, a pointer to the driver's options struct holding the defaults,
// from the profile's options. Unknown keys are refused with the allowed ones named; empty
// values mean "the default", as Option reads them.
func (p Profile) DecodeOptions(opts any) error {
	var keys []string
	set := map[string]string{}
	for k, v := range p.Options {
		keys = append(keys, k)
		if v != "" {
			set[k] = v
		}
	}
	err := strictyaml.CheckKeys(keys, opts)
	if err == nil {
		err = strictyaml.Decode(set, opts)
	}
	if err != nil {
		return fmt.Errorf("runtime %q (driver %s) options: %w", p.Name, p.Driver, err)
	}
	return nil
}
