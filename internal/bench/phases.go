package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/webhookd/webhookd/internal/loadgen"
)

// phaseRunner runs the publish phases of one run.
type phaseRunner struct {
	o        *Options
	setup    *runSetup
	clients  []*loadgen.Client
	progress *progress
}

// hangRounds is how many rounds the hang scenario's --events are split
// into.
const hangRounds = 5

// hangSettle is the pause after a hanging round: the deleted extra
// destination's released requests are answered and recorded before the
// next round's first phase starts.
const hangSettle = 250 * time.Millisecond

// hang runs the hang scenario: the same destinations alone, beside one more
// while it answers, and while it hangs, in hangRounds rounds of the three,
// the phases' samples pooled over the rounds. This machine's speed drifts
// by a fifth within a minute (rounds 8-10 of issue 6), as much as the
// difference to measure; short rounds expose the three phases to the same
// drift. Hanging goes last in a round; then the extra destination's
// webhook is deleted (its pending deliveries fail) and its held requests
// are released, so the next round starts without them. Each round's extra
// destination is a server of its own, so that none inherits the last one's
// open circuit.
func (b *phaseRunner) hang(ctx context.Context, res *Result) error {
	o := b.o
	res.Alone = &Phase{Name: "alone"}
	res.Answering = &Phase{Name: "beside one answering"}
	res.Name = "beside one hanging"
	rounds := min(hangRounds, o.events)
	next := 0
	for k := range rounds {
		n := o.events / rounds
		if k < o.events%rounds {
			n++
		}
		round := fmt.Sprintf("round %d/%d, ", k+1, rounds)
		if err := b.block(ctx, res.Alone, n, next, nil, round); err != nil {
			return err
		}
		next += n
		extra, err := b.setup.addExtra(ctx, o, b.clients[0], k)
		if err != nil {
			return err
		}
		if err := b.block(ctx, res.Answering, n, next, extra, round); err != nil {
			return err
		}
		next += n
		extra.SetHang(true)
		if err := b.block(ctx, &res.Phase, n, next, nil, round); err != nil {
			return err
		}
		next += n
		if err := b.setup.dropExtra(ctx, b.clients[0]); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(hangSettle):
		}
	}
	for _, p := range []*Phase{res.Alone, res.Answering, &res.Phase} {
		p.finish()
	}
	return nil
}

// block publishes n events (bodies numbered from first, so that each
// block's differ), waits until their deliveries to the healthy destinations
// and to also, if not nil, arrived or --max-wait passed, and adds the
// healthy deliveries to p. A missing delivery is counted, not an error; a
// failed publish or a wrong fan-out is.
func (b *phaseRunner) block(ctx context.Context, p *Phase, n, first int, also *loadgen.Target, round string) error {
	o, setup := b.o, b.setup
	wait := setup.hooks
	if also != nil {
		wait = append(slices.Clip(wait), also)
	}
	perEvent := o.fanout
	if setup.extra != nil {
		perEvent++ // the extra destination, answering or not
	}
	waitFor := distinct(wait) + n*len(wait)
	p.Expected += n * o.fanout

	// Publish, recording each event's id and the start of its publish call.
	ids := make([]string, n)
	starts := make([]time.Time, n)
	var wrongFan sync.Map
	var published loadgen.Counter
	from := setup.recv.Received()
	b.progress.run("webhookd"+strings.TrimSuffix(", "+round+p.Name, ", "), func() string {
		return fmt.Sprintf("published %d/%d, received %d/%d", published.Load(), n, setup.recv.Received()-from, n*len(wait))
	})
	defer b.progress.done()
	pub := loadgen.Publish(ctx, loadgen.PublishConfig{
		Clients: b.clients, Count: n, Concurrency: o.publishers, Rate: o.rate, Batch: o.batch,
		Body: func(i int) []byte { return eventBody(first+i, setup.uris) },
		OnPublished: func(i int, pp loadgen.Published, start time.Time) {
			ids[i], starts[i] = pp.ID, start
			if pp.DeliveryCount != perEvent {
				wrongFan.Store(i, pp.DeliveryCount)
			}
		},
	}, &published)
	p.Accepted += pub.Accepted
	p.Failed += pub.Failed
	p.Late += pub.Late
	p.Publishing += pub.Last.Sub(pub.First)
	p.callSample = append(p.callSample, pub.Took...)
	if pub.Err != nil {
		return fmt.Errorf("publish: %d failed, first: %w", pub.Failed, pub.Err)
	}
	wrong := 0
	wrongFan.Range(func(_, _ any) bool { wrong++; return true })
	if wrong > 0 {
		return fmt.Errorf("%d events were routed to a number of destinations other than %d: does the target have other webhooks subscribed to %s? Bench a fresh database", wrong, perEvent, eventType)
	}

	// Wait until every expected delivery arrived, or max-wait passed.
	deadline := time.Now().Add(o.maxWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for distinct(wait) < waitFor && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}

	var last time.Time
	for _, t := range setup.hooks {
		for i, id := range ids {
			at, ok := t.Receipt(id)
			if !ok {
				continue
			}
			p.Delivered++
			p.sample = append(p.sample, at.Sub(starts[i]))
			if at.After(last) {
				last = at
			}
		}
	}
	if !last.IsZero() {
		p.Elapsed += last.Sub(pub.First)
	}
	return nil
}

func distinct(ts []*loadgen.Target) int {
	n := 0
	for _, t := range ts {
		n += t.Stats().Distinct
	}
	return n
}

// eventBody is the publish body of event i; uris makes it dynamic.
func eventBody(i int, uris []string) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"type":%q,"data":{"id":"batches/bench-%d","output_file_uri":"files/bench-%d-results.jsonl","error_count":0}`, eventType, i, i)
	if len(uris) > 0 {
		sb.WriteString(`,"webhook_config":{"uris":[`)
		for j, u := range uris {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%q", u)
		}
		sb.WriteString(`]}`)
	}
	sb.WriteByte('}')
	return []byte(sb.String())
}
