package results

// Stopping records how a run with a stopping rule (`isobench run --until-precision`)
// decided how many trials each series got; it is written into environment.json.
type Stopping struct {
	// Rule states the rule in words, as reports show it.
	Rule string `json:"rule"`
	// Precision is the target: the median's interval within +-Precision of the median (0.02 = 2%).
	Precision      float64 `json:"precision"`
	MaxTrials      int     `json:"max_trials"`
	MaxTimeSeconds float64 `json:"max_time_s,omitempty"`
	// Confidence is the chance that every interval the rule looked at covers its
	// series' median, all looks together; LookConfidence is each interval's own level.
	Confidence     float64 `json:"confidence"`
	LookConfidence float64 `json:"look_confidence"`
	// Checkpoints are the measured trial counts at which the rule looked.
	Checkpoints []int        `json:"checkpoints"`
	Series      []SeriesStop `json:"series"`
}

// Why a series got no more trials.
const (
	StopPrecise     = "precise"     // its median's interval met the target
	StopMaxTrials   = "max-trials"  // the last checkpoint was reached first
	StopMaxTime     = "max-time"    // the benchmark's time limit was reached first
	StopInterrupted = "interrupted" // the run was cut short
	StopNoSamples   = "no-samples"  // every trial of the runtime failed up to a checkpoint
)

// SeriesStop is the stopping rule's last look at one series. A runtime stops when all
// its series are precise, so a series can be precise earlier and keep getting trials.
type SeriesStop struct {
	Runtime   string `json:"runtime"`
	Benchmark string `json:"benchmark"`
	// Metric is empty for a runtime that left no sample (reason no-samples).
	Metric string            `json:"metric,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	Reason string            `json:"reason"`
	// Trials is the number of rounds the runtime took part in; N the samples of the series.
	Trials int     `json:"trials"`
	N      int     `json:"n"`
	Median float64 `json:"median"`
	// Low and High bound the median's order-statistic interval at LookConfidence, with
	// its actual Coverage; absent when N is too small for one.
	Low      *float64 `json:"low,omitempty"`
	High     *float64 `json:"high,omitempty"`
	Coverage float64  `json:"coverage,omitempty"`
	// HalfWidth is the interval's larger distance from the median relative to the median
	// (0.02 = +-2%); absent when there is no interval or the median is 0.
	HalfWidth *float64 `json:"half_width,omitempty"`
}
