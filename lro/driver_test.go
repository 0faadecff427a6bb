package lro_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/internal/jsontest"
	"github.com/webhookd/webhookd/lro"
	"github.com/webhookd/webhookd/lro/lrotest"
)

// simSetup is a simulator driving an in-memory store on a fake clock.
type simSetup struct {
	m      *lro.Machine
	clock  *fakeclock.Clock
	store  *lrotest.MemStore
	driver *lro.Driver
	reg    *prometheus.Registry
}

const jobDuration = 5 * time.Second

func setupSim(t *testing.T, wrap func(lro.Runner) lro.Runner) *simSetup {
	t.Helper()
	clock := fakeclock.New(t0)
	store := lrotest.NewMemStore(clock)
	m := newMachine(t, lro.Config{SimJobDuration: jobDuration})
	var runner lro.Runner = lro.NewSimulator(m, store, clock)
	if wrap != nil {
		runner = wrap(runner)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	d, err := lro.NewDriver(store, runner, lro.DriverConfig{Lease: time.Minute, Logger: logger, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return &simSetup{m: m, clock: clock, store: store, driver: d, reg: reg}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// metric returns the value of the counter name with labels (0 if absent).
func (s *simSetup) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (s *simSetup) create(t *testing.T, c webhookd.OperationChange) {
	t.Helper()
	if err := s.store.CommitOperationChange(context.Background(), c); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// runOnce steps what is due and checks how many operations were claimed.
func (s *simSetup) runOnce(t *testing.T, wantClaimed int) {
	t.Helper()
	n, err := s.driver.RunOnce(context.Background())
	if err != nil || n != wantClaimed {
		t.Fatalf("RunOnce = %d, %v; want %d claimed", n, err, wantClaimed)
	}
}

func (s *simSetup) get(t *testing.T, id string) *webhookd.Operation {
	t.Helper()
	op, err := s.store.GetOperation(context.Background(), "prj_1", id)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func (s *simSetup) events(t *testing.T) []*webhookd.Event {
	t.Helper()
	evs, err := s.store.Events(context.Background(), "prj_1")
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// eventData returns the data of ev's envelope.
var eventData = jsontest.EventData

func TestSimulatorRunsABatchFromAnUploadedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setupSim(t, nil)
	input := webhookd.NewFile("prj_1", "in.jsonl", "application/jsonl", webhookd.FileUploaded,
		[]byte(`{"key":"a","request":{"contents":[{"parts":[{"text":"ping"}]}]}}`+"\n"+`{"key":"b","request":{}}`+"\n"), t0)
	if err := s.store.CreateFile(ctx, input); err != nil {
		t.Fatal(err)
	}
	req := &lro.BatchRequest{Model: "gemini-3-flash-preview", DisplayName: "My Setup", FileName: input.Name(),
		WebhookConfig: &webhookd.WebhookConfig{UserMetadata: json.RawMessage(`{"job_group":"nightly-eval"}`)}}
	op, err := s.m.NewBatch("prj_1", req, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.create(t, webhookd.OperationChange{Create: []*webhookd.Operation{op}})

	s.runOnce(t, 1)
	if got := s.get(t, op.ID).State; got != webhookd.BatchRunning {
		t.Fatalf("after the first step: %s", got)
	}
	s.runOnce(t, 0) // nothing is due until the job's duration has passed
	s.clock.Advance(jobDuration)
	s.runOnce(t, 1)
	done := s.get(t, op.ID)
	if done.State != webhookd.BatchSucceeded || done.NextStepTime != nil {
		t.Fatalf("final: %s next %v", done.State, done.NextStepTime)
	}
	evs := s.events(t)
	if len(evs) != 1 || evs[0].Type != webhookd.EventBatchSucceeded {
		t.Fatalf("events %+v", evs)
	}
	data := eventData(t, evs[0])
	uri, _ := data["output_file_uri"].(string)
	fileID := strings.TrimSuffix(strings.TrimPrefix(uri, baseURL+"/v1/files/"), ":download?alt=media")
	results, err := webhookd.ReadFileContent(ctx, s.store, "prj_1", fileID)
	if err != nil {
		t.Fatalf("output_file_uri %q does not name a stored file: %v", uri, err)
	}
	if data["error_count"] != float64(1) || data["id"] != op.ID || strings.Count(string(results), "\n") != 2 {
		t.Fatalf("data %v, results:\n%s", data, results)
	}
	if meta, _ := data["user_metadata"].(map[string]any); meta["job_group"] != "nightly-eval" {
		t.Fatalf("user_metadata %v", data["user_metadata"])
	}
	s.clock.Advance(time.Hour)
	s.runOnce(t, 0) // finished operations are never claimed again
	if got := s.metric(t, "webhookd_lro_steps_total", map[string]string{"kind": "batch", "outcome": "committed"}); got != 2 {
		t.Errorf("committed steps = %v, want 2", got)
	}
	if got := s.metric(t, "webhookd_lro_transitions_total", map[string]string{"kind": "batch", "state": "BATCH_STATE_SUCCEEDED"}); got != 1 {
		t.Errorf("transitions to SUCCEEDED = %v, want 1", got)
	}
}

func TestSimulatorFailsABatchWhoseInputWasDeleted(t *testing.T) {
	t.Parallel()
	s := setupSim(t, nil)
	op, _ := s.m.NewBatch("prj_1", &lro.BatchRequest{Model: "g", FileName: "files/gone"}, t0)
	s.create(t, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
	s.runOnce(t, 1)
	s.clock.Advance(jobDuration)
	s.runOnce(t, 1)
	evs := s.events(t)
	if got := s.get(t, op.ID).State; got != webhookd.BatchFailed || len(evs) != 1 || eventData(t, evs[0])["error_code"] != "NOT_FOUND" {
		t.Fatalf("state %s events %+v", got, evs)
	}
}

func TestSimulatorRunsInteractionsAndVideos(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setupSim(t, nil)
	c, inter, err := s.m.NewInteraction("prj_1", sayHi(true), nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	s.create(t, c)
	video, _ := s.m.NewVideo("prj_1", aCat, t0)
	s.create(t, webhookd.OperationChange{Create: []*webhookd.Operation{video}})

	s.runOnce(t, 1) // the interaction leaves the queue; the video is not due yet
	s.clock.Advance(jobDuration)
	s.runOnce(t, 2)
	if got := s.get(t, inter.ID).State; got != webhookd.InteractionCompleted {
		t.Fatalf("interaction %s", got)
	}
	if got := s.get(t, video.ID).State; got != webhookd.VideoDone {
		t.Fatalf("video %s", got)
	}
	types := map[string]*webhookd.Event{}
	for _, ev := range s.events(t) {
		types[ev.Type] = ev
	}
	if len(types) != 2 || types[webhookd.EventInteractionCompleted] == nil || types[webhookd.EventVideoGenerated] == nil {
		t.Fatalf("events %v", types)
	}
	fileID, _ := eventData(t, types[webhookd.EventVideoGenerated])["file_id"].(string)
	if content, err := webhookd.ReadFileContent(ctx, s.store, "prj_1", fileID); err != nil || !strings.Contains(string(content), "a cat") {
		t.Fatalf("video file %q: %q, %v", fileID, content, err)
	}
}

// runnerFunc adapts a function to lro.Runner.
type runnerFunc func(ctx context.Context, op *webhookd.Operation) (webhookd.OperationChange, error)

func (f runnerFunc) Step(ctx context.Context, op *webhookd.Operation) (webhookd.OperationChange, error) {
	return f(ctx, op)
}

func TestDriverDropsAStepACancelOvertook(t *testing.T) {
	t.Parallel()
	var s *simSetup
	s = setupSim(t, func(sim lro.Runner) lro.Runner {
		return runnerFunc(func(ctx context.Context, op *webhookd.Operation) (webhookd.OperationChange, error) {
			change, err := sim.Step(ctx, op)
			if op.State == webhookd.BatchRunning {
				// The API cancels the batch while the runner is working on it.
				cur := s.get(t, op.ID)
				cancel, cerr := s.m.CancelBatch(cur, s.clock.Now())
				if cerr != nil {
					t.Errorf("cancel: %v", cerr)
				}
				s.create(t, cancel)
			}
			return change, err
		})
	})
	op := newBatch(t, s.m, inlineReq)
	s.create(t, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
	s.runOnce(t, 1)
	s.clock.Advance(jobDuration)
	s.runOnce(t, 1) // the step's commit loses the race and is dropped without error
	evs := s.events(t)
	if got := s.get(t, op.ID).State; got != webhookd.BatchCancelled || len(evs) != 1 || evs[0].Type != webhookd.EventBatchCancelled {
		t.Fatalf("state %s, events %+v; want only the cancel", got, evs)
	}
	if got := s.metric(t, "webhookd_lro_steps_total", map[string]string{"kind": "batch", "outcome": "superseded"}); got != 1 {
		t.Errorf("superseded steps = %v, want 1", got)
	}
}

func TestDriverRetriesAFailedStepAfterTheLease(t *testing.T) {
	t.Parallel()
	fail := true
	s := setupSim(t, func(sim lro.Runner) lro.Runner {
		return runnerFunc(func(ctx context.Context, op *webhookd.Operation) (webhookd.OperationChange, error) {
			if fail {
				return webhookd.OperationChange{}, errors.New("model backend unavailable")
			}
			return sim.Step(ctx, op)
		})
	})
	op := newBatch(t, s.m, inlineReq)
	s.create(t, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
	s.runOnce(t, 1)
	if got := s.get(t, op.ID); got.State != webhookd.BatchPending || s.store.Commits() != 1 {
		t.Fatalf("a failed step wrote: %+v", got)
	}
	if got := s.metric(t, "webhookd_lro_steps_total", map[string]string{"kind": "batch", "outcome": "failed"}); got != 1 {
		t.Errorf("failed steps = %v, want 1", got)
	}
	fail = false
	s.runOnce(t, 0) // leased
	s.clock.Advance(time.Minute)
	s.runOnce(t, 1)
	if got := s.get(t, op.ID).State; got != webhookd.BatchRunning {
		t.Fatalf("after the lease: %s", got)
	}
}

func TestDriverRunWakesAndStops(t *testing.T) {
	t.Parallel()
	stepped := make(chan string, 1)
	s := setupSim(t, func(sim lro.Runner) lro.Runner {
		return runnerFunc(func(ctx context.Context, op *webhookd.Operation) (webhookd.OperationChange, error) {
			c, err := sim.Step(ctx, op)
			stepped <- op.ID
			return c, err
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.driver.Run(ctx) }()
	op := newBatch(t, s.m, inlineReq)
	s.create(t, webhookd.OperationChange{Create: []*webhookd.Operation{op}})
	s.driver.Wake()
	if id := <-stepped; id != op.ID {
		t.Fatalf("stepped %s, want %s", id, op.ID)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}
