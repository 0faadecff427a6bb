package main

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/activity"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/netguard"
	"github.com/webhookd/webhookd/signing"
)

// destinations returns the one guard of outgoing deliveries (dev mode lets
// private addresses through; WEBHOOKD_ALLOW_DESTINATIONS lists exceptions)
// and the URI policy that applies the guard's verdict to IP literals when a
// webhook or a webhook_config is given, so that the two never disagree.
func destinations(cfg Config) (*netguard.Guard, webhookd.URIPolicy) {
	guard := netguard.New(netguard.Options{AllowPrivate: cfg.Dev, Allow: cfg.AllowDest})
	return guard, webhookd.URIPolicy{AllowHTTP: cfg.Dev, CheckAddr: guard.Check}
}

// newEngine builds the delivery engine from the configuration: the retry
// schedule, the transport dialing through guard, and the key ring as the
// signer of dynamic deliveries.
func newEngine(cfg Config, guard *netguard.Guard, st webhookd.Store, sealer *signing.Sealer, ring *signing.KeyRing, clock webhookd.Clock, reg prometheus.Registerer, logger *slog.Logger, rec *activity.Recorder) (*delivery.Engine, error) {
	policy := delivery.RetryPolicy{Window: cfg.RetryWindow}
	if cfg.RetrySchedule != "" {
		s, err := delivery.ParseSchedule(cfg.RetrySchedule)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOKD_RETRY_SCHEDULE: %w", err)
		}
		policy.Schedule = s
	}
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("retry policy: %w", err)
	}
	dialer := guard.Dialer(&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second})
	return delivery.New(delivery.Config{
		Store:               st,
		Sealer:              sealer,
		JWTSigner:           ring,
		Issuer:              publicURL(cfg),
		Clock:               clock,
		Logger:              logger,
		Transport:           delivery.NewTransport(dialer.DialContext),
		AllowHTTP:           cfg.Dev,
		ShowRefusals:        cfg.Dev,
		Policy:              policy,
		Workers:             cfg.Workers,
		PerDestinationLimit: cfg.PerDestLimit,
		Timeout:             cfg.Timeout,
		Lease:               cfg.Lease,
		Breaker:             delivery.BreakerConfig{FailureThreshold: cfg.CircuitFails, OpenFor: cfg.CircuitOpen},
		DisableAfter:        cfg.DisableAfter,
		ShutdownGrace:       cfg.ShutdownGrace,
		Registerer:          reg,
		Observe: func(c *webhookd.Claim, r webhookd.Result, destination string) {
			rec.Record(activity.Of(c, r, destination, clock.Now()))
		},
		TracerProvider: cfg.tracing,
	})
}
