package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
)

// TCPResult is what `probe tcp-client` prints. Latencies are round trips of one request and
// its equally sized response on one connection, in microseconds.
type TCPResult struct {
	// Count is the number of timed round trips; less than Requested when the timeout came first.
	Count     int     `json:"count"`
	Requested int     `json:"requested"`
	Size      int     `json:"size"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	MinUs     float64 `json:"min_us"`
	MaxUs     float64 `json:"max_us"`
	MeanUs    float64 `json:"mean_us"`
	// TimedOut tells that the time bound, not the count, ended the run.
	TimedOut bool `json:"timed_out"`
}

// tcpWarmup round trips are made before timing, to leave slow start and first-touch costs out.
const tcpWarmup = 100

func runTCPServer(args []string, stdout io.Writer) error {
	fs := newFlagSet("tcp-server")
	listen := fs.String("listen", "", "address to listen on, host:port")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *listen == "" {
		return usageError{errors.New("--listen is required")}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		ln.Close()
	}()
	if _, err := fmt.Fprintf(stdout, "listening %s\n", ln.Addr()); err != nil {
		return err
	}
	return ServeEcho(ln)
}

// ServeEcho echoes every connection accepted on ln until ln is closed, which ends it cleanly.
func ServeEcho(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("accepting: %w", err)
		}
		go func() {
			defer conn.Close()
			_, _ = io.Copy(conn, conn)
		}()
	}
}

func runTCPClient(args []string, stdout io.Writer) error {
	fs := newFlagSet("tcp-client")
	addr := fs.String("connect", "", "server address, host:port")
	count := fs.Int("count", 10000, "timed round trips")
	size := fs.Int("size", 1, "bytes per request and per response")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on the whole run, connecting included")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *addr == "" {
		return usageError{errors.New("--connect is required")}
	}
	if *count < 1 || *size < 1 || *timeout <= 0 {
		return usageError{errors.New("--count, --size and --timeout must be positive")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := PingPong(ctx, *addr, *count, *size)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// PingPong connects to an echo server (retrying until ctx ends, since the server may still
// be starting) and times count round trips of size bytes. When ctx ends first it reports
// the round trips done so far, and fails only if there were none.
func PingPong(ctx context.Context, addr string, count, size int) (*TCPResult, error) {
	conn, err := dialRetrying(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return nil, fmt.Errorf("setting deadline: %w", err)
		}
	}
	req := make([]byte, size)
	resp := make([]byte, size)
	roundTrip := func() error {
		if _, err := conn.Write(req); err != nil {
			return fmt.Errorf("sending: %w", err)
		}
		if _, err := io.ReadFull(conn, resp); err != nil {
			return fmt.Errorf("receiving: %w", err)
		}
		return nil
	}
	for i := 0; i < tcpWarmup; i++ {
		if err := roundTrip(); err != nil {
			return nil, fmt.Errorf("warm-up round trip %d: %w", i+1, err)
		}
	}
	rtts := make([]time.Duration, 0, count)
	timedOut := false
	for len(rtts) < count {
		start := time.Now()
		err := roundTrip()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && len(rtts) > 0 {
				timedOut = true
				break
			}
			return nil, fmt.Errorf("round trip %d: %w", len(rtts)+1, err)
		}
		rtts = append(rtts, time.Since(start))
	}
	return summarize(rtts, count, size, timedOut), nil
}

func dialRetrying(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to %s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func summarize(rtts []time.Duration, requested, size int, timedOut bool) *TCPResult {
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return &TCPResult{
		Count:     len(rtts),
		Requested: requested,
		Size:      size,
		P50us:     us(nearestRank(rtts, 50)),
		P99us:     us(nearestRank(rtts, 99)),
		MinUs:     us(rtts[0]),
		MaxUs:     us(rtts[len(rtts)-1]),
		MeanUs:    us(sum) / float64(len(rtts)),
		TimedOut:  timedOut,
	}
}

// nearestRank returns the p-th percentile of sorted values by the nearest-rank method.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}
