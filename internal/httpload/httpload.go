// Package httpload is isobench's HTTP load generator (vegeta's library): a fixed number
// of requests in flight against one URL, and a start-up probe that waits for the first
// 200 response, with what every benchmark that loads a web server shares: its settings,
// the site of files it serves, and the load of each file with its host CPU cost.
package httpload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	nethttp "net/http"
	"os"
	"strconv"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// MaxErrorRatio is the share of failed requests (not 200 with the full body length, or no
// response) above which a load fails rather than reports.
const MaxErrorRatio = 0.01

// pollInterval is how often the start-up probe asks for the page.
const pollInterval = 2 * time.Millisecond

// requestTimeout bounds one request.
const requestTimeout = 10 * time.Second

// Options set one load.
type Options struct {
	// Concurrency is the number of requests kept in flight, each on its own keep-alive
	// connection; a new request goes out as soon as one is answered.
	Concurrency int
	// Duration is how long the URL is requested.
	Duration time.Duration
	// MaxRequests bounds the requests, whatever the duration.
	MaxRequests int
}

// Content is size bytes of printable text from a fixed seed, the same in every trial;
// text keeps the page a plausible page, and the seed keeps results comparable.
func Content(size int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n"
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, size)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// directTransport talks to the container only: no proxy from the environment, no
// compression (a server would deflate the page and change what is measured).
func directTransport(conns int) *nethttp.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &nethttp.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		DisableCompression:  true,
		DisableKeepAlives:   conns == 0,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
	}
}

// WaitFor200 asks for url every pollInterval, each on a new connection, until a 200 comes
// back, and returns the time from started until that response arrived.
func WaitFor200(ctx context.Context, url string, started time.Time, timeout time.Duration) (time.Duration, error) {
	client := &nethttp.Client{
		Transport: directTransport(0),
		Timeout:   time.Second,
		CheckRedirect: func(*nethttp.Request, []*nethttp.Request) error {
			return nethttp.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	pollCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	maxPolls := int(timeout/pollInterval) + 1
	var lastErr error
	for i := 0; i < maxPolls; i++ {
		req, err := nethttp.NewRequestWithContext(pollCtx, nethttp.MethodGet, url, nil)
		if err != nil {
			return 0, fmt.Errorf("request for %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			code := resp.StatusCode
			resp.Body.Close()
			if code == nethttp.StatusOK {
				return time.Since(started), nil
			}
			lastErr = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			lastErr = err
		}
		select {
		case <-pollCtx.Done():
			return 0, fmt.Errorf("no 200 within %s: %w", timeout, lastErr)
		case <-time.After(pollInterval):
		}
	}
	return 0, fmt.Errorf("no 200 after %d requests: %w", maxPolls, lastErr)
}

// Attack requests url for the configured duration (at most MaxRequests times) with a
// fixed number of requests in flight: at an unlimited rate vegeta starts exactly
// Concurrency workers, each sending its next request when the last one is answered.
// A response counts as good when it is 200 with a Content-Length of size.
func Attack(ctx context.Context, url string, size int, o Options) (*vegeta.Metrics, error) {
	if o.Concurrency < 1 || o.Duration <= 0 || o.MaxRequests < 1 {
		return nil, fmt.Errorf("load options %+v: concurrency, duration and request bound must be positive", o)
	}
	client := &nethttp.Client{
		Transport: directTransport(o.Concurrency),
		Timeout:   requestTimeout,
		CheckRedirect: func(*nethttp.Request, []*nethttp.Request) error {
			return nethttp.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	workers := uint64(o.Concurrency)
	attacker := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(workers),
		vegeta.MaxWorkers(workers),
		// The body is read to the end and dropped; its length is checked from the header.
		vegeta.MaxBody(0),
	)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: nethttp.MethodGet, URL: url})
	unlimited := vegeta.Rate{Freq: 0, Per: time.Second}

	m := &vegeta.Metrics{}
	wrong := 0
	stopped := false
	for res := range attacker.Attack(targeter, unlimited, o.Duration, "isobench") {
		m.Add(res)
		if res.Code != nethttp.StatusOK || res.Headers.Get("Content-Length") != strconv.Itoa(size) {
			wrong++
		}
		if !stopped && (int(m.Requests) >= o.MaxRequests || ctx.Err() != nil) {
			stopped = true
			attacker.Stop()
		}
	}
	m.Close()
	if err := ctx.Err(); err != nil {
		return m, err
	}
	if m.Requests == 0 {
		return m, errors.New("no request was made")
	}
	if ratio := float64(wrong) / float64(m.Requests); ratio > MaxErrorRatio {
		return m, fmt.Errorf("%d of %d requests failed or came back short (status codes %v, errors %q)",
			wrong, m.Requests, m.StatusCodes, firstN(m.Errors, 3))
	}
	return m, nil
}

// WriteReport keeps vegeta's JSON report of m at path.
func WriteReport(path string, m *vegeta.Metrics) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("keeping raw output: %w", err)
	}
	err = vegeta.NewJSONReporter(m).Report(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
