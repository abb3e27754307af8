package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Iperf3Result is what one iperf3 client run (-J) measured.
type Iperf3Result struct {
	Protocol string // "TCP" or "UDP"
	Streams  int
	// Reverse is true when the server sent and the client received (-R).
	Reverse bool
	// Seconds is the measured duration on the receiving side.
	Seconds float64
	// BitsPerSecond is the rate the receiver got (goodput).
	BitsPerSecond float64
	// SentBitsPerSecond is the rate the sender put out.
	SentBitsPerSecond float64
	// Retransmits counts TCP segments the sender retransmitted; -1 when iperf3 did not
	// report them (UDP, or a platform without TCP_INFO).
	Retransmits int
	// UDP only: receiver-side jitter and loss.
	JitterMs    float64
	LostPackets int64
	Packets     int64
	LostPercent float64
	// CPU use of the client (host) and server (remote) in percent of one CPU.
	HostCPUPercent   float64
	RemoteCPUPercent float64
}

type iperf3Sum struct {
	Seconds       float64  `json:"seconds"`
	Bytes         int64    `json:"bytes"`
	BitsPerSecond float64  `json:"bits_per_second"`
	Retransmits   *int     `json:"retransmits"`
	JitterMs      *float64 `json:"jitter_ms"`
	LostPackets   int64    `json:"lost_packets"`
	Packets       int64    `json:"packets"`
	LostPercent   float64  `json:"lost_percent"`
}

type iperf3Report struct {
	Start struct {
		Version   string `json:"version"`
		TestStart struct {
			Protocol   string `json:"protocol"`
			NumStreams int    `json:"num_streams"`
			Reverse    int    `json:"reverse"`
		} `json:"test_start"`
	} `json:"start"`
	End struct {
		SumSent     *iperf3Sum `json:"sum_sent"`
		SumReceived *iperf3Sum `json:"sum_received"`
		// Sum is the UDP summary of iperf3 before 3.11 (receiver side).
		Sum *iperf3Sum `json:"sum"`
		CPU struct {
			HostTotal   float64 `json:"host_total"`
			RemoteTotal float64 `json:"remote_total"`
		} `json:"cpu_utilization_percent"`
	} `json:"end"`
	Error string `json:"error"`
}

// ParseIperf3 reads the JSON report of an iperf3 3.x client run with -J. A report carrying
// an error (connection refused, server gone), a cut-short report and a run that moved no
// data are errors.
func ParseIperf3(data []byte) (Iperf3Result, error) {
	var res Iperf3Result
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return res, errors.New("iperf3 printed no report")
	}
	var rep iperf3Report
	if err := json.Unmarshal(trimmed, &rep); err != nil {
		return res, fmt.Errorf("iperf3 JSON report is incomplete or malformed (cut short?): %w", err)
	}
	if rep.Error != "" {
		return res, fmt.Errorf("iperf3: %s", rep.Error)
	}
	received := rep.End.SumReceived
	if received == nil {
		received = rep.End.Sum
	}
	if received == nil || rep.End.SumSent == nil {
		return res, errors.New("iperf3 report has no end summary (sum_sent, sum_received)")
	}
	res = Iperf3Result{
		Protocol:          rep.Start.TestStart.Protocol,
		Streams:           rep.Start.TestStart.NumStreams,
		Reverse:           rep.Start.TestStart.Reverse != 0,
		Seconds:           received.Seconds,
		BitsPerSecond:     received.BitsPerSecond,
		SentBitsPerSecond: rep.End.SumSent.BitsPerSecond,
		Retransmits:       -1,
		LostPackets:       received.LostPackets,
		Packets:           received.Packets,
		LostPercent:       received.LostPercent,
		HostCPUPercent:    rep.End.CPU.HostTotal,
		RemoteCPUPercent:  rep.End.CPU.RemoteTotal,
	}
	if r := rep.End.SumSent.Retransmits; r != nil {
		res.Retransmits = *r
	}
	if j := received.JitterMs; j != nil {
		res.JitterMs = *j
	}
	if !(res.BitsPerSecond > 0) || received.Bytes == 0 {
		return res, fmt.Errorf("iperf3 measured no data received in %.1f s", received.Seconds)
	}
	return res, nil
}
