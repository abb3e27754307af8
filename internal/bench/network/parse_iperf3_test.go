package network

import (
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/bench/benchtest"
)

// The testdata files are real outputs of iperf3 3.12 (-J, client against `iperf3 -s -1` on
// 127.0.0.1) on Debian 12; the truncated one is the start of iperf3-tcp.json.

func TestParseIperf3(t *testing.T) {
	tcp, err := ParseIperf3(benchtest.Testdata(t, "iperf3-tcp.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Iperf3Result{Protocol: "TCP", Streams: 1, Seconds: 2.000599, BitsPerSecond: 24812886748.41885,
		SentBitsPerSecond: 24845026941.435814, Retransmits: 0}
	tcp.HostCPUPercent, tcp.RemoteCPUPercent = 0, 0
	if tcp != want {
		t.Errorf("tcp:\n got %+v\nwant %+v", tcp, want)
	}

	rev, err := ParseIperf3(benchtest.Testdata(t, "iperf3-tcp-reverse.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !rev.Reverse || rev.BitsPerSecond != 26903018177.94557 {
		t.Errorf("reverse: got %+v", rev)
	}

	udp, err := ParseIperf3(benchtest.Testdata(t, "iperf3-udp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if udp.Protocol != "UDP" || udp.Retransmits != -1 || udp.Packets != 763 || udp.JitterMs != 0.006395465913304148 ||
		udp.BitsPerSecond != 99992437.1722383 || !(udp.HostCPUPercent > 0) {
		t.Errorf("udp: got %+v", udp)
	}
}

func TestParseIperf3Failures(t *testing.T) {
	for file, want := range map[string]string{
		"iperf3-refused.json":       "iperf3: unable to connect to server: Connection refused",
		"iperf3-server-killed.json": "iperf3: the server has terminated",
		"iperf3-truncated.json":     "cut short",
	} {
		_, err := ParseIperf3(benchtest.Testdata(t, file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, err, want)
		}
	}
	if _, err := ParseIperf3(nil); err == nil || !strings.Contains(err.Error(), "no report") {
		t.Errorf("empty output: error %v", err)
	}
	// The server-killed report without its error field: its summary says nothing was received.
	killed := strings.Replace(string(benchtest.Testdata(t, "iperf3-server-killed.json")), `"error":`, `"ignored":`, 1)
	if _, err := ParseIperf3([]byte(killed)); err == nil || !strings.Contains(err.Error(), "no data") {
		t.Errorf("summary with zero bytes received: error %v, want \"no data\"", err)
	}
}
