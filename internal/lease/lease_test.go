package lease_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/lease"
)

func TestOnePerDelivery(t *testing.T) {
	t.Parallel()
	res := func(id, token string, o webhookd.Outcome) webhookd.Result {
		return webhookd.Result{DeliveryID: id, LeaseToken: token, Outcome: o}
	}
	ok, retry := webhookd.OutcomeSucceeded, webhookd.OutcomeRetry
	leases := map[string]string{"d1": "t2", "d2": "u1", "d3": ""}
	tests := []struct {
		name      string
		in        []webhookd.Result
		want      []webhookd.Result
		wantAsked []string // deliveries whose leases were looked up; nil: no lookup
	}{
		{"empty", nil, []webhookd.Result{}, nil},
		{"one per delivery, in order",
			[]webhookd.Result{res("d2", "u1", ok), res("d1", "t2", retry)},
			[]webhookd.Result{res("d2", "u1", ok), res("d1", "t2", retry)}, nil},
		{"a repeated result of one claim counts once, the first",
			[]webhookd.Result{res("d1", "t2", ok), res("d1", "t2", retry)},
			[]webhookd.Result{res("d1", "t2", ok)}, nil},
		{"stale claim first: the current one is kept",
			[]webhookd.Result{res("d1", "t1", retry), res("d2", "u1", ok), res("d1", "t2", ok)},
			[]webhookd.Result{res("d2", "u1", ok), res("d1", "t2", ok)}, []string{"d1"}},
		{"current claim first: it is kept",
			[]webhookd.Result{res("d1", "t2", ok), res("d1", "t1", retry)},
			[]webhookd.Result{res("d1", "t2", ok)}, []string{"d1"}},
		{"no claim holds the lease: none is kept",
			[]webhookd.Result{res("d1", "t0", ok), res("d1", "t1", retry), res("d2", "u1", ok)},
			[]webhookd.Result{res("d2", "u1", ok)}, []string{"d1"}},
		{"an empty token never matches, not even a cleared lease",
			[]webhookd.Result{res("d3", "", ok), res("d3", "x", ok)},
			[]webhookd.Result{}, []string{"d3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			got, err := lease.OnePerDelivery(tt.in, func(ids []string) (map[string]string, error) {
				asked = append(asked, ids...)
				return leases, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("OnePerDelivery = %v, want %v", got, tt.want)
			}
			if !slices.Equal(asked, tt.wantAsked) {
				t.Errorf("looked up the leases of %v, want %v", asked, tt.wantAsked)
			}
		})
	}

	t.Run("lookup error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := lease.OnePerDelivery([]webhookd.Result{res("d1", "t1", ok), res("d1", "t2", ok)},
			func([]string) (map[string]string, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Errorf("error = %v, want it to wrap %v", err, boom)
		}
	})
}
