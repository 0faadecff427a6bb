package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// TestLastAttemptOnTheRow checks migration 0005's layout: a delivery's row
// holds its last attempt, a new attempt moves it into attempts unchanged and
// numbered after the others, and ListAttempts reads both — also for a row
// recorded before the migration, whose attempts are all in attempts.
func TestLastAttemptOnTheRow(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, p := openWithWebhook(t)
	e, _, err := s.PublishEvent(ctx, webhookd.NewEvent{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded, Data: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.ListDeliveries(ctx, p.ID, e.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("publish: %d deliveries, %v", len(ds), err)
	}
	d := ds[0]

	// Two attempts recorded before migration 0005: in attempts, none on
	// the row.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	for i, status := range []int{500, 502} {
		_, err := s.writer.ExecContext(ctx, `INSERT INTO attempts (id, delivery_id, number, time, status_code, latency_ns, error, response_body)
			VALUES (?, ?, ?, ?, ?, 1000, 'upstream', 'old body')`, webhookd.NewID(webhookd.PrefixAttempt), d.ID, i+1, micros(t0), status)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.writer.ExecContext(ctx, `UPDATE deliveries SET attempt_count = 2, last_attempt_time = ?, last_status_code = 502 WHERE id = ?`,
		micros(t0), d.ID); err != nil {
		t.Fatal(err)
	}

	record := func(status int, outcome webhookd.Outcome) *webhookd.Attempt {
		t.Helper()
		cs, err := s.ClaimDeliveries(ctx, 10, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Fatalf("claim: %d claims, %v", len(cs), err)
		}
		a := &webhookd.Attempt{ID: webhookd.NewID(webhookd.PrefixAttempt), DeliveryID: d.ID,
			Time: time.Now().UTC().Truncate(time.Microsecond), StatusCode: status, Latency: time.Duration(status) * time.Microsecond,
			Error: fmt.Sprint("status ", status), ResponseBody: fmt.Sprint("body ", status)}
		err = s.RecordResults(ctx, []webhookd.Result{{DeliveryID: d.ID, LeaseToken: cs[0].Delivery.LeaseToken,
			Outcome: outcome, NextAttemptTime: time.Now().Add(-time.Second), Attempt: a}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	check := func(wantStatus []int, last *webhookd.Attempt, inTable int) {
		t.Helper()
		as, err := s.ListAttempts(ctx, p.ID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != len(wantStatus) {
			t.Fatalf("ListAttempts gave %d attempts, want %d", len(as), len(wantStatus))
		}
		for i, a := range as {
			if a.Number != i+1 || a.StatusCode != wantStatus[i] || a.DeliveryID != d.ID {
				t.Errorf("attempt %d = number %d, status %d, delivery %s; want %d, %d, %s", i, a.Number, a.StatusCode, a.DeliveryID, i+1, wantStatus[i], d.ID)
			}
		}
		if got := as[len(as)-1]; last != nil {
			want := *last
			want.Number = len(as)
			if *got != want {
				t.Errorf("last attempt = %+v, want %+v", *got, want)
			}
		}
		var n int
		if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM attempts WHERE delivery_id = ?`, d.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != inTable {
			t.Errorf("attempts holds %d of them, want %d (the last on the delivery's row)", n, inTable)
		}
	}
	check([]int{500, 502}, nil, 2)
	a3 := record(503, webhookd.OutcomeRetry)
	check([]int{500, 502, 503}, a3, 2)
	a4 := record(200, webhookd.OutcomeSucceeded)
	check([]int{500, 502, 503, 200}, a4, 3)
	// The third moved into attempts as it was.
	as, err := s.ListAttempts(ctx, p.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *a3
	want.Number = 3
	if *as[2] != want {
		t.Errorf("moved attempt = %+v, want %+v", *as[2], want)
	}
}
