package activity_test

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/activity"
	"github.com/webhookd/webhookd/internal/fakeclock"
)

var epoch = time.Date(2026, time.March, 1, 12, 0, 30, 0, time.UTC)

func attempt(project, dest string, at time.Time, ok bool, latency time.Duration) activity.Attempt {
	a := activity.Attempt{ProjectID: project, Destination: dest, URI: dest + "/h", WebhookID: "wh_" + dest[len(dest)-1:],
		Time: at, Latency: latency, Attempted: true, Outcome: webhookd.OutcomeSucceeded, StatusCode: 200}
	if !ok {
		a.Outcome, a.StatusCode, a.ErrorStage = webhookd.OutcomeRetry, 503, "status"
	}
	return a
}

func TestStats(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(epoch)
	r := activity.New(clock)
	// 90 minutes ago (forgotten), 10 minutes ago, and now.
	r.Record(attempt("p", "https://a:443", epoch.Add(-90*time.Minute), true, time.Millisecond))
	for i := range 100 {
		r.Record(attempt("p", "https://a:443", epoch.Add(-10*time.Minute), i < 90, time.Duration(i+1)*time.Millisecond))
	}
	r.Record(attempt("p", "https://b:443", epoch, false, 2*time.Second))
	r.Record(attempt("other", "https://a:443", epoch, true, time.Millisecond))
	r.NoteBacklog("p", 7, epoch)

	st := r.Stats("p")
	if len(st.Points) != 60 || !st.Points[59].Time.Equal(epoch.Truncate(time.Minute)) {
		t.Fatalf("points = %d ending %v, want 60 ending with this minute", len(st.Points), st.Points[len(st.Points)-1].Time)
	}
	if st.Attempts != 101 || st.Succeeded != 90 {
		t.Errorf("hour = %d attempts, %d succeeded; want 101 and 90", st.Attempts, st.Succeeded)
	}
	ten := st.Points[49]
	if ten.Attempts != 100 || ten.Failed != 10 || *ten.P50 != 50*time.Millisecond || *ten.P99 != 100*time.Millisecond {
		t.Errorf("10 minutes ago = %+v (p50 %v p99 %v)", ten, *ten.P50, *ten.P99)
	}
	if last := st.Points[59]; last.Attempts != 1 || *last.P50 != 2*time.Second || last.Backlog == nil || *last.Backlog != 7 {
		t.Errorf("this minute = %+v", last)
	}
	if st.Points[58].P50 != nil || st.Points[58].Backlog != nil {
		t.Errorf("an empty minute has a latency or backlog: %+v", st.Points[58])
	}

	ds := r.Destinations("p")
	if len(ds) != 2 || ds[0].Destination != "https://a:443" || ds[0].Attempts != 100 || ds[0].Succeeded != 90 {
		t.Fatalf("destinations = %+v", ds)
	}
	if !ds[0].FailingSince.Equal(epoch.Add(-10*time.Minute)) || !ds[1].FailingSince.Equal(epoch) {
		t.Errorf("failing since = %v and %v", ds[0].FailingSince, ds[1].FailingSince)
	}
	if len(ds[1].WebhookIDs) != 1 || ds[1].WebhookIDs[0] != "wh_3" && ds[1].WebhookIDs[0] != "wh_b" {
		t.Errorf("webhooks of b = %v", ds[1].WebhookIDs)
	}
	// A success ends the failing run; an hour later everything is gone.
	r.Record(attempt("p", "https://b:443", epoch, true, time.Millisecond))
	if ds := r.Destinations("p"); !ds[1].FailingSince.IsZero() {
		t.Errorf("failing since after a success = %v", ds[1].FailingSince)
	}
	clock.Advance(2 * time.Hour)
	if st := r.Stats("p"); st.Attempts != 0 || len(r.Destinations("p")) != 0 {
		t.Errorf("two hours later: %d attempts, %d destinations", st.Attempts, len(r.Destinations("p")))
	}
}

func TestSubscribe(t *testing.T) {
	t.Parallel()
	r := activity.New(fakeclock.New(epoch))
	sub := r.Subscribe("p")
	other := r.Subscribe("q")
	r.Record(attempt("p", "https://a:443", epoch, true, time.Millisecond))
	select {
	case a := <-sub.C():
		if a.ProjectID != "p" {
			t.Errorf("got %+v", a)
		}
	default:
		t.Fatal("the subscriber got nothing")
	}
	select {
	case a := <-other.C():
		t.Fatalf("another project's subscriber got %+v", a)
	default:
	}
	// A subscriber that falls behind loses attempts, and is told.
	for range 300 {
		r.Record(attempt("p", "https://a:443", epoch, true, time.Millisecond))
	}
	if n := sub.Lost(); n != 300-256 {
		t.Errorf("lost = %d, want %d", n, 300-256)
	}
	sub.Close()
	sub.Close() // twice is harmless
	r.Close()
	if _, ok := <-other.C(); ok {
		t.Error("a subscription is open after the recorder closed")
	}
	if _, ok := <-r.Subscribe("p").C(); ok {
		t.Error("a subscription made after Close is open")
	}
}

// BenchmarkRecord is what the recorder costs an attempt on the engine's
// path: a map lookup, a few additions and a histogram slot, under a lock.
func BenchmarkRecord(b *testing.B) {
	r := activity.New(fakeclock.New(epoch))
	a := attempt("p", "https://a:443", epoch, true, 12*time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		r.Record(a)
	}
}
