// Package bench is "webhookd bench": it measures webhookd's delivery against
// the raw limit of this machine in one run — signed POSTs straight from a
// Go client to verifying loopback receivers, before and after N events are
// published through the API and delivered by webhookd to the same
// receivers — and prints a table and a last "result key=value …" line (a
// contract: scripts and docs/benchmarks.md read it). The webhookd measured
// is one given by --url, or one started in this process by the ServeFunc
// that cmd/webhookd passes (its own serve).
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/loadgen"
)

// Benchmark scenarios (--scenario).
const (
	ScenarioHMAC    = "hmac"    // static webhooks, HMAC-signed
	ScenarioRS256   = "rs256"   // dynamic webhook_config.uris, RS256 JWTs
	ScenarioFailing = "failing" // static; a share of first attempts fail and are retried
	ScenarioHang    = "hang"    // static; one more destination answers, then hangs
)

// ErrUsage marks mistakes on the command line; webhookd exits 2 for them.
var ErrUsage = errors.New("usage")

// eventType is what the benchmark publishes.
const eventType = webhookd.EventBatchSucceeded

// retrySchedule is the embedded server's retry schedule: short, so
// that the failing scenario's retries land within the run.
const retrySchedule = "100ms,200ms,400ms,800ms,1.6s,3.2s"

// embeddedTimeout is the embedded server's delivery timeout (the default is
// 10 s).
const embeddedTimeout = 2 * time.Second

// Options are the flags of "webhookd bench".
type Options struct {
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
	db           string
	workers      int
	perDest      int
	maxWait      time.Duration
	timeout      time.Duration
	logLevel     string
	cpuProfile   string
	memProfile   string
	filter       bool
}

// Parse parses the command line of "webhookd bench". Mistakes are
// ErrUsage; -h is flag.ErrHelp, after the help went to stderr.
func Parse(args []string, stderr io.Writer) (*Options, error) {
	def := delivery.Config{}.WithDefaults()
	o := &Options{}
	var urls string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: webhookd bench [--scenario hmac|rs256|failing|hang] [--events N] [--fanout F]
                      [--destinations D] [--rate R] [--publishers P] [--batch B] [--filter]
                      [--url URL --api-key KEY [--db POSTGRES_URL]]

Measures webhookd's delivery against the raw limit of this machine, in one
run: signed POSTs straight from a Go client to verifying loopback receivers
(before and after the rest, to see the machine's drift), and N events
published through the API and delivered by webhookd to the same receivers.
With no --url it runs webhookd in-process on a fresh SQLite database in a
temporary directory. Progress goes to stderr; the table and a last
"result key=value …" line go to stdout.

With --url the result line also has the CPU time the measured events cost
the webhookd processes (their /metrics), and with --db the PostgreSQL
server's processes on this machine: cpu_ms_per_event (their sum),
webhookd_cpu_ms_per_event and db_cpu_ms_per_event. deferrals and polls
count the deliveries the engines put back and found only by polling.

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

--filter gives every static webhook a CEL filter that every event passes:
run it and the same command without it, alternately, to see what routing
with filters costs (deliveries_per_s, and filter=1 on the result line).

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.scenario, "scenario", ScenarioHMAC, "hmac, rs256, failing or hang")
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
	fs.StringVar(&o.db, "db", "", "the PostgreSQL `URL` of the database the webhookd given by --url uses, on this machine: the CPU time of all that server's processes is counted in cpu_ms_per_event")
	fs.IntVar(&o.workers, "workers", def.Workers, "webhookd's delivery workers (embedded; with --url give the server's value, for --concurrency)")
	fs.IntVar(&o.perDest, "per-destination-limit", def.PerDestinationLimit, "webhookd's most attempts in flight per destination, its adaptive limit's maximum (embedded; with --url give the server's)")
	fs.DurationVar(&o.maxWait, "max-wait", 30*time.Second, "how long to wait for deliveries after the last publish")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "stop the whole run after this long, whatever it is doing")
	fs.StringVar(&o.logLevel, "log-level", "error", "embedded webhookd's log level (logs go to stderr)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (embedded webhookd included) to `file`")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile at the end of the run to `file`")
	fs.BoolVar(&o.filter, "filter", false, "static scenarios: give every webhook a typical CEL filter that every event passes, to measure what routing with filters costs")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	for u := range strings.SplitSeq(urls, ",") {
		if u = strings.TrimSuffix(strings.TrimSpace(u), "/"); u != "" {
			o.urls = append(o.urls, u)
		}
	}
	if o.events == 0 {
		o.events = 10000
		if o.scenario == ScenarioRS256 {
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
		return fmt.Errorf("%w: bench: "+format, append([]any{ErrUsage}, a...)...)
	}
	switch {
	case fs.NArg() > 0:
		return nil, bad("unexpected argument %q", fs.Arg(0))
	case o.scenario != ScenarioHMAC && o.scenario != ScenarioRS256 && o.scenario != ScenarioFailing && o.scenario != ScenarioHang:
		return nil, bad("--scenario must be hmac, rs256, failing or hang, got %q", o.scenario)
	case o.events < 1 || o.fanout < 1 || o.destinations < 1 || o.publishers < 1 || o.concurrency < 1 || o.batch < 1:
		return nil, bad("--events, --fanout, --destinations, --publishers, --concurrency and --batch must be at least 1")
	case o.batch > api.MaxBatchPublishEvents:
		return nil, bad("--batch is at most %d, the limit of POST /v1/events:batchPublish", api.MaxBatchPublishEvents)
	case o.destinations > o.fanout:
		return nil, bad("--destinations (%d) must not exceed --fanout (%d): each destination gets at least one webhook", o.destinations, o.fanout)
	case o.filter && o.scenario == ScenarioRS256:
		return nil, bad("--filter applies to static webhooks; rs256 delivers to webhook_config.uris")
	case o.scenario == ScenarioRS256 && o.fanout > 20:
		return nil, bad("rs256: --fanout is at most 20, the limit of webhook_config.uris")
	case o.rate < 0 || o.failRate < 0 || o.failRate > 1:
		return nil, bad("--rate must not be negative and --fail-rate must be between 0 and 1")
	case o.maxWait <= 0 || o.timeout <= 0:
		return nil, bad("--max-wait and --timeout must be positive")
	case len(o.urls) > 0 && o.apiKey == "":
		return nil, bad("--url needs --api-key")
	case o.db != "" && len(o.urls) == 0:
		return nil, bad("--db needs --url: the embedded webhookd uses SQLite")
	case o.workers < 1 || o.perDest < 1:
		return nil, bad("--workers and --per-destination-limit must be at least 1")
	}
	return o, nil
}

// Main runs "webhookd bench" with args: the progress goes to stderr, the
// report to stdout. A run without --url starts webhookd with serve.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, serve ServeFunc) error {
	o, err := Parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	stopProfiles, err := startProfiles(o)
	if err != nil {
		return err
	}
	res, err := Run(ctx, o, serve, stderr)
	err = errors.Join(err, stopProfiles())
	if res != nil {
		res.Print(stdout)
	}
	return err
}

// startProfiles starts the CPU profile, if asked; the returned func stops it
// and writes the allocation profile, if asked. The embedded webhookd runs in
// this process, so the profiles show where the service's time goes.
func startProfiles(o *Options) (stop func() error, err error) {
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

// Run runs one benchmark. It returns the result whenever there is
// something to print, with an error if a check failed.
func Run(ctx context.Context, o *Options, serve ServeFunc, stderr io.Writer) (*Result, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		level = slog.LevelError
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	progress := newProgress(stderr)
	defer progress.stop()

	httpClient := &http.Client{Transport: delivery.NewTransport(nil), Timeout: 30 * time.Second}
	defer httpClient.CloseIdleConnections()
	res := &Result{opts: o, target: "sqlite (embedded)", Cost: unmeasured}

	urls, apiKey := o.urls, o.apiKey
	if len(urls) == 0 {
		progress.say("starting webhookd (SQLite in a temporary directory)")
		base, key, stop, err := startEmbedded(ctx, o, serve, logger)
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

	setup, err := newRunSetup(ctx, o, clients[0], logger)
	if setup != nil {
		defer setup.close(clients[0], logger)
	}
	if err != nil {
		return nil, err
	}

	body := envelope()
	// The signing rate, like the raw baseline, is measured before and
	// after the webhookd phase: this machine's speed drifts by up to a
	// third within minutes, and one measurement on one side of the phase
	// moved sign_ratio by as much.
	measureSigning := func(when string) (SignResult, error) {
		if o.scenario != ScenarioRS256 {
			return SignResult{}, nil
		}
		progress.say(fmt.Sprintf("measuring RS256 signing on %d cores, %s", runtime.GOMAXPROCS(0), when))
		perSecond, took, err := setup.rs.SignRate(ctx, runtime.GOMAXPROCS(0), rsaSignCount(o))
		return SignResult{PerSecond: perSecond, Took: took}, err
	}
	if res.SignBefore, err = measureSigning("before"); err != nil {
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
	if res.RawBefore, err = runRaw("before"); err != nil {
		return nil, err
	}

	run := &phaseRunner{o: o, setup: setup, clients: clients, progress: progress}
	if o.warmup > 0 {
		res.Warmup = &Phase{Name: "warm-up, not counted"}
		// Numbered after every measured event (the hang scenario's three
		// phases included), so that no body repeats.
		if err := run.block(ctx, res.Warmup, o.warmup, 3*o.events, nil, ""); err != nil {
			return nil, err
		}
		res.Warmup.finish()
	}
	meter := newCostMeter(ctx, o, clients)
	meter.start(ctx)
	if o.scenario == ScenarioHang {
		if err := run.hang(ctx, res); err != nil {
			return nil, err
		}
	} else {
		if err := run.block(ctx, &res.Phase, o.events, 0, nil, ""); err != nil {
			return nil, err
		}
		res.finish()
	}
	accepted := 0
	for _, p := range res.Phases() {
		if p != res.Warmup {
			accepted += p.Accepted
		}
	}
	res.Cost = meter.stop(ctx, accepted)
	if meter.dbErr != nil {
		logger.Warn("the database server's CPU time is not counted", "err", meter.dbErr)
	}
	if res.RawAfter, err = runRaw("after"); err != nil {
		return nil, err
	}
	if res.SignAfter, err = measureSigning("after"); err != nil {
		return nil, err
	}

	for _, t := range setup.extras {
		st := t.Stats()
		res.ExtraReceived += st.Distinct
		res.ExtraHeld += st.Held
	}
	for _, t := range append(slices.Clip(setup.hooks), setup.extras...) {
		st := t.Stats()
		res.Duplicates += st.Duplicates
		res.Rejected += st.Rejected
		res.Injected += st.Injected
		if st.LastReject != nil {
			logger.Warn("a delivery failed verification", "uri", t.URI, "err", st.LastReject)
		}
	}
	var errs []error
	for _, p := range res.Phases() {
		if missing := p.Expected - p.Delivered; missing > 0 {
			errs = append(errs, fmt.Errorf("%d of %d deliveries%s did not arrive within --max-wait %s", missing, p.Expected, p.label(), o.maxWait))
		}
	}
	if res.Rejected > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries failed signature verification", res.Rejected))
	}
	return res, errors.Join(errs...)
}
