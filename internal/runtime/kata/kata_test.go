package kata

import (
	"os"
	"path/filepath"
	"testing"
)

func TestKataHypervisor(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "configuration.toml")
	if err := os.WriteFile(cfg, []byte("# Kata\n[hypervisor.clh]\npath = \"/opt/kata/bin/cloud-hypervisor\"\n[agent.kata]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hv, err := Hypervisor(cfg)
	if err != nil || hv != "clh" {
		t.Errorf("KataHypervisor = %q, %v; want clh", hv, err)
	}
}
