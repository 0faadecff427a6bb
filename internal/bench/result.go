package bench

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/webhookd/webhookd/internal/loadgen"
)

// Result is everything the report prints.
type Result struct {
	opts   *Options
	target string // "sqlite (embedded)" or the URLs
	// RawBefore and RawAfter bracket the webhookd phase, so that a change
	// of the machine's load during the run shows (as their spread) and
	// biases the ratio less (raw_per_s is their mean).
	RawBefore loadgen.RawResult
	RawAfter  loadgen.RawResult
	// SignBefore and SignAfter are the RS256 signing rate (rs256 only),
	// measured around the webhookd phase like the raw baseline; signRate
	// is their mean.
	SignBefore, SignAfter SignResult
	// Phase is the scenario's publish phase, the one the result
	// line reports.
	Phase
	// Alone and Answering are the hang scenario's comparison phases, run
	// before the hanging one with the same events and destinations: the
	// healthy destinations alone, then beside the extra destination while
	// it still answers.
	Alone, Answering *Phase
	// Warmup is what was published first, not counted (--warmup).
	Warmup        *Phase
	ExtraReceived int // by the extra destination (hang), while it answered
	ExtraHeld     int // attempts it held while it hung, retries included
	Duplicates    int // deliveries received more than once
	Rejected      int // deliveries that failed signature verification
	Injected      int // first attempts the failing scenario failed
	// Cost is what the measured phases' events cost webhookd (and its
	// database), warm-up excluded.
	Cost Cost
}

// Phase is one publish phase: events published through the API and
// their healthy deliveries received, in one block or pooled from several
// (phaseRunner.block adds one, finish summarises).
type Phase struct {
	Name                   string
	Accepted, Failed, Late int               // publishes: accepted, failed, started late (--rate)
	Publishing             time.Duration     // the publish calls' span, summed over the blocks
	Calls                  loadgen.Latencies // of the publish calls
	Expected               int               // healthy deliveries expected
	Delivered              int               // of those, received and verified
	Elapsed                time.Duration     // first publish to last receipt, summed over the blocks
	Latency                loadgen.Latencies // event to receipt

	callSample, sample []time.Duration // pooled by block, summarised by finish
}

func (p *Phase) deliveriesPerSecond() float64 { return loadgen.Rate(p.Delivered, p.Elapsed) }
func (p *Phase) acceptedPerSecond() float64   { return loadgen.Rate(p.Accepted, p.Publishing) }

// finish summarises the pooled samples.
func (p *Phase) finish() {
	p.Calls, p.Latency = loadgen.Summarize(p.callSample), loadgen.Summarize(p.sample)
	p.callSample, p.sample = nil, nil
}

// Phases are the publish phases in the order they ran.
func (r *Result) Phases() []*Phase {
	var ps []*Phase
	for _, p := range []*Phase{r.Warmup, r.Alone, r.Answering} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return append(ps, &r.Phase)
}

// SignResult is one measurement of the RS256 signing rate.
type SignResult struct {
	PerSecond float64
	Took      time.Duration
}

// signRate is the RS256 signing rate around the webhookd phase.
func (r *Result) signRate() float64 {
	return bracketed(r.SignBefore.PerSecond, r.SignAfter.PerSecond)
}

// rawPerSecond is the raw baseline around the webhookd phase.
func (r *Result) rawPerSecond() float64 {
	return bracketed(r.RawBefore.PerSecond(), r.RawAfter.PerSecond())
}

// bracketed is a rate measured before and after the webhookd phase: their
// mean, or the one before if the run stopped early (after is zero).
func bracketed(before, after float64) float64 {
	if after == 0 {
		return before
	}
	return (before + after) / 2
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Print writes the report: the table, the latencies, the checks and, last,
// the result line.
func (r *Result) Print(w io.Writer) {
	o := r.opts
	filtered := ""
	if o.filter {
		filtered = "; every webhook filtered"
	}
	fmt.Fprintf(w, "webhookd bench: scenario %s on %s; %d events × fan-out %d over %d destination(s); raw concurrency %d; %s%s\n",
		o.scenario, r.target, o.events, o.fanout, o.destinations, o.concurrency, publishMode(o), filtered)
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d), %s %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tcount\tseconds\tper second\tvs raw\t")
	raw := r.rawPerSecond()
	for _, rr := range []struct {
		when string
		res  loadgen.RawResult
	}{{"before", r.RawBefore}, {"after", r.RawAfter}} {
		if rr.res.Sent > 0 {
			fmt.Fprintf(tw, "raw signed POST, %s\t%d\t%.2f\t%.0f\t%.2f\t\n", rr.when, rr.res.Sent, rr.res.Elapsed.Seconds(), rr.res.PerSecond(), ratio(rr.res.PerSecond(), raw))
		}
	}
	if o.scenario == ScenarioRS256 {
		for _, sr := range []struct {
			when string
			res  SignResult
		}{{"before", r.SignBefore}, {"after", r.SignAfter}} {
			if sr.res.PerSecond > 0 {
				fmt.Fprintf(tw, "RS256 signing (%d cores), %s\t%d\t%.2f\t%.0f\t%.2f\t\n", runtime.GOMAXPROCS(0), sr.when, rsaSignCount(o), sr.res.Took.Seconds(), sr.res.PerSecond, ratio(sr.res.PerSecond, raw))
			}
		}
	}
	for _, p := range r.Phases() {
		fmt.Fprintf(tw, "publish (accepted)%s\t%d\t%.2f\t%.0f\t\t\n", p.label(), p.Accepted, p.Publishing.Seconds(), p.acceptedPerSecond())
		fmt.Fprintf(tw, "webhookd deliveries%s\t%d\t%.2f\t%.0f\t%.2f\t\n", p.label(), p.Delivered, p.Elapsed.Seconds(), p.deliveriesPerSecond(), ratio(p.deliveriesPerSecond(), raw))
	}
	_ = tw.Flush()
	for _, p := range r.Phases() {
		l := p.Latency
		fmt.Fprintf(w, "event-to-receipt latency%s (ms, %d deliveries): p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n",
			p.label(), l.Count, ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max))
		pl := p.Calls
		fmt.Fprintf(w, "publish call latency%s (ms, %d calls): p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n",
			p.label(), pl.Count, ms(pl.P50), ms(pl.P95), ms(pl.P99), ms(pl.Max))
	}
	var expected, delivered, failed, late int
	for _, p := range r.Phases() {
		expected += p.Expected
		delivered += p.Delivered
		failed += p.Failed
		late += p.Late
	}
	fmt.Fprintf(w, "checks: expected %d, delivered %d, missing %d, duplicates %d, rejected signatures %d, publish errors %d",
		expected, delivered, expected-delivered, r.Duplicates, r.Rejected, failed)
	if o.scenario == ScenarioFailing {
		fmt.Fprintf(w, ", failed first attempts %d", r.Injected)
	}
	if r.Answering != nil {
		fmt.Fprintf(w, ", received by the extra destination while it answered %d, attempts it held while it hung %d", r.ExtraReceived, r.ExtraHeld)
	}
	if o.rate > 0 {
		fmt.Fprintf(w, ", late publishes %d", late)
	}
	fmt.Fprintln(w)
	r.printCost(w)
	if o.scenario == ScenarioRS256 {
		fmt.Fprintf(w, "RS256: deliveries/s ÷ signing/s = %.2f\n", ratio(r.deliveriesPerSecond(), r.signRate()))
	}
	if r.Alone != nil && r.Answering != nil {
		fmt.Fprintf(w, "hanging destination: p99 %.2f ms; alone %.2f ms (×%.2f); beside it answering %.2f ms (×%.2f)\n",
			ms(r.Latency.P99), ms(r.Alone.Latency.P99), r.hangVsAlone(), ms(r.Answering.Latency.P99), r.hangVsAnswering())
	}
	l := r.Latency
	fmt.Fprintf(w, "result deliveries_per_s=%.0f raw_per_s=%.0f ratio=%.2f p50_ms=%.2f p99_ms=%.2f accepted_per_s=%.0f",
		r.deliveriesPerSecond(), raw, ratio(r.deliveriesPerSecond(), raw),
		ms(l.P50), ms(l.P99), r.acceptedPerSecond())
	if o.scenario == ScenarioRS256 {
		fmt.Fprintf(w, " sign_per_s=%.0f sign_ratio=%.2f", r.signRate(), ratio(r.deliveriesPerSecond(), r.signRate()))
	}
	if r.Alone != nil && r.Answering != nil {
		fmt.Fprintf(w, " alone_p99_ms=%.2f answering_p99_ms=%.2f hang_vs_alone=%.2f hang_vs_answering=%.2f",
			ms(r.Alone.Latency.P99), ms(r.Answering.Latency.P99), r.hangVsAlone(), r.hangVsAnswering())
	}
	if o.filter {
		fmt.Fprint(w, " filter=1")
	}
	for _, kv := range r.costKeys() {
		fmt.Fprintf(w, " %s=%s", kv[0], kv[1])
	}
	fmt.Fprintln(w)
}

// costKeys are the result line's cost keys, each only when it was
// measured: cpu_ms_per_event is webhookd's and, with --db, its database
// server's CPU time per event; the parts follow it.
func (r *Result) costKeys() [][2]string {
	c := r.Cost
	var kv [][2]string
	add := func(key string, v float64, format string) {
		if !math.IsNaN(v) {
			kv = append(kv, [2]string{key, fmt.Sprintf(format, v)})
		}
	}
	total := c.WebhookdCPU
	if !math.IsNaN(c.DBCPU) {
		total += c.DBCPU
	}
	add("cpu_ms_per_event", c.cpuMSPerEvent(total), "%.3f")
	add("webhookd_cpu_ms_per_event", c.cpuMSPerEvent(c.WebhookdCPU), "%.3f")
	add("db_cpu_ms_per_event", c.cpuMSPerEvent(c.DBCPU), "%.3f")
	add("deferrals", c.Deferred, "%.0f")
	add("polls", c.Polled, "%.0f")
	return kv
}

// printCost writes the cost line, when anything was measured.
func (r *Result) printCost(w io.Writer) {
	c := r.Cost
	var parts []string
	if !math.IsNaN(c.WebhookdCPU) {
		parts = append(parts, fmt.Sprintf("webhookd %.2f s of CPU (%.3f ms per event)", c.WebhookdCPU, c.cpuMSPerEvent(c.WebhookdCPU)))
	}
	if !math.IsNaN(c.DBCPU) {
		parts = append(parts, fmt.Sprintf("its PostgreSQL server %.2f s (%.3f ms per event)", c.DBCPU, c.cpuMSPerEvent(c.DBCPU)))
	}
	if !math.IsNaN(c.Deferred) {
		parts = append(parts, fmt.Sprintf("deliveries deferred %.0f", c.Deferred))
	}
	if !math.IsNaN(c.Polled) {
		parts = append(parts, fmt.Sprintf("found by a poll %.0f", c.Polled))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "cost of %d events: %s\n", c.Events, strings.Join(parts, ", "))
	}
}

// label names a phase in the report's rows; the only phase of most
// scenarios goes unnamed.
func (p *Phase) label() string {
	if p.Name == "" {
		return ""
	}
	return ", " + p.Name
}

// hangVsAlone is the hang scenario's p99 over the p99 of the healthy
// destinations alone: what one more destination that hangs costs them.
func (r *Result) hangVsAlone() float64 {
	return ratio(float64(r.Latency.P99), float64(r.Alone.Latency.P99))
}

// hangVsAnswering is the hang scenario's p99 over the p99 with the same
// destinations while the extra one answers: what its hanging costs, and
// nothing else.
func (r *Result) hangVsAnswering() float64 {
	return ratio(float64(r.Latency.P99), float64(r.Answering.Latency.P99))
}

func publishMode(o *Options) string {
	calls := "one event per call"
	if o.batch > 1 {
		calls = fmt.Sprintf("%d events per call (batchPublish)", o.batch)
	}
	if o.rate > 0 {
		return fmt.Sprintf("open-loop publishing at %.0f events/s (at most %d calls in flight), %s", o.rate, o.publishers, calls)
	}
	return fmt.Sprintf("closed-loop publishing with %d publishers, %s", o.publishers, calls)
}

// rsaSignCount is how many tokens the signing-rate measurement signs.
func rsaSignCount(o *Options) int { return max(200, min(o.events*o.fanout, 5000)) }
