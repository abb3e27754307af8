package runner

import (
	"math"
	"time"
)

// The run's policy in one place: the CLI shows these defaults in its help, and
// Options.resolve applies them.
const (
	DefaultTrials = 10
	QuickTrials   = 3
	DefaultWarmup = 1
	// DefaultTimeout bounds one trial; QuickTimeout with --quick.
	DefaultTimeout = 10 * time.Minute
	QuickTimeout   = 2 * time.Minute

	// DefaultMaxTrials bounds the measured trials of a run with a StopRule.
	DefaultMaxTrials = 50
	// StopConfidence is the confidence that every interval the stopping rule looked at
	// covers its series' true median, all looks of the run together (Bonferroni).
	StopConfidence = 0.95
	// CheckpointGrowth is the factor between the trial counts at which the stopping rule
	// looks; looking at a few fixed points rather than after every round keeps the
	// correction for repeated looks small.
	CheckpointGrowth = 1.5
)

// resolve fills in the defaults and checks what the user gave; errors are InputErrors
// naming the flag.
func (o Options) resolve() (Options, error) {
	if o.Trials < 0 {
		return o, inputErr("--trials must be at least 1 (or 0 for the default, %d)", DefaultTrials)
	}
	if o.Trials == 0 {
		o.Trials = DefaultTrials
		if o.Quick {
			o.Trials = QuickTrials
		}
	}
	if o.Warmup < 0 {
		return o, inputErr("--warmup cannot be negative (0 runs no warm-up trial)")
	}
	if o.Timeout < 0 {
		return o, inputErr("--timeout cannot be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
		if o.Quick {
			o.Timeout = QuickTimeout
		}
	}
	if o.Until != nil {
		u := *o.Until
		if math.IsNaN(u.Precision) || u.Precision <= 0 || u.Precision >= 1 {
			return o, inputErr("--until-precision must lie between 0%% and 100%%, like 2%%")
		}
		if u.MaxTrials < 0 {
			return o, inputErr("--max-trials cannot be negative")
		}
		if u.MaxTrials == 0 {
			u.MaxTrials = max(DefaultMaxTrials, o.Trials)
		}
		if u.MaxTrials < o.Trials {
			return o, inputErr("--max-trials %d is below --trials %d: the first look is at --trials", u.MaxTrials, o.Trials)
		}
		if u.MaxTime < 0 {
			return o, inputErr("--max-time cannot be negative")
		}
		o.Until = &u
	}
	return o, nil
}
