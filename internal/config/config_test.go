package config_test

import (
	"strings"
	"testing"

	_ "github.com/isobench/isobench/internal/bench/cpu"
	_ "github.com/isobench/isobench/internal/bench/startup"
	"github.com/isobench/isobench/internal/config"
	_ "github.com/isobench/isobench/internal/runtime/host"
	_ "github.com/isobench/isobench/internal/runtime/oci"
)

func TestUserProfileAddsAndReplaces(t *testing.T) {
	c, err := config.Parse(strings.NewReader(`
runtimes:
  - name: runc-dev
    driver: oci
    binary: /opt/runc-dev/runc
    global_args: [--debug]
    container_args: [--no-pivot]
  - name: runsc
    driver: oci
    binary: runsc
    options: {platform: systrap}
benchmarks:
  cpu: {time: 3s, threads: [1]}
network:
  subnet: 198.19.0.0/16
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := c.Profile("runc-dev")
	if err != nil {
		t.Fatal(err)
	}
	if dev.Binary != "/opt/runc-dev/runc" || dev.GlobalArgs[0] != "--debug" || dev.ContainerArgs[0] != "--no-pivot" {
		t.Errorf("runc-dev = %+v", dev)
	}
	rs, _ := c.Profile("runsc")
	if rs.Option("platform", "") != "systrap" {
		t.Errorf("runsc not replaced: %+v", rs)
	}
	if _, err := c.Profile("runc"); err != nil {
		t.Errorf("built-in runc lost: %v", err)
	}
	if c.Network.Subnet != "198.19.0.0/16" {
		t.Errorf("subnet = %q", c.Network.Subnet)
	}
	if c.BenchSettings("cpu")["time"] != "3s" {
		t.Errorf("settings = %v", c.BenchSettings("cpu"))
	}
}

func TestBadConfigs(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown key":       {"runtime:\n  - name: x\n", `unknown key "runtime": allowed are benchmarks, network, runtimes`},
		"profile key typo":  {"runtimes:\n  - {name: x, driver: oci, binray: runc}\n", `unknown key "binray": allowed are binary, container_args, description, driver, global_args, name, options`},
		"network key typo":  {"network:\n  subnte: 198.18.0.0/16\n", `unknown key "subnte": allowed are subnet`},
		"no name":           {"runtimes:\n  - driver: oci\n", "has no name"},
		"bad name":          {"runtimes:\n  - name: Bad Name\n    driver: oci\n", "use lower-case"},
		"no driver":         {"runtimes:\n  - name: x\n", "has no driver"},
		"unknown driver":    {"runtimes:\n  - name: x\n    driver: lxc\n", `unknown driver "lxc"`},
		"twice":             {"runtimes:\n  - {name: x, driver: oci}\n  - {name: x, driver: oci}\n", "defined twice"},
		"unknown bench":     {"benchmarks:\n  nope: {}\n", `unknown benchmark "nope"`},
		"bad subnet":        {"network:\n  subnet: banana\n", "IPv4 prefix"},
		"not yaml":          {"runtimes: [", "not valid"},
		"subnet too small":  {"network:\n  subnet: 198.18.0.0/30\n", "IPv4 prefix"},
		"setting typo":      {"benchmarks:\n  cpu: {tme: 3s}\n", `benchmark cpu settings: unknown key "tme": allowed are max_prime, threads, time`},
		"setting value":     {"benchmarks:\n  cpu: {time: soon}\n", `"soon" is not a duration`},
		"settings refused":  {"benchmarks:\n  cpu: {threads: []}\n", "threads not empty"},
		"no settings":       {"benchmarks:\n  startup: {trials_hint: 3}\n", "benchmark startup takes no settings"},
		"option typo":       {"runtimes:\n  - {name: x, driver: oci, binary: runsc, options: {platfrom: systrap}}\n", `unknown key "platfrom": allowed are flavor, network, platform`},
		"platform typo":     {"runtimes:\n  - {name: x, driver: oci, binary: runsc, options: {platform: sytrap}}\n", `platform: "sytrap" is not one of ptrace, systrap, kvm`},
		"network typo":      {"runtimes:\n  - {name: x, driver: oci, binary: runsc, options: {network: hots}}\n", `network: "hots" is not one of sandbox, host, none`},
		"flavor typo":       {"runtimes:\n  - {name: x, driver: oci, binary: runsc, options: {flavor: gvisor}}\n", `flavor: "gvisor" is not one of runc, crun, runsc`},
		"host options":      {"runtimes:\n  - {name: x, driver: host, options: {a: b}}\n", "driver host takes no options"},
		"subnet 10/8":       {"network:\n  subnet: 10.0.0.0/8\n", "outside 198.18.0.0/15"},
		"subnet public":     {"network:\n  subnet: 8.8.8.0/24\n", "outside 198.18.0.0/15"},
		"subnet loopback":   {"network:\n  subnet: 127.0.0.0/8\n", "outside 198.18.0.0/15"},
		"subnet multicast":  {"network:\n  subnet: 224.0.0.0/4\n", "outside 198.18.0.0/15"},
		"subnet half":       {"network:\n  subnet: 0.0.0.0/1\n", "outside 198.18.0.0/15"},
		"subnet wider":      {"network:\n  subnet: 198.16.0.0/14\n", "outside 198.18.0.0/15"},
		"subnet 192.168":    {"network:\n  subnet: 192.168.0.0/16\n", "outside 198.18.0.0/15"},
		"subnet host bits":  {"network:\n  subnet: 198.19.0.1/16\n", "give the network address, 198.19.0.0/16"},
		"duration NaN":      {"benchmarks:\n  cpu: {time: .nan}\n", "is not a duration"},
		"duration Inf":      {"benchmarks:\n  cpu: {time: .inf}\n", "is not a duration"},
		"duration huge":     {"benchmarks:\n  cpu: {time: 1e300}\n", "is not a duration"},
		"duration negative": {"benchmarks:\n  cpu: {time: -5}\n", "must be positive"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(tc.yaml), "bad.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestUnknownProfileSaysHowToAddOne(t *testing.T) {
	_, err := config.Default().Profile("youki")
	if err == nil || !strings.Contains(err.Error(), "runtimes:") {
		t.Fatalf("err = %v", err)
	}
}
