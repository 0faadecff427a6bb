// Package lease holds the rule by which the stores apply the results of
// claimed deliveries: a result counts only under the delivery's current lease.
package lease

import (
	"fmt"

	"github.com/webhookd/webhookd"
)

// OnePerDelivery reduces a batch of results to at most one per delivery,
// the one a store can apply: a repeated result of one claim (same delivery
// and lease token) counts once, and when a delivery has results of several
// claims — it was retried, or its lease expired and it was claimed again,
// while an earlier claim's attempt was in flight — only the result holding
// its current lease is kept. Dropping by delivery alone would keep
// whichever came first, and when that is the stale claim's, the current
// claim's outcome would be lost and the delivery would wait for its lease to
// expire.
//
// leases returns the current lease token of each of the given deliveries;
// it is called, inside the store's transaction, only when some delivery has
// results of several claims, which is rare. Order is kept.
func OnePerDelivery(results []webhookd.Result, leases func(deliveryIDs []string) (map[string]string, error)) ([]webhookd.Result, error) {
	type claim struct{ delivery, token string }
	seen := make(map[claim]bool, len(results))
	claims := make(map[string]int, len(results)) // distinct claims per delivery
	out := make([]webhookd.Result, 0, len(results))
	var contested []string
	for _, r := range results {
		k := claim{r.DeliveryID, r.LeaseToken}
		if seen[k] {
			continue
		}
		seen[k] = true
		if claims[r.DeliveryID]++; claims[r.DeliveryID] == 2 {
			contested = append(contested, r.DeliveryID)
		}
		out = append(out, r)
	}
	if len(contested) == 0 {
		return out, nil
	}
	current, err := leases(contested)
	if err != nil {
		return nil, fmt.Errorf("current leases of %d deliveries: %w", len(contested), err)
	}
	kept := out[:0]
	for _, r := range out {
		if claims[r.DeliveryID] > 1 && (r.LeaseToken == "" || r.LeaseToken != current[r.DeliveryID]) {
			continue // a stale claim's result; the store would ignore it anyway
		}
		kept = append(kept, r)
	}
	return kept, nil
}
