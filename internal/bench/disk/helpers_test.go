package disk

import "github.com/isobench/isobench/internal/bench"

type sampleRecord struct {
	metric string
	value  float64
	params map[string]string
}

func recordingTrial(into *[]sampleRecord) *bench.Trial {
	return &bench.Trial{Index: 1, Emit: func(metric string, v float64, params map[string]string) {
		*into = append(*into, sampleRecord{metric, v, params})
	}}
}
