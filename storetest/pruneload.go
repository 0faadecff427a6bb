package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// PruneLoadReport is what MeasurePruneBesideClaims saw.
type PruneLoadReport struct {
	// Pruned events, in Batches, over PruneTime.
	Pruned, Batches int
	PruneTime       time.Duration
	// Claim rounds (one claim and one record) alone, then beside the prune.
	Baseline, During Latencies
}

// Latencies summarises claim rounds.
type Latencies struct {
	Rounds        int
	P50, P99, Max time.Duration
}

func summarise(ds []time.Duration) Latencies {
	if len(ds) == 0 {
		return Latencies{}
	}
	slices.Sort(ds)
	return Latencies{Rounds: len(ds), P50: ds[len(ds)/2], P99: ds[len(ds)*99/100], Max: ds[len(ds)-1]}
}

func (l Latencies) String() string {
	return fmt.Sprintf("%d rounds, p50 %v, p99 %v, max %v", l.Rounds, l.P50, l.P99, l.Max)
}

func (r PruneLoadReport) String() string {
	rate := float64(r.Pruned) / r.PruneTime.Seconds()
	return fmt.Sprintf("pruned %d events in %d batches in %v (%.0f events/s)\nclaim rounds alone:        %v\nclaim rounds beside prune: %v",
		r.Pruned, r.Batches, r.PruneTime.Round(time.Millisecond), rate, r.Baseline, r.During)
}

// MeasurePruneBesideClaims shows what retention does to delivery on st, a
// store on the system clock whose history the caller has filled with
// prunable events and whose queue holds due deliveries. A claim loop —
// claim up to 100 due deliveries, record them deferred and due again at
// once, so the queue never drains — runs alone for baselineRounds rounds,
// then beside a prune loop that deletes batches of p.Limit, pausing pause
// between them (zero is the worst case; serve pauses 10 ms), until a batch
// comes back short. It reports timings and asserts only that both loops
// worked.
func MeasurePruneBesideClaims(tb testing.TB, st webhookd.Store, p webhookd.PruneParams, pause time.Duration, baselineRounds int) PruneLoadReport {
	tb.Helper()
	ctx := tb.Context()
	round := func() (time.Duration, error) {
		start := time.Now()
		cs, err := st.ClaimDeliveries(ctx, 100, time.Minute)
		if err != nil {
			return 0, err
		}
		if len(cs) == 0 {
			return 0, fmt.Errorf("the claim loop found nothing due")
		}
		rs := make([]webhookd.Result, len(cs))
		for i, c := range cs {
			rs[i] = webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken,
				Outcome: webhookd.OutcomeDeferred, NextAttemptTime: time.Now()}
		}
		if err := st.RecordResults(ctx, rs); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}

	var r PruneLoadReport
	var alone []time.Duration
	for range baselineRounds {
		d, err := round()
		if err != nil {
			tb.Fatal(err)
		}
		alone = append(alone, d)
	}
	r.Baseline = summarise(alone)

	pruneCtx, stopClaims := context.WithCancel(ctx)
	defer stopClaims()
	var (
		wg       sync.WaitGroup
		during   []time.Duration
		claimErr error
	)
	wg.Go(func() {
		for pruneCtx.Err() == nil {
			d, err := round()
			if err != nil {
				if pruneCtx.Err() == nil {
					claimErr = err
				}
				return
			}
			during = append(during, d)
		}
	})
	start := time.Now()
	for {
		n, err := st.PruneEvents(ctx, p)
		if err != nil {
			stopClaims()
			wg.Wait()
			tb.Fatal(err)
		}
		r.Pruned += n
		r.Batches++
		if n < p.Limit {
			break
		}
		if pause > 0 {
			t := time.NewTimer(pause)
			<-t.C
		}
	}
	r.PruneTime = time.Since(start)
	stopClaims()
	wg.Wait()
	if claimErr != nil {
		tb.Fatalf("claim loop beside the prune: %v", claimErr)
	}
	r.During = summarise(during)
	if r.During.Rounds == 0 {
		tb.Fatalf("no claim round completed during a %v prune", r.PruneTime)
	}
	return r
}

// PruneLoad is a store filled for BenchmarkPruneBesideClaims: history old
// succeeded events (each with a delivery and an attempt) and queue due
// deliveries.
type PruneLoad struct {
	Store webhookd.Store
	// Left counts the events and attempts left in the store.
	Left func(ctx context.Context) (int, error)
}

// BenchmarkPruneBesideClaims prunes a large history in batches of 500 while
// a claim loop runs (see MeasurePruneBesideClaims), without and with the
// pause serve makes between batches, and reports what the claims saw. fill
// returns a fresh store of the backend, filled; it registers its cleanup
// with b.
func BenchmarkPruneBesideClaims(b *testing.B, backend string, fill func(b *testing.B, history, queue int, old time.Time) PruneLoad) {
	const history, queue = 100_000, 1_000
	for _, pause := range []time.Duration{0, 10 * time.Millisecond} {
		b.Run("pause="+pause.String(), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				old := time.Now().Add(-40 * 24 * time.Hour)
				l := fill(b, history, queue, old)
				b.StartTimer()
				r := MeasurePruneBesideClaims(b, l.Store, webhookd.PruneParams{
					SucceededBefore: old.Add(24 * time.Hour), FailedBefore: old.Add(24 * time.Hour), Limit: 500}, pause, 200)
				b.StopTimer()
				left, err := l.Left(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				// What stays is the queue: its events, and no attempt (deferrals make none).
				if r.Pruned != history || left != queue {
					b.Fatalf("pruned %d of %d events; %d events and attempts left, want the %d of the queue", r.Pruned, history, left, queue)
				}
				b.Logf("%s, %d old events beside %d due deliveries, batches of 500, pause %v:\n%v", backend, history, queue, pause, r)
				b.ReportMetric(float64(r.Pruned)/r.PruneTime.Seconds(), "pruned/s")
				b.ReportMetric(float64(r.During.P50.Microseconds())/1000, "claim-p50-ms")
				b.ReportMetric(float64(r.During.P99.Microseconds())/1000, "claim-p99-ms")
				b.ReportMetric(float64(r.Baseline.P99.Microseconds())/1000, "alone-p99-ms")
				b.StartTimer()
			}
		})
	}
}
