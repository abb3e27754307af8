package guestproto

import (
	"strings"
	"testing"
)

func TestSpecSurvivesTheCommandLine(t *testing.T) {
	in := GuestSpec{Args: []string{"sh", "-c", "echo 'a b'; exit 3"}, Env: []string{"A=1"}, RootDevice: "/dev/vda",
		RootFSType: "ext4", Mounts: []GuestMount{{Type: "tmpfs", Destination: "/t", SizeBytes: 1 << 20}},
		Net: &GuestNet{Interface: "eth0", Address: "198.19.128.2/30", Gateway: "198.19.128.1"}}
	enc, err := EncodeSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(enc, " \t\n\"'") {
		t.Fatalf("encoded spec %q would be split by the kernel's command-line parser", enc)
	}
	got, ok := SpecFromCmdline("console=ttyS0 " + CmdlineSpecKey + "=" + enc + " panic=-1\n")
	if !ok {
		t.Fatal("spec not found on the command line")
	}
	out, err := DecodeSpec(got)
	if err != nil {
		t.Fatal(err)
	}
	if out.Args[1] != in.Args[1] || out.Net.Address != in.Net.Address || out.Mounts[0].SizeBytes != 1<<20 {
		t.Fatalf("round trip changed the spec: %+v", out)
	}
}

func TestEventsAreFoundBehindKernelNoise(t *testing.T) {
	line := FormatEvent(Event{Kind: EventStdout, Data: []byte("hi\x00\n")})
	e, ok := ParseEvent("[    1.2] random: x" + strings.TrimRight(line, "\n") + "\r")
	if !ok || e.Kind != EventStdout || string(e.Data) != "hi\x00\n" {
		t.Fatalf("ParseEvent = %+v, %v", e, ok)
	}
	e, ok = ParseEvent(strings.TrimSpace(FormatEvent(Event{Kind: EventExit, Value: 137})))
	if !ok || e.Value != 137 {
		t.Fatalf("exit event = %+v, %v", e, ok)
	}
	for _, bad := range []string{"plain kernel line", LinePrefix + "exit x", LinePrefix + "out !!", LinePrefix + "bogus 1"} {
		if _, ok := ParseEvent(bad); ok {
			t.Errorf("ParseEvent(%q) accepted a malformed line", bad)
		}
	}
}
