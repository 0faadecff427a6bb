package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/loadgen"
	"github.com/webhookd/webhookd/receiver"
	"github.com/webhookd/webhookd/signing"
)

// Benchmark scenarios (--scenario).
const (
	scenarioHMAC    = "hmac"    // static webhooks, HMAC-signed
	scenarioRS256   = "rs256"   // dynamic webhook_config.uris, RS256 JWTs
	scenarioFailing = "failing" // static; a share of first attempts fail and are retried
	scenarioHang    = "hang"    // static; one more destination answers, then hangs
)

// benchEventType is what the benchmark publishes.
const benchEventType = webhookd.EventBatchSucceeded

// benchRetrySchedule is the embedded server's retry schedule: short, so
// that the failing scenario's retries land within the run.
const benchRetrySchedule = "100ms,200ms,400ms,800ms,1.6s,3.2s"

// benchTimeout is the embedded server's delivery timeout (the default is
// 10 s).
const benchTimeout = 2 * time.Second

// benchOptions are the flags of "webhookd bench".
type benchOptions struct {
	scenario     string
	events       int
	warmup       int
	fanout       int
	destinations int
	rate         float64
	publishers   int
	batch        int
	concurrency  int
	failRate     float64
	urls         []string
	apiKey       string
	workers      int
	perDest      int
	maxWait      time.Duration
	timeout      time.Duration
	logLevel     string
	cpuProfile   string
	memProfile   string
}

func parseBenchFlags(args []string, stderr io.Writer) (*benchOptions, error) {
	def := defaultConfig()
	o := &benchOptions{}
	var urls string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: webhookd bench [--scenario hmac|rs256|failing|hang] [--events N] [--fanout F]
                      [--destinations D] [--rate R] [--url URL --api-key KEY]

Measures webhookd's delivery against the raw limit of this machine, in one
run: signed POSTs straight from a Go client to verifying loopback receivers
(before and after the rest, to see the machine's drift), and N events
published through the API and delivered by webhookd to the same receivers.
With no --url it runs webhookd in-process on a fresh SQLite database in a
temporary directory. Progress goes to stderr; the table and a last
"result key=value …" line go to stdout.

Scenarios:
  hmac     static webhooks, HMAC-SHA256 (the default)
  rs256    dynamic deliveries to webhook_config.uris, one RS256 JWT each;
           also measures this machine's RS256 signing rate
  failing  static; the first attempt of --fail-rate of the messages is
           answered 500 and goes through the retries
  hang     static; one more destination that hangs must not slow the
           others down. Three phases of --events events each, cycled in
           5 rounds of a fifth: the healthy destinations alone, beside one
           more (not counted) while it answers, then while it never
           answers. The result line's figures are the last phase's;
           hang_vs_alone and hang_vs_answering are its p99 over the first
           two phases' p99. With --url, run the server with
           WEBHOOKD_DELIVERY_TIMEOUT=2s (the embedded one's) so that
           hanging attempts time out

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.scenario, "scenario", scenarioHMAC, "hmac, rs256, failing or hang")
	fs.IntVar(&o.events, "events", 0, "events to publish (default 10000; rs256: 3000)")
	fs.IntVar(&o.warmup, "warmup", -1, "events published and delivered first, not counted (default: with --rate, one second's worth; else none)")
	fs.IntVar(&o.fanout, "fanout", 1, "deliveries per event: webhooks subscribed (static) or webhook_config.uris (rs256, at most 20)")
	fs.IntVar(&o.destinations, "destinations", 1, "receiver servers (distinct ports) the fan-out is spread over; at most --fanout")
	fs.Float64Var(&o.rate, "rate", 0, "publish open-loop at this many `events/s` (default: closed loop, as fast as answered)")
	fs.IntVar(&o.publishers, "publishers", 0, "concurrent publish calls (default 16), or with --rate the most in flight (default 512)")
	fs.IntVar(&o.batch, "batch", 1, "events per publish call: 1 publishes with POST /v1/events, more (at most 100) with POST /v1/events:batchPublish")
	fs.IntVar(&o.concurrency, "concurrency", 0, "raw baseline's concurrent POSTs (default: what webhookd may use, min(workers, destinations×per-destination-limit))")
	fs.Float64Var(&o.failRate, "fail-rate", 0.01, "failing scenario: `fraction` of messages whose first attempt fails")
	fs.StringVar(&urls, "url", "", "bench a running webhookd at this base URL instead (comma-separate several processes sharing one database); it must run with WEBHOOKD_DEV=1")
	fs.StringVar(&o.apiKey, "api-key", "", "API key of the webhookd given by --url")
	fs.IntVar(&o.workers, "workers", def.Workers, "webhookd's delivery workers (embedded; with --url give the server's value, for --concurrency)")
	fs.IntVar(&o.perDest, "per-destination-limit", def.PerDestLimit, "webhookd's in-flight cap per destination (embedded; with --url give the server's)")
	fs.DurationVar(&o.maxWait, "max-wait", 30*time.Second, "how long to wait for deliveries after the last publish")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "stop the whole run after this long, whatever it is doing")
	fs.StringVar(&o.logLevel, "log-level", "error", "embedded webhookd's log level (logs go to stderr)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (embedded webhookd included) to `file`")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile at the end of the run to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	o.urls = splitList(urls)
	for i, u := range o.urls {
		o.urls[i] = strings.TrimSuffix(u, "/")
	}
	if o.events == 0 {
		o.events = 10000
		if o.scenario == scenarioRS256 {
			o.events = 3000
		}
	}
	if o.warmup < 0 {
		// A fresh server's first second is its slowest: PostgreSQL
		// connections open and plan their statements, caches fill. An
		// open-loop run measures latency at a steady rate, which that
		// second would dominate (its p99 is the slowest 1%).
		o.warmup = 0
		if o.rate > 0 {
			o.warmup = min(int(o.rate), o.events)
		}
	}
	if o.publishers == 0 {
		// Open loop needs room for the calls a slow moment piles up, or
		// it silently turns into a closed loop (counted as late publishes).
		o.publishers = 16
		if o.rate > 0 {
			o.publishers = 512
		}
	}
	if o.concurrency == 0 {
		o.concurrency = min(o.workers, o.destinations*o.perDest)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: bench: "+format, append([]any{errUsage}, a...)...)
	}
	switch {
	case fs.NArg() > 0:
		return nil, bad("unexpected argument %q", fs.Arg(0))
	case o.scenario != scenarioHMAC && o.scenario != scenarioRS256 && o.scenario != scenarioFailing && o.scenario != scenarioHang:
		return nil, bad("--scenario must be hmac, rs256, failing or hang, got %q", o.scenario)
	case o.events < 1 || o.fanout < 1 || o.destinations < 1 || o.publishers < 1 || o.concurrency < 1 || o.batch < 1:
		return nil, bad("--events, --fanout, --destinations, --publishers, --concurrency and --batch must be at least 1")
	case o.batch > api.MaxBatchPublishEvents:
		return nil, bad("--batch is at most %d, the limit of POST /v1/events:batchPublish", api.MaxBatchPublishEvents)
	case o.destinations > o.fanout:
		return nil, bad("--destinations (%d) must not exceed --fanout (%d): each destination gets at least one webhook", o.destinations, o.fanout)
	case o.scenario == scenarioRS256 && o.fanout > 20:
		return nil, bad("rs256: --fanout is at most 20, the limit of webhook_config.uris")
	case o.rate < 0 || o.failRate < 0 || o.failRate > 1:
		return nil, bad("--rate must not be negative and --fail-rate must be between 0 and 1")
	case o.maxWait <= 0 || o.timeout <= 0:
		return nil, bad("--max-wait and --timeout must be positive")
	case len(o.urls) > 0 && o.apiKey == "":
		return nil, bad("--url needs --api-key")
	case o.workers < 1 || o.perDest < 1:
		return nil, bad("--workers and --per-destination-limit must be at least 1")
	}
	return o, nil
}

// runBench runs "webhookd bench".
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	stopProfiles, err := startProfiles(o)
	if err != nil {
		return err
	}
	res, err := benchRun(ctx, o, stderr)
	err = errors.Join(err, stopProfiles())
	if res != nil {
		res.print(stdout)
	}
	return err
}

// startProfiles starts the CPU profile, if asked; the returned func stops it
// and writes the allocation profile, if asked. The embedded webhookd runs in
// this process, so the profiles show where the service's time goes.
func startProfiles(o *benchOptions) (stop func() error, err error) {
	var cpu *os.File
	if o.cpuProfile != "" {
		if cpu, err = os.Create(o.cpuProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			_ = cpu.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if o.memProfile != "" {
			f, err := os.Create(o.memProfile)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			errs = append(errs, pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
		}
		return errors.Join(errs...)
	}, nil
}

// benchResult is everything the report prints.
type benchResult struct {
	opts   *benchOptions
	target string // "sqlite (embedded)" or the URLs
	// rawBefore and rawAfter bracket the webhookd phase, so that a change
	// of the machine's load during the run shows (as their spread) and
	// biases the ratio less (raw_per_s is their mean).
	rawBefore loadgen.RawResult
	rawAfter  loadgen.RawResult
	// signBefore and signAfter are the RS256 signing rate (rs256 only),
	// measured around the webhookd phase like the raw baseline; signRate
	// is their mean.
	signBefore, signAfter signResult
	// phaseResult is the scenario's publish phase, the one the result
	// line reports.
	phaseResult
	// alone and answering are the hang scenario's comparison phases, run
	// before the hanging one with the same events and destinations: the
	// healthy destinations alone, then beside the extra destination while
	// it still answers.
	alone, answering *phaseResult
	// warmup is what was published first, not counted (--warmup).
	warmup        *phaseResult
	extraReceived int // by the extra destination (hang), while it answered
	extraHeld     int // attempts it held while it hung, retries included
	dup           int
	rejected      int
	injected      int
}

// phaseResult is one publish phase: events published through the API and
// their healthy deliveries received, in one block or pooled from several
// (benchPhases.block adds one, finish summarises).
type phaseResult struct {
	name                   string
	accepted, failed, late int
	publishing             time.Duration // the publish calls' span, summed over the blocks
	calls                  loadgen.Latencies
	expected               int           // healthy deliveries expected
	delivered              int           // of those, received and verified
	elapsed                time.Duration // first publish to last receipt, summed over the blocks
	latency                loadgen.Latencies

	callSample, sample []time.Duration // pooled by block, summarised by finish
}

func (p *phaseResult) deliveriesPerSecond() float64 { return loadgen.Rate(p.delivered, p.elapsed) }
func (p *phaseResult) acceptedPerSecond() float64   { return loadgen.Rate(p.accepted, p.publishing) }

// finish summarises the pooled samples.
func (p *phaseResult) finish() {
	p.calls, p.latency = loadgen.Summarize(p.callSample), loadgen.Summarize(p.sample)
	p.callSample, p.sample = nil, nil
}

// phases are the publish phases in the order they ran.
func (r *benchResult) phases() []*phaseResult {
	var ps []*phaseResult
	for _, p := range []*phaseResult{r.warmup, r.alone, r.answering} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return append(ps, &r.phaseResult)
}

// signResult is one measurement of the RS256 signing rate.
type signResult struct {
	perSecond float64
	took      time.Duration
}

// signRate is the RS256 signing rate around the webhookd phase.
func (r *benchResult) signRate() float64 {
	return bracketed(r.signBefore.perSecond, r.signAfter.perSecond)
}

// rawPerSecond is the raw baseline around the webhookd phase.
func (r *benchResult) rawPerSecond() float64 {
	return bracketed(r.rawBefore.PerSecond(), r.rawAfter.PerSecond())
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

func (r *benchResult) print(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "webhookd bench: scenario %s on %s; %d events × fan-out %d over %d destination(s); raw concurrency %d; %s\n",
		o.scenario, r.target, o.events, o.fanout, o.destinations, o.concurrency, publishMode(o))
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d), %s %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tcount\tseconds\tper second\tvs raw\t")
	raw := r.rawPerSecond()
	for _, rr := range []struct {
		when string
		res  loadgen.RawResult
	}{{"before", r.rawBefore}, {"after", r.rawAfter}} {
		if rr.res.Sent > 0 {
			fmt.Fprintf(tw, "raw signed POST, %s\t%d\t%.2f\t%.0f\t%.2f\t\n", rr.when, rr.res.Sent, rr.res.Elapsed.Seconds(), rr.res.PerSecond(), ratio(rr.res.PerSecond(), raw))
		}
	}
	if o.scenario == scenarioRS256 {
		for _, sr := range []struct {
			when string
			res  signResult
		}{{"before", r.signBefore}, {"after", r.signAfter}} {
			if sr.res.perSecond > 0 {
				fmt.Fprintf(tw, "RS256 signing (%d cores), %s\t%d\t%.2f\t%.0f\t%.2f\t\n", runtime.GOMAXPROCS(0), sr.when, rsaSignCount(o), sr.res.took.Seconds(), sr.res.perSecond, ratio(sr.res.perSecond, raw))
			}
		}
	}
	for _, p := range r.phases() {
		fmt.Fprintf(tw, "publish (accepted)%s\t%d\t%.2f\t%.0f\t\t\n", p.label(), p.accepted, p.publishing.Seconds(), p.acceptedPerSecond())
		fmt.Fprintf(tw, "webhookd deliveries%s\t%d\t%.2f\t%.0f\t%.2f\t\n", p.label(), p.delivered, p.elapsed.Seconds(), p.deliveriesPerSecond(), ratio(p.deliveriesPerSecond(), raw))
	}
	_ = tw.Flush()
	for _, p := range r.phases() {
		l := p.latency
		fmt.Fprintf(w, "event-to-receipt latency%s (ms, %d deliveries): p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n",
			p.label(), l.Count, ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max))
		pl := p.calls
		fmt.Fprintf(w, "publish call latency%s (ms, %d calls): p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n",
			p.label(), pl.Count, ms(pl.P50), ms(pl.P95), ms(pl.P99), ms(pl.Max))
	}
	var expected, delivered, failed, late int
	for _, p := range r.phases() {
		expected += p.expected
		delivered += p.delivered
		failed += p.failed
		late += p.late
	}
	fmt.Fprintf(w, "checks: expected %d, delivered %d, missing %d, duplicates %d, rejected signatures %d, publish errors %d",
		expected, delivered, expected-delivered, r.dup, r.rejected, failed)
	if o.scenario == scenarioFailing {
		fmt.Fprintf(w, ", failed first attempts %d", r.injected)
	}
	if r.answering != nil {
		fmt.Fprintf(w, ", received by the extra destination while it answered %d, attempts it held while it hung %d", r.extraReceived, r.extraHeld)
	}
	if o.rate > 0 {
		fmt.Fprintf(w, ", late publishes %d", late)
	}
	fmt.Fprintln(w)
	if o.scenario == scenarioRS256 {
		fmt.Fprintf(w, "RS256: deliveries/s ÷ signing/s = %.2f\n", ratio(r.deliveriesPerSecond(), r.signRate()))
	}
	if r.alone != nil && r.answering != nil {
		fmt.Fprintf(w, "hanging destination: p99 %.2f ms; alone %.2f ms (×%.2f); beside it answering %.2f ms (×%.2f)\n",
			ms(r.latency.P99), ms(r.alone.latency.P99), r.hangVsAlone(), ms(r.answering.latency.P99), r.hangVsAnswering())
	}
	l := r.latency
	fmt.Fprintf(w, "result deliveries_per_s=%.0f raw_per_s=%.0f ratio=%.2f p50_ms=%.2f p99_ms=%.2f accepted_per_s=%.0f",
		r.deliveriesPerSecond(), raw, ratio(r.deliveriesPerSecond(), raw),
		ms(l.P50), ms(l.P99), r.acceptedPerSecond())
	if o.scenario == scenarioRS256 {
		fmt.Fprintf(w, " sign_per_s=%.0f sign_ratio=%.2f", r.signRate(), ratio(r.deliveriesPerSecond(), r.signRate()))
	}
	if r.alone != nil && r.answering != nil {
		fmt.Fprintf(w, " alone_p99_ms=%.2f answering_p99_ms=%.2f hang_vs_alone=%.2f hang_vs_answering=%.2f",
			ms(r.alone.latency.P99), ms(r.answering.latency.P99), r.hangVsAlone(), r.hangVsAnswering())
	}
	fmt.Fprintln(w)
}

// label names a phase in the report's rows; the only phase of most
// scenarios goes unnamed.
func (p *phaseResult) label() string {
	if p.name == "" {
		return ""
	}
	return ", " + p.name
}

// hangVsAlone is the hang scenario's p99 over the p99 of the healthy
// destinations alone: what one more destination that hangs costs them.
func (r *benchResult) hangVsAlone() float64 {
	return ratio(float64(r.latency.P99), float64(r.alone.latency.P99))
}

// hangVsAnswering is the hang scenario's p99 over the p99 with the same
// destinations while the extra one answers: what its hanging costs, and
// nothing else.
func (r *benchResult) hangVsAnswering() float64 {
	return ratio(float64(r.latency.P99), float64(r.answering.latency.P99))
}

func publishMode(o *benchOptions) string {
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
func rsaSignCount(o *benchOptions) int { return max(200, min(o.events*o.fanout, 5000)) }

// benchSetup is the receivers, the webhooks and the targets of one run.
type benchSetup struct {
	recv     *loadgen.Receivers
	hooks    []*loadgen.Target // what webhookd delivers to
	raw      []*loadgen.Target // what the raw baseline posts to, on the same servers
	rawSign  loadgen.SignFunc
	rs       *loadgen.RS256Signer
	webhooks []string // ids, deleted at the end
	uris     []string // dynamic scenario: webhook_config.uris
	// extra is the hang scenario's extra destination of this round, while
	// it is registered: on a server of its own, answering until told to
	// hang. extras are every round's, and extraHook is extra's webhook.
	extra     *loadgen.Target
	extras    []*loadgen.Target
	extraHook string
}

// benchRun runs one benchmark. It returns the result whenever there is
// something to print, with an error if a check failed.
func benchRun(ctx context.Context, o *benchOptions, stderr io.Writer) (*benchResult, error) {
	logger := newLogger(Config{LogLevel: o.logLevel, LogFormat: "text"}, stderr)
	progress := newProgress(stderr)
	defer progress.stop()

	httpClient := &http.Client{Transport: delivery.NewTransport(nil), Timeout: 30 * time.Second}
	defer httpClient.CloseIdleConnections()
	res := &benchResult{opts: o, target: "sqlite (embedded)"}

	urls, apiKey := o.urls, o.apiKey
	if len(urls) == 0 {
		progress.say("starting webhookd (SQLite in a temporary directory)")
		base, key, stop, err := startEmbedded(ctx, o, logger)
		if err != nil {
			return nil, err
		}
		defer func() {
			// Idle keep-alive connections first: the server's graceful
			// shutdown would wait for them.
			httpClient.CloseIdleConnections()
			if err := stop(); err != nil {
				logger.Warn("embedded webhookd", "err", err)
			}
		}()
		urls, apiKey = []string{base}, key
	} else {
		res.target = strings.Join(urls, ",")
	}
	clients := make([]*loadgen.Client, len(urls))
	for i, u := range urls {
		clients[i] = &loadgen.Client{BaseURL: u, APIKey: apiKey, HTTP: httpClient}
		readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := clients[i].Ready(readyCtx)
		cancel()
		if err != nil {
			return nil, err
		}
	}

	setup, err := newBenchSetup(ctx, o, clients[0], logger)
	if setup != nil {
		defer setup.close(clients[0], logger)
	}
	if err != nil {
		return nil, err
	}

	body := benchEnvelope()
	// The signing rate, like the raw baseline, is measured before and
	// after the webhookd phase: this machine's speed drifts by up to a
	// third within minutes, and one measurement on one side of the phase
	// moved sign_ratio by as much.
	measureSigning := func(when string) (signResult, error) {
		if o.scenario != scenarioRS256 {
			return signResult{}, nil
		}
		progress.say(fmt.Sprintf("measuring RS256 signing on %d cores, %s", runtime.GOMAXPROCS(0), when))
		perSecond, took, err := setup.rs.SignRate(ctx, runtime.GOMAXPROCS(0), rsaSignCount(o))
		return signResult{perSecond: perSecond, took: took}, err
	}
	if res.signBefore, err = measureSigning("before"); err != nil {
		return nil, err
	}

	rawCount := o.events * o.fanout
	runRaw := func(when string) (loadgen.RawResult, error) {
		from := setup.recv.Received()
		progress.run("raw signed POST, "+when, func() string {
			return fmt.Sprintf("%d/%d", setup.recv.Received()-from, rawCount)
		})
		r := loadgen.RunRaw(ctx, loadgen.RawConfig{
			Transport: httpClient.Transport, Targets: setup.raw, Count: rawCount, Concurrency: o.concurrency, Body: body, Sign: setup.rawSign,
		})
		progress.done()
		if r.Err != nil {
			return r, fmt.Errorf("raw baseline (%s): %d of %d failed, first: %w", when, r.Failed, rawCount, r.Err)
		}
		return r, nil
	}
	if res.rawBefore, err = runRaw("before"); err != nil {
		return nil, err
	}

	run := &benchPhases{o: o, setup: setup, clients: clients, progress: progress}
	if o.warmup > 0 {
		res.warmup = &phaseResult{name: "warm-up, not counted"}
		// Numbered after every measured event (the hang scenario's three
		// phases included), so that no body repeats.
		if err := run.block(ctx, res.warmup, o.warmup, 3*o.events, nil, ""); err != nil {
			return nil, err
		}
		res.warmup.finish()
	}
	if o.scenario == scenarioHang {
		if err := run.hang(ctx, res); err != nil {
			return nil, err
		}
	} else {
		if err := run.block(ctx, &res.phaseResult, o.events, 0, nil, ""); err != nil {
			return nil, err
		}
		res.finish()
	}
	if res.rawAfter, err = runRaw("after"); err != nil {
		return nil, err
	}
	if res.signAfter, err = measureSigning("after"); err != nil {
		return nil, err
	}

	for _, t := range setup.extras {
		st := t.Stats()
		res.extraReceived += st.Distinct
		res.extraHeld += st.Held
	}
	for _, t := range append(slices.Clip(setup.hooks), setup.extras...) {
		st := t.Stats()
		res.dup += st.Duplicates
		res.rejected += st.Rejected
		res.injected += st.Injected
		if st.LastReject != nil {
			logger.Warn("a delivery failed verification", "uri", t.URI, "err", st.LastReject)
		}
	}
	var errs []error
	for _, p := range res.phases() {
		if missing := p.expected - p.delivered; missing > 0 {
			errs = append(errs, fmt.Errorf("%d of %d deliveries%s did not arrive within --max-wait %s", missing, p.expected, p.label(), o.maxWait))
		}
	}
	if res.rejected > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries failed signature verification", res.rejected))
	}
	return res, errors.Join(errs...)
}

// benchPhases runs the publish phases of one run.
type benchPhases struct {
	o        *benchOptions
	setup    *benchSetup
	clients  []*loadgen.Client
	progress *progress
}

// hangRounds is how many rounds the hang scenario's --events are split
// into.
const hangRounds = 5

// hangSettle is the pause after a hanging round: the deleted extra
// destination's released requests are answered and recorded before the
// next round's first phase starts.
const hangSettle = 250 * time.Millisecond

// hang runs the hang scenario: the same destinations alone, beside one more
// while it answers, and while it hangs, in hangRounds rounds of the three,
// the phases' samples pooled over the rounds. This machine's speed drifts
// by a fifth within a minute (rounds 8-10 of issue 6), as much as the
// difference to measure; short rounds expose the three phases to the same
// drift. Hanging goes last in a round; then the extra destination's
// webhook is deleted (its pending deliveries fail) and its held requests
// are released, so the next round starts without them. Each round's extra
// destination is a server of its own, so that none inherits the last one's
// open circuit.
func (b *benchPhases) hang(ctx context.Context, res *benchResult) error {
	o := b.o
	res.alone = &phaseResult{name: "alone"}
	res.answering = &phaseResult{name: "beside one answering"}
	res.name = "beside one hanging"
	rounds := min(hangRounds, o.events)
	next := 0
	for k := range rounds {
		n := o.events / rounds
		if k < o.events%rounds {
			n++
		}
		round := fmt.Sprintf("round %d/%d, ", k+1, rounds)
		if err := b.block(ctx, res.alone, n, next, nil, round); err != nil {
			return err
		}
		next += n
		extra, err := b.setup.addExtra(ctx, o, b.clients[0], k)
		if err != nil {
			return err
		}
		if err := b.block(ctx, res.answering, n, next, extra, round); err != nil {
			return err
		}
		next += n
		extra.SetHang(true)
		if err := b.block(ctx, &res.phaseResult, n, next, nil, round); err != nil {
			return err
		}
		next += n
		if err := b.setup.dropExtra(ctx, b.clients[0]); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(hangSettle):
		}
	}
	for _, p := range []*phaseResult{res.alone, res.answering, &res.phaseResult} {
		p.finish()
	}
	return nil
}

// block publishes n events (bodies numbered from first, so that each
// block's differ), waits until their deliveries to the healthy destinations
// and to also, if not nil, arrived or --max-wait passed, and adds the
// healthy deliveries to p. A missing delivery is counted, not an error; a
// failed publish or a wrong fan-out is.
func (b *benchPhases) block(ctx context.Context, p *phaseResult, n, first int, also *loadgen.Target, round string) error {
	o, setup := b.o, b.setup
	wait := setup.hooks
	if also != nil {
		wait = append(slices.Clip(wait), also)
	}
	perEvent := o.fanout
	if setup.extra != nil {
		perEvent++ // the extra destination, answering or not
	}
	waitFor := distinct(wait) + n*len(wait)
	p.expected += n * o.fanout

	// Publish, recording each event's id and the start of its publish call.
	ids := make([]string, n)
	starts := make([]time.Time, n)
	var wrongFan sync.Map
	var published loadgen.Counter
	from := setup.recv.Received()
	b.progress.run("webhookd"+strings.TrimSuffix(", "+round+p.name, ", "), func() string {
		return fmt.Sprintf("published %d/%d, received %d/%d", published.Load(), n, setup.recv.Received()-from, n*len(wait))
	})
	defer b.progress.done()
	pub := loadgen.Publish(ctx, loadgen.PublishConfig{
		Clients: b.clients, Count: n, Concurrency: o.publishers, Rate: o.rate, Batch: o.batch,
		Body: func(i int) []byte { return benchBody(first+i, setup.uris) },
		OnPublished: func(i int, pp loadgen.Published, start time.Time) {
			ids[i], starts[i] = pp.ID, start
			if pp.DeliveryCount != perEvent {
				wrongFan.Store(i, pp.DeliveryCount)
			}
		},
	}, &published)
	p.accepted += pub.Accepted
	p.failed += pub.Failed
	p.late += pub.Late
	p.publishing += pub.Last.Sub(pub.First)
	p.callSample = append(p.callSample, pub.Took...)
	if pub.Err != nil {
		return fmt.Errorf("publish: %d failed, first: %w", pub.Failed, pub.Err)
	}
	wrong := 0
	wrongFan.Range(func(_, _ any) bool { wrong++; return true })
	if wrong > 0 {
		return fmt.Errorf("%d events were routed to a number of destinations other than %d: does the target have other webhooks subscribed to %s? Bench a fresh database", wrong, perEvent, benchEventType)
	}

	// Wait until every expected delivery arrived, or max-wait passed.
	deadline := time.Now().Add(o.maxWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for distinct(wait) < waitFor && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}

	var last time.Time
	for _, t := range setup.hooks {
		for i, id := range ids {
			at, ok := t.Receipt(id)
			if !ok {
				continue
			}
			p.delivered++
			p.sample = append(p.sample, at.Sub(starts[i]))
			if at.After(last) {
				last = at
			}
		}
	}
	if !last.IsZero() {
		p.elapsed += last.Sub(pub.First)
	}
	return nil
}

func distinct(ts []*loadgen.Target) int {
	n := 0
	for _, t := range ts {
		n += t.Stats().Distinct
	}
	return n
}

// benchBody is the publish body of event i; uris makes it dynamic.
func benchBody(i int, uris []string) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"type":%q,"data":{"id":"batches/bench-%d","output_file_uri":"files/bench-%d-results.jsonl","error_count":0}`, benchEventType, i, i)
	if len(uris) > 0 {
		sb.WriteString(`,"webhook_config":{"uris":[`)
		for j, u := range uris {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%q", u)
		}
		sb.WriteString(`]}`)
	}
	sb.WriteByte('}')
	return []byte(sb.String())
}

// newBenchSetup starts the receivers and registers the destinations: fan-out
// F spread over D servers (target j on server j mod D), plus, for the hang
// scenario, a server for each round's extra destination (addExtra). Each
// target has a raw twin on the same server that the baseline posts to,
// verified the same way.
func newBenchSetup(ctx context.Context, o *benchOptions, c *loadgen.Client, logger *slog.Logger) (*benchSetup, error) {
	servers := o.destinations
	if o.scenario == scenarioHang {
		servers += hangRounds // one for each round's extra destination
	}
	recv, err := loadgen.NewReceivers(servers, logger)
	if err != nil {
		return nil, err
	}
	s := &benchSetup{recv: recv}
	behavior := loadgen.Behavior{}
	if o.scenario == scenarioFailing {
		behavior.FailRate = o.failRate
	}
	if o.scenario == scenarioRS256 {
		s.rs, err = loadgen.NewRS256Signer(recv.URL(0))
		if err != nil {
			return s, err
		}
		const rawJWKS = "/bench-jwks.json"
		recv.Handle(0, rawJWKS, s.rs.JWKSHandler())
		s.rawSign = s.rs.Sign(benchEventType)
		for j := range o.fanout {
			srv := j % o.destinations
			uri := fmt.Sprintf("%s/hook/%d", recv.URL(srv), j)
			hv, err := receiver.NewVerifier(receiver.Config{JWKSURL: c.BaseURL + signing.JWKSPath, Audience: uri})
			if err != nil {
				return s, err
			}
			s.hooks = append(s.hooks, recv.AddTarget(srv, fmt.Sprintf("/hook/%d", j), hv, behavior, o.events))
			s.uris = append(s.uris, uri)
			rawURI := fmt.Sprintf("%s/raw/%d", recv.URL(srv), j)
			rv, err := receiver.NewVerifier(receiver.Config{JWKSURL: recv.URL(0) + rawJWKS, Audience: rawURI})
			if err != nil {
				return s, err
			}
			s.raw = append(s.raw, recv.AddTarget(srv, fmt.Sprintf("/raw/%d", j), rv, loadgen.Behavior{}, o.events))
		}
		return s, nil
	}

	keys := map[*loadgen.Target][]byte{}
	for j := range o.fanout {
		srv := j % o.destinations
		_, secret, v, err := s.createWebhook(ctx, c, fmt.Sprintf("%s/hook/%d", recv.URL(srv), j))
		if err != nil {
			return s, err
		}
		s.hooks = append(s.hooks, recv.AddTarget(srv, fmt.Sprintf("/hook/%d", j), v, behavior, o.events))
		raw := recv.AddTarget(srv, fmt.Sprintf("/raw/%d", j), v, loadgen.Behavior{}, o.events)
		s.raw = append(s.raw, raw)
		if keys[raw], err = signing.ParseSecret(secret); err != nil {
			return s, err
		}
	}
	s.rawSign = loadgen.HMACSigner(keys)
	return s, nil
}

// createWebhook registers a webhook for uri, subscribed to the events the
// bench publishes, to be deleted at the end, and returns a verifier of its
// signatures.
func (s *benchSetup) createWebhook(ctx context.Context, c *loadgen.Client, uri string) (id, secret string, v *receiver.Verifier, err error) {
	id, secret, err = c.CreateWebhook(ctx, uri, []string{benchEventType})
	if err != nil {
		return "", "", nil, err
	}
	s.webhooks = append(s.webhooks, id)
	v, err = receiver.NewVerifier(receiver.Config{Secrets: []string{secret}})
	return id, secret, v, err
}

// addExtra registers round k's extra destination of the hang scenario, a
// webhook subscribed to the events the others get, on the server kept for
// it. It answers until told to hang (Target.SetHang).
func (s *benchSetup) addExtra(ctx context.Context, o *benchOptions, c *loadgen.Client, k int) (*loadgen.Target, error) {
	srv := o.destinations + k
	path := fmt.Sprintf("/hook/extra-%d", k)
	id, _, v, err := s.createWebhook(ctx, c, s.recv.URL(srv)+path)
	if err != nil {
		return nil, err
	}
	s.extra, s.extraHook = s.recv.AddTarget(srv, path, v, loadgen.Behavior{}, o.events), id
	s.extras = append(s.extras, s.extra)
	return s.extra, nil
}

// dropExtra deletes the extra destination's webhook, which fails its
// pending deliveries, then answers the requests it holds (503), so that
// the sender lets go of them.
func (s *benchSetup) dropExtra(ctx context.Context, c *loadgen.Client) error {
	if err := c.DeleteWebhook(ctx, s.extraHook); err != nil {
		return err
	}
	s.webhooks = slices.DeleteFunc(s.webhooks, func(id string) bool { return id == s.extraHook })
	s.extra.Release()
	s.extra, s.extraHook = nil, ""
	return nil
}

// close deletes the webhooks the run created (so that the next run against
// the same server does not fan out to them; their pending deliveries fail)
// and stops the receivers.
func (s *benchSetup) close(c *loadgen.Client, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range s.webhooks {
		if err := c.DeleteWebhook(ctx, id); err != nil {
			logger.Warn("cleaning up", "err", err)
		}
	}
	if err := s.recv.Close(); err != nil {
		logger.Warn("closing receivers", "err", err)
	}
}

// benchEnvelope is a typical envelope, as webhookd renders event 0.
func benchEnvelope() []byte {
	b, err := webhookd.RenderEnvelope(benchEventType, []byte(`{"id":"batches/bench-0","output_file_uri":"files/bench-0-results.jsonl","error_count":0}`), time.Now())
	if err != nil {
		panic(err) // a constant object: cannot fail
	}
	return b
}

// startEmbedded runs webhookd in this process on a fresh SQLite database in
// a temporary directory, in development mode (loopback destinations
// allowed), with a random API key and master key, a short retry schedule
// and a 2 s delivery timeout. stop shuts it down and removes the directory.
func startEmbedded(ctx context.Context, o *benchOptions, logger *slog.Logger) (base, apiKey string, stop func() error, err error) {
	dir, err := os.MkdirTemp("", "webhookd-bench-")
	if err != nil {
		return "", "", nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", "", nil, err
	}
	cfg := defaultConfig()
	cfg.Addr = addr
	cfg.DB = "sqlite:" + filepath.Join(dir, "bench.db")
	cfg.APIKey = "bench-" + randomHex(16)
	cfg.MasterKey = randomHex(signing.MasterKeySize)
	cfg.Dev = true
	cfg.LogLevel = o.logLevel
	cfg.RetrySchedule = benchRetrySchedule
	cfg.RetryWindow = time.Minute
	// A hanging destination's attempts time out, fail and are retried
	// within a phase of the hang scenario (4 s at 500 events/s), as they
	// would over a longer hang with the default 10 s.
	cfg.Timeout = benchTimeout
	cfg.Workers = o.workers
	cfg.PerDestLimit = o.perDest
	cfg.ShutdownGrace = time.Second
	if err := cfg.validate(); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", nil, err
	}
	srvCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- serve(srvCtx, cfg, io.Discard, logger) }()
	stop = func() error {
		cancel()
		err := <-errc
		return errors.Join(err, os.RemoveAll(dir))
	}
	// serve fails fast (bad config, port taken) or listens; Ready tells.
	select {
	case err := <-errc:
		cancel()
		_ = os.RemoveAll(dir)
		return "", "", nil, fmt.Errorf("embedded webhookd: %w", err)
	case <-time.After(50 * time.Millisecond):
	}
	return "http://" + addr, cfg.APIKey, stop, nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// progress prints a status line to stderr every second while a phase runs.
type progress struct {
	w     io.Writer
	mu    sync.Mutex
	phase string
	start time.Time
	line  func() string
	quit  chan struct{}
	wg    sync.WaitGroup
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, quit: make(chan struct{})}
	p.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.mu.Lock()
				if p.line != nil {
					fmt.Fprintf(p.w, "bench: %s: %s (%.0fs)\n", p.phase, p.line(), time.Since(p.start).Seconds())
				}
				p.mu.Unlock()
			}
		}
	})
	return p
}

func (p *progress) say(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "bench: %s\n", msg)
}

// run starts reporting a phase.
func (p *progress) run(phase string, line func() string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.line, p.start = phase, line, time.Now()
	fmt.Fprintf(p.w, "bench: %s…\n", phase)
}

// done ends the phase with its last status.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line != nil {
		fmt.Fprintf(p.w, "bench: %s: %s, done in %.2fs\n", p.phase, p.line(), time.Since(p.start).Seconds())
	}
	p.line = nil
}

func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
}
