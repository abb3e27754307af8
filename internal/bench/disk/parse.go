package disk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
)

// FioResult is the part of fio's --output-format=json report the benchmark uses.
type FioResult struct {
	Version string   `json:"fio version"`
	Jobs    []FioJob `json:"jobs"`
}

// FioJob is one job of a fio report.
type FioJob struct {
	Name  string   `json:"jobname"`
	Error int      `json:"error"`
	Read  FioStats `json:"read"`
	Write FioStats `json:"write"`
}

// FioStats are one direction's results of a job.
type FioStats struct {
	IOBytes        int64   `json:"io_bytes"`
	BytesPerSecond float64 `json:"bw_bytes"`
	IOPS           float64 `json:"iops"`
	TotalIOs       int64   `json:"total_ios"`
	RuntimeMs      int64   `json:"runtime"`
	Clat           struct {
		N int64 `json:"N"`
		// Percentile maps "99.000000" to nanoseconds.
		Percentile map[string]float64 `json:"percentile"`
	} `json:"clat_ns"`
}

// MiBPerSecond is the bandwidth in MiB/s.
func (s FioStats) MiBPerSecond() float64 { return s.BytesPerSecond / (1 << 20) }

// ClatP99Micros is the 99th percentile completion latency in microseconds (with psync
// there is no submission latency, so this is the whole I/O).
func (s FioStats) ClatP99Micros() (float64, error) {
	ns, ok := s.Clat.Percentile["99.000000"]
	if !ok {
		return 0, errors.New("fio report has no 99th percentile completion latency (clat_ns.percentile)")
	}
	return ns / 1e3, nil
}

// ParseFio reads fio's JSON report. fio prints error lines on stdout ahead of the JSON, so
// the report starts at the first line that opens a JSON object; a job that failed is an
// error naming the job and the errno.
func ParseFio(out []byte) (*FioResult, error) {
	start := -1
	if bytes.HasPrefix(out, []byte("{")) {
		start = 0
	} else if i := bytes.Index(out, []byte("\n{")); i >= 0 {
		start = i + 1
	}
	if start < 0 {
		if len(bytes.TrimSpace(out)) == 0 {
			return nil, errors.New("fio printed no report")
		}
		return nil, fmt.Errorf("fio printed no JSON report: %q", firstLine(out))
	}
	var res FioResult
	if err := json.NewDecoder(bytes.NewReader(out[start:])).Decode(&res); err != nil {
		return nil, fmt.Errorf("fio JSON report is incomplete or malformed (cut short?): %w", err)
	}
	if len(res.Jobs) == 0 {
		return nil, errors.New("fio report has no jobs")
	}
	for _, j := range res.Jobs {
		if j.Error != 0 {
			msg := fmt.Sprintf("fio job %s failed: error %d (%v)", j.Name, j.Error, syscall.Errno(j.Error))
			if start > 0 {
				msg += ": " + firstLine(out)
			}
			return nil, errors.New(msg)
		}
	}
	return &res, nil
}

// BytesMoved is what every job read and wrote.
func (r *FioResult) BytesMoved() int64 {
	var n int64
	for _, j := range r.Jobs {
		n += j.Read.IOBytes + j.Write.IOBytes
	}
	return n
}

// Job finds a job by name.
func (r *FioResult) Job(name string) (*FioJob, error) {
	for i := range r.Jobs {
		if r.Jobs[i].Name == name {
			return &r.Jobs[i], nil
		}
	}
	return nil, fmt.Errorf("fio report has no job %q", name)
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	return string(line)
}
