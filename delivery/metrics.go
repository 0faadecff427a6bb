package delivery

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd"
)

// metrics are the engine's Prometheus series (DESIGN.md: deliveries by
// outcome, attempt latency, queue depth and age, open circuits).
type metrics struct {
	deliveries     *prometheus.CounterVec
	handOffs       prometheus.Counter
	polled         prometheus.Counter
	attemptSeconds prometheus.Histogram
	queueDue       prometheus.Gauge
	queueOldestAge prometheus.Gauge
	inflight       prometheus.Gauge
	circuitsOpen   prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, circuitsOpen func() int) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_deliveries_total",
			Help: "Claimed deliveries by what was done with them: succeeded, retry, failed, deferred.",
		}, []string{"outcome"}),
		handOffs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhookd_delivery_handoffs_total",
			Help: "New deliveries the store handed to this process's engine at publish, leased, so that they needed no claim.",
		}),
		polled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhookd_deliveries_polled_total",
			Help: "Deliveries found by a claim made because the poll interval passed, not because a publish, a notification or a retry coming due woke the engine.",
		}),
		attemptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "webhookd_delivery_attempt_duration_seconds",
			Help:    "Time from sending a delivery's request to the end of reading its response.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		queueDue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhookd_queue_due",
			Help: "Pending deliveries whose next attempt time has passed.",
		}),
		queueOldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhookd_queue_oldest_due_age_seconds",
			Help: "How long the oldest due delivery has been waiting; 0 when none is due.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhookd_delivery_attempts_in_flight",
			Help: "Attempts being sent by this process.",
		}),
		circuitsOpen: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webhookd_circuits_open",
			Help: "Destinations whose circuit breaker is open or half-open in this process.",
		}, func() float64 { return float64(circuitsOpen()) }),
	}
	for _, o := range []webhookd.Outcome{webhookd.OutcomeSucceeded, webhookd.OutcomeRetry, webhookd.OutcomeFailed, webhookd.OutcomeDeferred} {
		m.deliveries.WithLabelValues(string(o)) // export zeros, so rates work from the start
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.deliveries, m.handOffs, m.polled, m.attemptSeconds, m.queueDue, m.queueOldestAge, m.inflight, m.circuitsOpen} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("delivery: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
