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
	limits         limitsCollector
}

// limitsCollector exports each destination's adaptive in-flight limit, read
// at scrape: one series per destination the engine remembers (busy, failing
// or with a limit learnt), so that the series come and go with them.
type limitsCollector struct {
	desc *prometheus.Desc
	each func(f func(key string, limit int))
}

func (c limitsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c limitsCollector) Collect(ch chan<- prometheus.Metric) {
	c.each(func(key string, limit int) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(limit), key)
	})
}

func newMetrics(reg prometheus.Registerer, circuitsOpen func() int, limits func(f func(key string, limit int))) (*metrics, error) {
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
		limits: limitsCollector{
			desc: prometheus.NewDesc("webhookd_destination_concurrency_limit",
				"A destination's adaptive limit of attempts in flight in this process (between 1 and WEBHOOKD_PER_DESTINATION_LIMIT), for the destinations it remembers.",
				[]string{"destination"}, nil),
			each: limits,
		},
	}
	for _, o := range []webhookd.Outcome{webhookd.OutcomeSucceeded, webhookd.OutcomeRetry, webhookd.OutcomeFailed, webhookd.OutcomeDeferred} {
		m.deliveries.WithLabelValues(string(o)) // export zeros, so rates work from the start
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.deliveries, m.handOffs, m.polled, m.attemptSeconds, m.queueDue, m.queueOldestAge, m.inflight, m.circuitsOpen, m.limits} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("delivery: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
