package results

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// TrialParam is the sample param that numbers trials; series never differ by it.
const TrialParam = "trial"

// Params are the values that tell series of one metric apart (threads=1, n=10), the
// trial aside. Their canonical string form sorts the keys and escapes the separators,
// so the form can always be parsed back.
type Params map[string]string

// ParamsOf is the series part of a sample's params: every param but the trial.
func ParamsOf(p map[string]string) Params {
	out := make(Params, len(p))
	for k, v := range p {
		if k != TrialParam {
			out[k] = v
		}
	}
	return out
}

// paramsEscaper escapes the separators of the canonical form and the escape itself.
var paramsEscaper = strings.NewReplacer(`\`, `\\`, `,`, `\,`, `=`, `\=`)

// String is the canonical form: "k=v" pairs sorted by key, joined by ",", with "\",
// "," and "=" inside keys and values escaped by "\". Plain params read as before
// ("block=1KiB,threads=4").
func (p Params) String() string {
	if len(p) == 0 {
		return ""
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(p)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(paramsEscaper.Replace(k))
		b.WriteByte('=')
		b.WriteString(paramsEscaper.Replace(p[k]))
	}
	return b.String()
}

// ParseParams reads the canonical form back; it refuses input that String cannot have
// written.
func ParseParams(s string) (Params, error) {
	p := Params{}
	if s == "" {
		return p, nil
	}
	var key, cur strings.Builder
	inValue := false
	flush := func() error {
		if !inValue {
			return fmt.Errorf("params %q: pair %q has no '='", s, cur.String())
		}
		k := key.String()
		if _, dup := p[k]; dup {
			return fmt.Errorf("params %q: key %q twice", s, k)
		}
		p[k] = cur.String()
		key.Reset()
		cur.Reset()
		inValue = false
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("params %q: ends in a lone '\\'", s)
			}
			i++
			cur.WriteByte(s[i])
		case c == '=' && !inValue:
			key.WriteString(cur.String())
			cur.Reset()
			inValue = true
		case c == '=':
			return nil, fmt.Errorf("params %q: unescaped '=' in a value", s)
		case c == ',':
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(c)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return p, nil
}

// MustParseParams is ParseParams for a string made by Params.String.
func MustParseParams(s string) Params {
	p, err := ParseParams(s)
	if err != nil {
		panic(err)
	}
	return p
}

// SeriesKey identifies one series: all samples of one metric of one runtime on one
// host with the same params (the trial aside).
type SeriesKey struct {
	Host      string
	Runtime   string
	Benchmark string
	Metric    string
	// Params is the canonical form of the series' Params (see Params.String).
	Params string
}

// KeyOf is the series a sample belongs to.
func KeyOf(s Sample) SeriesKey {
	return SeriesKey{Host: s.Host, Runtime: s.Runtime, Benchmark: s.Benchmark, Metric: s.Metric, Params: ParamsOf(s.Params).String()}
}

// WithRuntime is the same series of another runtime.
func (k SeriesKey) WithRuntime(rt string) SeriesKey {
	k.Runtime = rt
	return k
}

// Title is the series' metric in words, without runtime and host: "startup/total [n=10]".
func (k SeriesKey) Title() string {
	t := k.Benchmark + "/" + k.Metric
	if k.Params != "" {
		t += " [" + k.Params + "]"
	}
	return t
}

// Name is the series in words: "runc startup/total [n=10]", prefixed by the host when
// withHost is set.
func (k SeriesKey) Name(withHost bool) string {
	s := k.Runtime + " " + k.Title()
	if withHost && k.Host != "" {
		s = k.Host + ": " + s
	}
	return s
}

// Compare orders keys by host, runtime, benchmark, metric and params.
func (k SeriesKey) Compare(o SeriesKey) int {
	return cmpStrings([]string{k.Host, k.Runtime, k.Benchmark, k.Metric, k.Params},
		[]string{o.Host, o.Runtime, o.Benchmark, o.Metric, o.Params})
}

func cmpStrings(a, b []string) int {
	for i := range a {
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// Series holds the values of one series with what a reader needs to judge them.
type Series struct {
	Key    SeriesKey
	Unit   string
	Better Better
	// Emulated is set when environment.json marks the runtime emulated (a VM under TCG):
	// its numbers are not comparable with the others'.
	Emulated bool
	// Caveat is what the benchmark declared a reader must know about the metric, or "".
	Caveat string
	// Values are sorted ascending once loaded; Trials[i] is the trial Values[i] came from.
	Values []float64
	Trials []int
	// Info holds every "key=value" fact the samples carried (the network stack that
	// served them), each once.
	Info map[string]bool
}

// Add appends one value of the series (unsorted until Sort).
func (s *Series) Add(value float64, trial int) {
	s.Values = append(s.Values, value)
	s.Trials = append(s.Trials, trial)
}

// Sort orders Values ascending, keeping each value's trial beside it.
func (s *Series) Sort() {
	if slices.IsSorted(s.Values) {
		return
	}
	idx := make([]int, len(s.Values))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch va, vb := s.Values[a], s.Values[b]; {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return 0
	})
	vs, ts := make([]float64, len(idx)), make([]int, len(idx))
	for i, j := range idx {
		vs[i], ts[i] = s.Values[j], s.Trials[j]
	}
	s.Values, s.Trials = vs, ts
}

// ByTrial is the median value of each trial (most benchmarks give one value per trial
// and series; some give several), for pairing the rounds of an interleaved run.
func (s *Series) ByTrial() map[int]float64 {
	groups := map[int][]float64{}
	for i, v := range s.Values {
		groups[s.Trials[i]] = append(groups[s.Trials[i]], v)
	}
	out := make(map[int]float64, len(groups))
	for t, vs := range groups {
		slices.Sort(vs)
		m := len(vs) / 2
		if len(vs)%2 == 1 {
			out[t] = vs[m]
		} else {
			out[t] = (vs[m-1] + vs[m]) / 2
		}
	}
	return out
}
