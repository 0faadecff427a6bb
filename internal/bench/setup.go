package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/loadgen"
	"github.com/webhookd/webhookd/receiver"
	"github.com/webhookd/webhookd/signing"
)

// runSetup is the receivers, the webhooks and the targets of one run.
type runSetup struct {
	recv     *loadgen.Receivers
	hooks    []*loadgen.Target // what webhookd delivers to
	raw      []*loadgen.Target // what the raw baseline posts to, on the same servers
	rawSign  loadgen.SignFunc
	rs       *loadgen.RS256Signer
	webhooks []string // ids, deleted at the end
	uris     []string // dynamic scenario: webhook_config.uris
	// extra is the hang scenario's extra destination of this round, while
	// it is registered: on a server of its own, answering until told to
	// hang. extras are every round's, and extraHook is extra's webhook.
	extra     *loadgen.Target
	extras    []*loadgen.Target
	extraHook string
	// filter is every static webhook's filter (--filter), or "".
	filter string
}

// newRunSetup starts the receivers and registers the destinations: fan-out
// F spread over D servers (target j on server j mod D), plus, for the hang
// scenario, a server for each round's extra destination (addExtra). Each
// target has a raw twin on the same server that the baseline posts to,
// verified the same way.
func newRunSetup(ctx context.Context, o *Options, c *loadgen.Client, logger *slog.Logger) (*runSetup, error) {
	servers := o.destinations
	if o.scenario == ScenarioHang {
		servers += hangRounds // one for each round's extra destination
	}
	recv, err := loadgen.NewReceivers(servers, logger)
	if err != nil {
		return nil, err
	}
	s := &runSetup{recv: recv}
	if o.filter {
		s.filter = benchFilter
	}
	behavior := loadgen.Behavior{}
	if o.scenario == ScenarioFailing {
		behavior.FailRate = o.failRate
	}
	if o.scenario == ScenarioRS256 {
		s.rs, err = loadgen.NewRS256Signer(recv.URL(0))
		if err != nil {
			return s, err
		}
		const rawJWKS = "/bench-jwks.json"
		recv.Handle(0, rawJWKS, s.rs.JWKSHandler())
		s.rawSign = s.rs.Sign(eventType)
		for j := range o.fanout {
			srv := j % o.destinations
			uri := fmt.Sprintf("%s/hook/%d", recv.URL(srv), j)
			hv, err := receiver.NewVerifier(receiver.Config{JWKSURL: c.BaseURL + signing.JWKSPath, Audience: uri})
			if err != nil {
				return s, err
			}
			s.hooks = append(s.hooks, recv.AddTarget(srv, fmt.Sprintf("/hook/%d", j), hv, behavior, o.events))
			s.uris = append(s.uris, uri)
			rawURI := fmt.Sprintf("%s/raw/%d", recv.URL(srv), j)
			rv, err := receiver.NewVerifier(receiver.Config{JWKSURL: recv.URL(0) + rawJWKS, Audience: rawURI})
			if err != nil {
				return s, err
			}
			s.raw = append(s.raw, recv.AddTarget(srv, fmt.Sprintf("/raw/%d", j), rv, loadgen.Behavior{}, o.events))
		}
		return s, nil
	}

	keys := map[*loadgen.Target][]byte{}
	for j := range o.fanout {
		srv := j % o.destinations
		_, secret, v, err := s.createWebhook(ctx, c, fmt.Sprintf("%s/hook/%d", recv.URL(srv), j))
		if err != nil {
			return s, err
		}
		s.hooks = append(s.hooks, recv.AddTarget(srv, fmt.Sprintf("/hook/%d", j), v, behavior, o.events))
		raw := recv.AddTarget(srv, fmt.Sprintf("/raw/%d", j), v, loadgen.Behavior{}, o.events)
		s.raw = append(s.raw, raw)
		if keys[raw], err = signing.ParseSecret(secret); err != nil {
			return s, err
		}
	}
	s.rawSign = loadgen.HMACSigner(keys)
	return s, nil
}

// benchFilter is --filter's filter: typical of what receivers ask (a field
// compared, a prefix, a string test), and passed by every event the bench
// publishes (see publishBody), so that filtered and unfiltered runs deliver
// the same.
const benchFilter = `type.startsWith("batch.") && data.error_count == 0 && data.output_file_uri.endsWith(".jsonl")`

// createWebhook registers a webhook for uri, subscribed to the events the
// bench publishes, to be deleted at the end, and returns a verifier of its
// signatures.
func (s *runSetup) createWebhook(ctx context.Context, c *loadgen.Client, uri string) (id, secret string, v *receiver.Verifier, err error) {
	id, secret, err = c.CreateFilteredWebhook(ctx, uri, []string{eventType}, s.filter)
	if err != nil {
		return "", "", nil, err
	}
	s.webhooks = append(s.webhooks, id)
	v, err = receiver.NewVerifier(receiver.Config{Secrets: []string{secret}})
	return id, secret, v, err
}

// addExtra registers round k's extra destination of the hang scenario, a
// webhook subscribed to the events the others get, on the server kept for
// it. It answers until told to hang (Target.SetHang).
func (s *runSetup) addExtra(ctx context.Context, o *Options, c *loadgen.Client, k int) (*loadgen.Target, error) {
	srv := o.destinations + k
	path := fmt.Sprintf("/hook/extra-%d", k)
	id, _, v, err := s.createWebhook(ctx, c, s.recv.URL(srv)+path)
	if err != nil {
		return nil, err
	}
	s.extra, s.extraHook = s.recv.AddTarget(srv, path, v, loadgen.Behavior{}, o.events), id
	s.extras = append(s.extras, s.extra)
	return s.extra, nil
}

// dropExtra deletes the extra destination's webhook, which fails its
// pending deliveries, then answers the requests it holds (503), so that
// the sender lets go of them.
func (s *runSetup) dropExtra(ctx context.Context, c *loadgen.Client) error {
	if err := c.DeleteWebhook(ctx, s.extraHook); err != nil {
		return err
	}
	s.webhooks = slices.DeleteFunc(s.webhooks, func(id string) bool { return id == s.extraHook })
	s.extra.Release()
	s.extra, s.extraHook = nil, ""
	return nil
}

// close deletes the webhooks the run created (so that the next run against
// the same server does not fan out to them; their pending deliveries fail)
// and stops the receivers.
func (s *runSetup) close(c *loadgen.Client, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range s.webhooks {
		if err := c.DeleteWebhook(ctx, id); err != nil {
			logger.Warn("cleaning up", "err", err)
		}
	}
	if err := s.recv.Close(); err != nil {
		logger.Warn("closing receivers", "err", err)
	}
}

// envelope is a typical envelope, as webhookd renders event 0.
func envelope() []byte {
	b, err := webhookd.RenderEnvelope(eventType, []byte(`{"id":"batches/bench-0","output_file_uri":"files/bench-0-results.jsonl","error_count":0}`), time.Now())
	if err != nil {
		panic(err) // a constant object: cannot fail
	}
	return b
}
