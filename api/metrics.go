package api

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd/internal/promreg"
)

// metrics are the API request metrics. Labels use the route template
// ("/webhooks/{id}:ping"), never the raw path, so that ids do not explode
// the series count.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// newMetrics registers the API metrics with reg; a nil reg gives metrics
// that are counted but exported nowhere. A second server on the same
// registry (tests, or two listeners) shares the first one's collectors.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests, err := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "webhookd", Subsystem: "api", Name: "requests_total",
		Help: "API requests by method, route template and HTTP status code.",
	}, []string{"method", "route", "code"}))
	if err != nil {
		return nil, err
	}
	latency, err := promreg.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "webhookd", Subsystem: "api", Name: "request_duration_seconds",
		Help:    "API request latency by method and route template.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route"}))
	if err != nil {
		return nil, err
	}
	return &metrics{requests: requests, latency: latency}, nil
}

func (m *metrics) observe(method, route string, code int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(method, route).Observe(d.Seconds())
}
