package receiver_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/receiver"
)

func TestMemoryFilter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := fakeclock.New(epoch)
	f := receiver.NewMemoryFilter(time.Hour, clock.Now)
	seen := func(id string) bool {
		t.Helper()
		dup, err := f.Seen(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return dup
	}
	if seen("a") {
		t.Fatal("first sight reported as duplicate")
	}
	if !seen("a") {
		t.Fatal("second sight not reported")
	}
	if seen("b") {
		t.Fatal("another id reported as duplicate")
	}
	if err := f.Forget(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if seen("a") {
		t.Fatal("forgotten id reported as duplicate")
	}

	clock.Advance(time.Hour - time.Second)
	if !seen("b") {
		t.Fatal("id expired before its TTL")
	}
	clock.Advance(time.Second)
	if seen("b") {
		t.Fatal("id still remembered after its TTL")
	}
	if n := f.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1 (only b, just seen again)", n)
	}
}

func TestMemoryFilterExpiryFreesMemory(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(epoch)
	f := receiver.NewMemoryFilter(time.Minute, clock.Now)
	for i := range 5000 {
		if _, err := f.Seen(t.Context(), fmt.Sprint("msg_", i)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	if _, err := f.Seen(t.Context(), "late"); err != nil {
		t.Fatal(err)
	}
	if n := f.Len(); n != 1 {
		t.Fatalf("Len = %d after every other id expired, want 1", n)
	}
}

func TestMemoryFilterEvictsOldestPastMax(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(epoch)
	f := receiver.NewMemoryFilter(0, clock.Now)
	f.SetMaxIDs(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		clock.Advance(time.Second)
		if _, err := f.Seen(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if f.Len() != 3 {
		t.Fatalf("Len = %d, want 3", f.Len())
	}
	if dup, _ := f.Seen(t.Context(), "d"); !dup {
		t.Fatal("newest id evicted")
	}
	if dup, _ := f.Seen(t.Context(), "a"); dup {
		t.Fatal("oldest id kept past the bound")
	}
}

func TestMemoryFilterConcurrent(t *testing.T) {
	t.Parallel()
	f := receiver.NewMemoryFilter(time.Hour, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				dup, err := f.Seen(t.Context(), fmt.Sprint(i))
				if err != nil {
					t.Error(err)
				}
				if !dup {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if firsts != 100 {
		t.Fatalf("%d ids were new to someone, want exactly 100", firsts)
	}
}

func TestVerifyReportsDuplicates(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(epoch)
	v, err := receiver.NewVerifier(receiver.Config{
		Secrets:    []string{testSecret},
		Duplicates: receiver.NewMemoryFilter(0, clock.Now),
		Now:        clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := signedHMAC(t, testSecret, "msg_dup", epoch, []byte(testBody))
	if _, err := v.Verify(t.Context(), h, []byte(testBody)); err != nil {
		t.Fatal(err)
	}
	// The sender's retry: same id, a later timestamp, a new signature.
	clock.Advance(30 * time.Second)
	retry := signedHMAC(t, testSecret, "msg_dup", clock.Now(), []byte(testBody))
	ev, err := v.Verify(t.Context(), retry, []byte(testBody))
	if !errors.Is(err, receiver.ErrDuplicate) || ev == nil || ev.ID != "msg_dup" {
		t.Fatalf("retry: event %v, err %v; want the event and ErrDuplicate", ev, err)
	}
	// A forged message with a seen id is rejected as forged, not as a
	// duplicate: the filter is consulted only after verification.
	forged := retry.Clone()
	forged.Set("webhook-signature", "v1,"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if _, err := v.Verify(t.Context(), forged, []byte(testBody)); !errors.Is(err, receiver.ErrBadSignature) {
		t.Fatalf("forged: err = %v", err)
	}
	// A forged message must not poison the filter for a new id either.
	forged.Set("webhook-id", "msg_new")
	_, _ = v.Verify(t.Context(), forged, []byte(testBody))
	if _, err := v.Verify(t.Context(), signedHMAC(t, testSecret, "msg_new", clock.Now(), []byte(testBody)), []byte(testBody)); err != nil {
		t.Fatalf("id first seen in a forged message: %v", err)
	}
}
