package delivery_test

import (
	"fmt"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

func ExampleParseSchedule() {
	s, err := delivery.ParseSchedule("10s, 1m, 10m, 1h, 4h")
	fmt.Println(s, err)
	_, err = delivery.ParseSchedule("1m,30s")
	fmt.Println(err)
	// Output:
	// [10s 1m0s 10m0s 1h0m0s 4h0m0s] <nil>
	// retry schedule step 2 (30s) is shorter than step 1 (1m0s); steps must not shrink
}

// The default policy without jitter (Random 0): each retry's delay from the
// attempt before it, and the final attempt placed at the end of the 24 h
// window.
func ExampleRetryPolicy_Next() {
	p := delivery.DefaultRetryPolicy()
	first := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := first
	for attempt := 1; ; attempt++ {
		next, ok := p.Next(delivery.RetryParams{Attempt: attempt, FirstAttempt: first, Now: now})
		if !ok {
			fmt.Printf("after attempt %d (%v after the first): give up\n", attempt, now.Sub(first))
			return
		}
		fmt.Printf("after attempt %d: wait %v\n", attempt, next.Sub(now))
		now = next
	}
	// Output:
	// after attempt 1: wait 5s
	// after attempt 2: wait 15s
	// after attempt 3: wait 1m0s
	// after attempt 4: wait 5m0s
	// after attempt 5: wait 30m0s
	// after attempt 6: wait 1h30m0s
	// after attempt 7: wait 4h0m0s
	// after attempt 8: wait 4h0m0s
	// after attempt 9: wait 4h0m0s
	// after attempt 10: wait 4h0m0s
	// after attempt 11: wait 4h0m0s
	// after attempt 12: wait 1h53m40s
	// after attempt 13 (24h0m0s after the first): give up
}
