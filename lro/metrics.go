package lro

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd/internal/promreg"
)

// Step outcomes, the outcome label of webhookd_lro_steps_total.
const (
	outcomeCommitted  = "committed"  // the change was written
	outcomeSuperseded = "superseded" // a cancel or another runner got there first
	outcomeFailed     = "failed"     // the runner or the store failed; retried after the lease
	outcomeIdle       = "idle"       // the runner had nothing to change
)

// driverMetrics count what the Driver does. States are bounded (the
// OperationState values), kinds too, so the series count stays small.
type driverMetrics struct {
	steps  *prometheus.CounterVec
	states *prometheus.CounterVec
}

// newDriverMetrics registers the metrics with reg; a nil reg counts them
// without exporting. A second Driver on the same registry shares them.
func newDriverMetrics(reg prometheus.Registerer) (*driverMetrics, error) {
	steps, err := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "webhookd", Subsystem: "lro", Name: "steps_total",
		Help: "Operation steps by kind and outcome (committed, superseded, failed, idle).",
	}, []string{"kind", "outcome"}))
	if err != nil {
		return nil, err
	}
	states, err := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "webhookd", Subsystem: "lro", Name: "transitions_total",
		Help: "Operations that a runner step moved into a state, by kind and state.",
	}, []string{"kind", "state"}))
	if err != nil {
		return nil, err
	}
	return &driverMetrics{steps: steps, states: states}, nil
}
