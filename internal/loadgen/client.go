package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client calls a webhookd API as a publisher would.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	APIKey  string
	HTTP    *http.Client
}

// CreateWebhook registers uri for events and returns its id and signing
// secret.
func (c *Client) CreateWebhook(ctx context.Context, uri string, events []string) (id, secret string, err error) {
	return c.CreateFilteredWebhook(ctx, uri, events, "")
}

// CreateFilteredWebhook is CreateWebhook with a filter ("" for none).
func (c *Client) CreateFilteredWebhook(ctx context.Context, uri string, events []string, filter string) (id, secret string, err error) {
	req := map[string]any{"uri": uri, "subscribed_events": events}
	if filter != "" {
		req["filter"] = filter
	}
	body, _ := json.Marshal(req)
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"new_signing_secret"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/webhooks", body, &out); err != nil {
		return "", "", fmt.Errorf("create webhook %s: %w", uri, err)
	}
	if out.ID == "" || out.Secret == "" {
		return "", "", fmt.Errorf("create webhook %s: the response has no id or new_signing_secret", uri)
	}
	return out.ID, out.Secret, nil
}

// DeleteWebhook removes a webhook; its pending deliveries fail.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	if err := c.do(ctx, http.MethodDelete, "/v1/webhooks/"+strings.TrimPrefix(id, "webhooks/"), nil, nil); err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}

// Published is the API's answer to one publish.
type Published struct {
	ID            string `json:"id"` // the webhook-id of every delivery
	DeliveryCount int    `json:"delivery_count"`
}

// Publish sends one POST /v1/events body.
func (c *Client) Publish(ctx context.Context, body []byte) (Published, error) {
	var out Published
	if err := c.do(ctx, http.MethodPost, "/v1/events", body, &out); err != nil {
		return out, fmt.Errorf("publish: %w", err)
	}
	if out.ID == "" {
		return out, fmt.Errorf("publish: the response has no id")
	}
	return out, nil
}

// PublishBatch sends bodies (POST /v1/events bodies) in one POST
// /v1/events:batchPublish and returns the answers in order.
func (c *Client) PublishBatch(ctx context.Context, bodies [][]byte) ([]Published, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	for i, b := range bodies {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	buf.WriteString(`]}`)
	var out struct {
		Events []Published `json:"events"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/events:batchPublish", buf.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("publish batch: %w", err)
	}
	if len(out.Events) != len(bodies) {
		return nil, fmt.Errorf("publish batch: %d events answered for %d published", len(out.Events), len(bodies))
	}
	for _, p := range out.Events {
		if p.ID == "" {
			return nil, fmt.Errorf("publish batch: an event of the response has no id")
		}
	}
	return out.Events, nil
}

// Ready waits until GET /readyz answers 200, or ctx ends.
func (c *Client) Ready(ctx context.Context) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := c.HTTP.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready: %w (last error: %w)", c.BaseURL, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Metrics reads the server's /metrics: each sample's value by its name and
// labels as the text format writes them (`name{label="value"}`). Histogram
// and summary series come as their _bucket, _sum and _count samples.
func (c *Client) Metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	return ParseMetrics(string(b)), nil
}

// ParseMetrics reads Prometheus's text exposition format, as Metrics
// returns it; lines it cannot read are skipped.
func ParseMetrics(text string) map[string]float64 {
	m := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		// A series is a name, with its labels in braces if it has any;
		// its value follows, and maybe a timestamp.
		series, rest, ok := strings.Cut(line, " ")
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			series, rest, ok = line[:i+1], line[i+1:], true
		}
		fields := strings.Fields(rest)
		if !ok || len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		m[series] = v
	}
	return m
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("x-goog-api-key", c.APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

// PublishConfig drives the publish phase.
type PublishConfig struct {
	// Clients are used in turn (several webhookd processes sharing one
	// database take the publishes in turn).
	Clients []*Client
	Count   int
	// Concurrency is the number of publishers in a closed loop (each
	// publishes again as soon as it is answered), or the most publishes in
	// flight at once with Rate.
	Concurrency int
	// Rate, if positive, publishes open-loop at this many events per
	// second, whatever the service's answers take: the load a fleet of
	// independent producers puts on it.
	Rate float64
	// Batch is how many events one publish call carries: 1 (the default)
	// publishes with POST /v1/events, more with POST
	// /v1/events:batchPublish. Concurrency counts calls, Rate events.
	Batch int
	// Body returns the body of event i.
	Body func(i int) []byte
	// OnPublished is called for each acknowledged event with the time its
	// publish call started (concurrently).
	OnPublished func(i int, p Published, start time.Time)
}

// PublishResult is what the publish phase did.
type PublishResult struct {
	Accepted int
	Failed   int
	// First is the start of the first publish call, Last the end of the
	// last one.
	First, Last time.Time
	// Late counts open-loop publishes that started more than 10 ms after
	// their scheduled time: Concurrency publishes were in flight (the
	// service did not keep up with Rate), or the machine was too busy to
	// start them on time.
	Late int
	// Latency summarises how long the accepted calls took, from sending
	// the request to reading the whole answer: the part of event-to-receipt
	// latency spent before the service acknowledged the event.
	Latency Latencies
	// Took is Latency's sample, sorted: one duration per accepted call,
	// for pooling several runs' calls into one summary.
	Took []time.Duration
	Err  error
}

// PerSecond is the accepted events per second.
func (r PublishResult) PerSecond() float64 { return Rate(r.Accepted, r.Last.Sub(r.First)) }

// Counter counts acknowledged events as they happen, for progress reports.
type Counter struct{ n atomic.Int64 }

// Load returns the count.
func (c *Counter) Load() int64 { return c.n.Load() }

// Publish runs the publish phase; progress, if not nil, counts acknowledged
// events as they happen.
func Publish(ctx context.Context, cfg PublishConfig, progress *Counter) PublishResult {
	var (
		mu        sync.Mutex
		lastEnd   time.Time
		took      []time.Duration // of the accepted calls
		wg        sync.WaitGroup
		accepted  atomic.Int64
		failed    atomic.Int64
		late      atomic.Int64
		errOnce   sync.Once
		firstErr  error
		startWall = time.Now()
	)
	batch := max(cfg.Batch, 1)
	// one publishes events i to i+batch-1 (fewer at the end) in one call.
	one := func(i int) {
		c := cfg.Clients[(i/batch)%len(cfg.Clients)]
		n := min(batch, cfg.Count-i)
		start := time.Now()
		var ps []Published
		var err error
		if batch == 1 {
			var p Published
			p, err = c.Publish(ctx, cfg.Body(i))
			ps = []Published{p}
		} else {
			bodies := make([][]byte, n)
			for j := range n {
				bodies[j] = cfg.Body(i + j)
			}
			ps, err = c.PublishBatch(ctx, bodies)
		}
		end := time.Now()
		mu.Lock()
		if end.After(lastEnd) {
			lastEnd = end
		}
		if err == nil {
			took = append(took, end.Sub(start))
		}
		mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				failed.Add(int64(n))
				errOnce.Do(func() { firstErr = err })
			}
			return
		}
		accepted.Add(int64(n))
		if progress != nil {
			progress.n.Add(int64(n))
		}
		if cfg.OnPublished != nil {
			for j, p := range ps {
				cfg.OnPublished(i+j, p, start)
			}
		}
	}
	conc := max(cfg.Concurrency, 1)
	calls := (cfg.Count + batch - 1) / batch
	if cfg.Rate <= 0 {
		var next atomic.Int64
		for range min(conc, calls) {
			wg.Go(func() {
				for ctx.Err() == nil {
					k := int(next.Add(1)) - 1
					if k >= calls {
						return
					}
					one(k * batch)
				}
			})
		}
	} else {
		slots := make(chan struct{}, conc)
		interval := time.Duration(float64(batch) * float64(time.Second) / cfg.Rate)
		wait := time.NewTimer(0)
		defer wait.Stop()
	schedule:
		for k := range calls {
			due := startWall.Add(time.Duration(k) * interval)
			if d := time.Until(due); d > 0 {
				wait.Reset(d)
				select {
				case <-ctx.Done():
					break schedule
				case <-wait.C:
				}
			}
			select {
			case <-ctx.Done():
				break schedule
			case slots <- struct{}{}:
			}
			if time.Since(due) > 10*time.Millisecond {
				late.Add(int64(min(batch, cfg.Count-k*batch)))
			}
			wg.Go(func() {
				defer func() { <-slots }()
				one(k * batch)
			})
		}
	}
	wg.Wait()
	res := PublishResult{
		Accepted: int(accepted.Load()), Failed: int(failed.Load()), Late: int(late.Load()), Err: firstErr,
		First: startWall, Last: lastEnd, Latency: Summarize(took), Took: took,
	}
	if res.Err == nil && ctx.Err() != nil && res.Accepted+res.Failed < cfg.Count {
		res.Err = ctx.Err()
	}
	return res
}
