package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/activity"
)

// How deliveries are doing, for the console's overview and live tail. The
// last hour comes from this process's activity recorder (Config.Activity);
// backlogs come from the store.
//
//	GET /deliveryStats          the last hour, minute by minute, and now
//	GET /destinations           each destination's circuit, failing run, success rate, latency, backlog
//	GET /deliveries:stream      attempts as they happen (server-sent events)

// heartbeatEvery keeps a live stream's connection from looking idle to
// proxies, and finds a client that left.
const heartbeatEvery = 15 * time.Second

type pointJSON struct {
	Time         string   `json:"time"`
	Attempts     int      `json:"attempts"`
	Succeeded    int      `json:"succeeded"`
	Failed       int      `json:"failed"`
	P50LatencyMS *float64 `json:"p50_latency_ms"`
	P99LatencyMS *float64 `json:"p99_latency_ms"`
	Backlog      *int     `json:"backlog"`
}

func ms(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	v := float64(*d) / float64(time.Millisecond)
	return &v
}

func rate(succeeded, attempts int) *float64 {
	if attempts == 0 {
		return nil
	}
	v := float64(succeeded) / float64(attempts)
	return &v
}

// deliveryStats is GET /deliveryStats.
func (s *Server) deliveryStats(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.activity()
	if err != nil {
		return err
	}
	project := projectOf(r)
	dests, backlog, err := s.destinations(r, rec, project)
	if err != nil {
		return err
	}
	rec.NoteBacklog(project, backlog, s.cfg.Clock.Now())
	st := rec.Stats(project)
	out := struct {
		Points       []pointJSON `json:"points"`
		Attempts     int         `json:"attempts"`
		SuccessRate  *float64    `json:"success_rate"`
		P50LatencyMS *float64    `json:"p50_latency_ms"`
		P99LatencyMS *float64    `json:"p99_latency_ms"`
		Backlog      int         `json:"backlog"`
		OpenCircuits int         `json:"open_circuits"`
	}{
		Points: make([]pointJSON, len(st.Points)), Attempts: st.Attempts, SuccessRate: rate(st.Succeeded, st.Attempts),
		P50LatencyMS: ms(st.P50), P99LatencyMS: ms(st.P99), Backlog: backlog,
	}
	for i, p := range st.Points {
		out.Points[i] = pointJSON{Time: formatTime(p.Time), Attempts: p.Attempts, Succeeded: p.Succeeded, Failed: p.Failed,
			P50LatencyMS: ms(p.P50), P99LatencyMS: ms(p.P99), Backlog: p.Backlog}
	}
	for _, d := range dests {
		if d.CircuitState != "closed" {
			out.OpenCircuits++
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// destinationJSON is one destination's health.
type destinationJSON struct {
	Destination  string `json:"destination"`
	CircuitState string `json:"circuit_state"`
	// ConcurrencyLimit is how many attempts this process lets the
	// destination have in flight now; it adapts to how the destination
	// answers.
	ConcurrencyLimit int      `json:"concurrency_limit,omitempty"`
	FailingSince     string   `json:"failing_since,omitempty"`
	Attempts         int      `json:"attempts"`
	SuccessRate      *float64 `json:"success_rate"`
	P50LatencyMS     *float64 `json:"p50_latency_ms"`
	P99LatencyMS     *float64 `json:"p99_latency_ms"`
	Backlog          int      `json:"backlog"`
	// OldestPendingTime is when the oldest pending delivery was created.
	OldestPendingTime string   `json:"oldest_pending_time,omitempty"`
	LastAttemptTime   string   `json:"last_attempt_time,omitempty"`
	Webhooks          []string `json:"webhooks"`
	URIs              []string `json:"uris"`
}

// listDestinations is GET /destinations: every destination the project's
// deliveries went to in the last hour or still wait for.
func (s *Server) listDestinations(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.activity()
	if err != nil {
		return err
	}
	dests, _, err := s.destinations(r, rec, projectOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Destinations []destinationJSON `json:"destinations"`
	}{dests})
	return nil
}

// destinations merges the recorder's last hour with the store's backlog,
// by destination, and returns them with the project's whole backlog.
func (s *Server) destinations(r *http.Request, rec *activity.Recorder, project string) ([]destinationJSON, int, error) {
	backlog, err := s.cfg.Store.ListBacklog(r.Context(), project)
	if err != nil {
		return nil, 0, err
	}
	byName := map[string]*destinationJSON{}
	get := func(name string) *destinationJSON {
		d := byName[name]
		if d == nil {
			d = &destinationJSON{Destination: name, CircuitState: "closed", Webhooks: []string{}, URIs: []string{}}
			if s.cfg.Circuits != nil {
				d.CircuitState = s.cfg.Circuits(name)
			}
			if s.cfg.ConcurrencyLimits != nil {
				d.ConcurrencyLimit = s.cfg.ConcurrencyLimits(name)
			}
			byName[name] = d
		}
		return d
	}
	for _, a := range rec.Destinations(project) {
		d := get(a.Destination)
		d.Attempts, d.SuccessRate = a.Attempts, rate(a.Succeeded, a.Attempts)
		d.P50LatencyMS, d.P99LatencyMS = ms(a.P50), ms(a.P99)
		if !a.FailingSince.IsZero() {
			d.FailingSince = formatTime(a.FailingSince)
		}
		d.LastAttemptTime = formatTime(a.LastAttempt)
		d.Webhooks = append(d.Webhooks, a.WebhookIDs...)
		d.URIs = append(d.URIs, a.URIs...)
	}
	total := 0
	for _, b := range backlog {
		d := get(webhookd.DestinationOf(b.URI))
		d.Backlog += b.Pending
		total += b.Pending
		if t := formatTime(b.OldestCreateTime); d.OldestPendingTime == "" || t < d.OldestPendingTime {
			d.OldestPendingTime = t
		}
		if b.WebhookID != "" {
			d.Webhooks = appendNew(d.Webhooks, b.WebhookID)
		}
		d.URIs = appendNew(d.URIs, b.URI)
	}
	out := make([]destinationJSON, 0, len(byName))
	for _, d := range byName {
		sort.Strings(d.Webhooks)
		sort.Strings(d.URIs)
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out, total, nil
}

func appendNew(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// attemptEventJSON is one attempt on the live stream.
type attemptEventJSON struct {
	Time        string `json:"time"`
	DeliveryID  string `json:"delivery_id"`
	EventID     string `json:"event_id"`
	EventType   string `json:"event_type"`
	WebhookID   string `json:"webhook_id,omitempty"`
	URI         string `json:"uri"`
	Destination string `json:"destination"`
	Attempt     int    `json:"attempt,omitempty"`
	Outcome     string `json:"outcome"`
	StatusCode  int    `json:"status_code,omitempty"`
	LatencyMS   int64  `json:"latency_ms"`
	Error       string `json:"error,omitempty"`
	ErrorStage  string `json:"error_stage,omitempty"`
}

// streamDeliveries is GET /deliveries:stream: server-sent events, one
// "attempt" event per attempt of the project's deliveries as this process
// makes it, a comment every heartbeatEvery, and a "lost" event when the
// client fell behind and attempts were dropped. It ends when the client
// leaves or the server shuts down.
func (s *Server) streamDeliveries(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.activity()
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// The server's write timeout bounds requests, not a stream.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("stream: %w", err)
	}
	sub := rec.Subscribe(projectOf(r))
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": live attempts\n\n"); err != nil {
		return nil
	}
	_ = rc.Flush()
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return nil
		case <-beat.C:
			_, err = fmt.Fprint(w, ": heartbeat\n\n")
		case a, ok := <-sub.C():
			if !ok {
				return nil // the server is shutting down
			}
			if n := sub.Lost(); n > 0 {
				_, err = fmt.Fprintf(w, "event: lost\ndata: {\"count\":%d}\n\n", n)
			}
			if err == nil {
				err = writeAttemptEvent(w, a)
			}
		}
		if err != nil {
			return nil // the client went away
		}
		_ = rc.Flush()
	}
}

func writeAttemptEvent(w http.ResponseWriter, a activity.Attempt) error {
	data, err := json.Marshal(attemptEventJSON{
		Time: formatTime(a.Time), DeliveryID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType,
		WebhookID: a.WebhookID, URI: a.URI, Destination: a.Destination, Attempt: a.Number,
		Outcome: string(a.Outcome), StatusCode: a.StatusCode, LatencyMS: a.Latency.Milliseconds(),
		Error: a.Error, ErrorStage: a.ErrorStage,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: attempt\ndata: %s\n\n", data)
	return err
}

// activity returns the recorder, or an error when the server has none.
func (s *Server) activity() (*activity.Recorder, error) {
	if s.cfg.Activity == nil {
		return nil, webhookd.Errorf(webhookd.ENOTIMPLEMENTED, "This server keeps no delivery activity.")
	}
	return s.cfg.Activity, nil
}
