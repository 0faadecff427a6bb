package loadgen

import (
	"math"
	"slices"
	"time"
)

// Rate is n per second of elapsed (0 when nothing elapsed).
func Rate(n int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}

// Latencies summarises a sample of durations.
type Latencies struct {
	Count              int
	P50, P95, P99, Max time.Duration
}

// Summarize sorts sample in place and returns its percentiles.
func Summarize(sample []time.Duration) Latencies {
	slices.Sort(sample)
	if len(sample) == 0 {
		return Latencies{}
	}
	return Latencies{
		Count: len(sample),
		P50:   Percentile(sample, 50),
		P95:   Percentile(sample, 95),
		P99:   Percentile(sample, 99),
		Max:   sample[len(sample)-1],
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of a
// sorted sample: the smallest value that at least p% of the sample is less
// than or equal to. Nearest rank never invents a value the sample did not
// have, which matters for the tail of small samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := min(max(int(math.Ceil(float64(n)*p/100)), 1), n)
	return sorted[rank-1]
}
