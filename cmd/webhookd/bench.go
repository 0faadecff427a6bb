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
	scenarioHang    = "hang"    // static; one more destination never answers
)

// benchEventType is what the benchmark publishes.
const benchEventType = webhookd.EventBatchSucceeded

// benchRetrySchedule is the embedded server's retry schedule: short, so
// that the failing scenario's retries land within the run.
const benchRetrySchedule = "100ms,200ms,400ms,800ms,1.6s,3.2s"

// benchOptions are the flags of "webhookd bench".
type benchOptions struct {
	scenario     string
	events       int
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
  hang     static; every event also goes to one more destination that
           never answers (not counted): the others must not slow down

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.scenario, "scenario", scenarioHMAC, "hmac, rs256, failing or hang")
	fs.IntVar(&o.events, "events", 0, "events to publish (default 10000; rs256: 3000)")
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
	publish               loadgen.PublishResult
	expected              int // healthy deliveries expected
	delivered             int // of those, received and verified
	elapsed               time.Duration
	latency               loadgen.Latencies
	dup                   int
	rejected              int
	injected              int
	wrongFan              int // events whose delivery_count was not the fan-out
}

// signResult is one measurement of the RS256 signing rate.
type signResult struct {
	perSecond float64
	took      time.Duration
}

func (r *benchResult) deliveriesPerSecond() float64 { return loadgen.Rate(r.delivered, r.elapsed) }

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
	fmt.Fprintf(tw, "publish (accepted)\t%d\t%.2f\t%.0f\t\t\n", r.publish.Accepted, r.publish.Last.Sub(r.publish.First).Seconds(), r.publish.PerSecond())
	fmt.Fprintf(tw, "webhookd deliveries\t%d\t%.2f\t%.0f\t%.2f\t\n", r.delivered, r.elapsed.Seconds(), r.deliveriesPerSecond(), ratio(r.deliveriesPerSecond(), raw))
	_ = tw.Flush()
	l := r.latency
	fmt.Fprintf(w, "event-to-receipt latency (ms, %d deliveries): p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n",
		l.Count, ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max))
	pl := r.publish.Latency
	fmt.Fprintf(w, "publish call latency (ms, %d calls): p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n",
		pl.Count, ms(pl.P50), ms(pl.P95), ms(pl.P99), ms(pl.Max))
	fmt.Fprintf(w, "checks: expected %d, delivered %d, missing %d, duplicates %d, rejected signatures %d, publish errors %d",
		r.expected, r.delivered, r.expected-r.delivered, r.dup, r.rejected, r.publish.Failed)
	if o.scenario == scenarioFailing {
		fmt.Fprintf(w, ", failed first attempts %d", r.injected)
	}
	if o.rate > 0 {
		fmt.Fprintf(w, ", late publishes %d", r.publish.Late)
	}
	fmt.Fprintln(w)
	if o.scenario == scenarioRS256 {
		fmt.Fprintf(w, "RS256: deliveries/s ÷ signing/s = %.2f\n", ratio(r.deliveriesPerSecond(), r.signRate()))
	}
	fmt.Fprintf(w, "result deliveries_per_s=%.0f raw_per_s=%.0f ratio=%.2f p50_ms=%.2f p99_ms=%.2f accepted_per_s=%.0f",
		r.deliveriesPerSecond(), raw, ratio(r.deliveriesPerSecond(), raw),
		ms(l.P50), ms(l.P99), r.publish.PerSecond())
	if o.scenario == scenarioRS256 {
		fmt.Fprintf(w, " sign_per_s=%.0f sign_ratio=%.2f", r.signRate(), ratio(r.deliveriesPerSecond(), r.signRate()))
	}
	fmt.Fprintln(w)
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
	rawReceived := setup.recv.Received()

	// Publish, recording each event's id and the start of its publish call.
	ids := make([]string, o.events)
	starts := make([]time.Time, o.events)
	perEvent := o.fanout
	if o.scenario == scenarioHang {
		perEvent++
	}
	var wrongFan sync.Map
	var published loadgen.Counter
	res.expected = o.events * o.fanout
	progress.run("webhookd", func() string {
		return fmt.Sprintf("published %d/%d, received %d/%d", published.Load(), o.events, setup.recv.Received()-rawReceived, res.expected)
	})
	res.publish = loadgen.Publish(ctx, loadgen.PublishConfig{
		Clients: clients, Count: o.events, Concurrency: o.publishers, Rate: o.rate, Batch: o.batch,
		Body: func(i int) []byte { return benchBody(i, setup.uris) },
		OnPublished: func(i int, p loadgen.Published, start time.Time) {
			ids[i], starts[i] = p.ID, start
			if p.DeliveryCount != perEvent {
				wrongFan.Store(i, p.DeliveryCount)
			}
		},
	}, &published)
	if res.publish.Err != nil {
		progress.done()
		return nil, fmt.Errorf("publish: %d failed, first: %w", res.publish.Failed, res.publish.Err)
	}
	wrongFan.Range(func(_, _ any) bool { res.wrongFan++; return true })
	if res.wrongFan > 0 {
		progress.done()
		return nil, fmt.Errorf("%d events were routed to a number of destinations other than %d: does the target have other webhooks subscribed to %s? Bench a fresh database", res.wrongFan, perEvent, benchEventType)
	}

	// Wait until every expected delivery arrived, or max-wait passed.
	deadline := time.Now().Add(o.maxWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for distinct(setup.hooks) < res.expected && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			progress.done()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	progress.done()
	if res.rawAfter, err = runRaw("after"); err != nil {
		return nil, err
	}
	if res.signAfter, err = measureSigning("after"); err != nil {
		return nil, err
	}

	var last time.Time
	sample := make([]time.Duration, 0, res.expected)
	for _, t := range setup.hooks {
		st := t.Stats()
		res.dup += st.Duplicates
		res.rejected += st.Rejected
		res.injected += st.Injected
		for i, id := range ids {
			at, ok := t.Receipt(id)
			if !ok {
				continue
			}
			res.delivered++
			sample = append(sample, at.Sub(starts[i]))
			if at.After(last) {
				last = at
			}
		}
		if st.LastReject != nil {
			logger.Warn("a delivery failed verification", "uri", t.URI, "err", st.LastReject)
		}
	}
	if res.delivered > 0 {
		res.elapsed = last.Sub(res.publish.First)
	}
	res.latency = loadgen.Summarize(sample)

	var errs []error
	if missing := res.expected - res.delivered; missing > 0 {
		errs = append(errs, fmt.Errorf("%d of %d deliveries did not arrive within --max-wait %s", missing, res.expected, o.maxWait))
	}
	if res.rejected > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries failed signature verification", res.rejected))
	}
	return res, errors.Join(errs...)
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
// scenario, one more server that never answers. Each target has a raw twin
// on the same server that the baseline posts to, verified the same way.
func newBenchSetup(ctx context.Context, o *benchOptions, c *loadgen.Client, logger *slog.Logger) (*benchSetup, error) {
	servers := o.destinations
	if o.scenario == scenarioHang {
		servers++
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
		uri := fmt.Sprintf("%s/hook/%d", recv.URL(srv), j)
		id, secret, err := c.CreateWebhook(ctx, uri, []string{benchEventType})
		if err != nil {
			return s, err
		}
		s.webhooks = append(s.webhooks, id)
		v, err := receiver.NewVerifier(receiver.Config{Secrets: []string{secret}})
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
	if o.scenario == scenarioHang {
		uri := recv.URL(o.destinations) + "/hook/hang"
		id, secret, err := c.CreateWebhook(ctx, uri, []string{benchEventType})
		if err != nil {
			return s, err
		}
		s.webhooks = append(s.webhooks, id)
		v, err := receiver.NewVerifier(receiver.Config{Secrets: []string{secret}})
		if err != nil {
			return s, err
		}
		recv.AddTarget(o.destinations, "/hook/hang", v, loadgen.Behavior{Hang: true}, 0)
	}
	return s, nil
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
// allowed), with a random API key and master key and a short retry
// schedule. stop shuts it down and removes the directory.
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
