package lro

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/tracing"
)

// committer is the commit of OperationStore.
type committer interface {
	CommitOperationChange(ctx context.Context, c webhookd.OperationChange) error
}

// commit commits c. With a tracer, a change that moves an operation to
// another state (or creates one) is committed under a
// "webhookd.operation.state_change" span, a child of ctx's (the API
// request of a create or a cancel; none for a runner's step), and the
// events it emits keep that span's traceparent, so that their attempts and
// receivers join the operation's trace. before is the operation as it was
// read; nil for a create.
func commit(ctx context.Context, tracer trace.Tracer, store committer, before *webhookd.Operation, c webhookd.OperationChange) error {
	if tracer == nil {
		return store.CommitOperationChange(ctx, c)
	}
	var op *webhookd.Operation
	switch {
	case len(c.Create) > 0:
		op = c.Create[0]
	case before != nil:
		for _, n := range c.Update {
			if n.ID == before.ID && n.State != before.State {
				op = n
			}
		}
	}
	if op == nil {
		return store.CommitOperationChange(ctx, c)
	}
	from := ""
	if before != nil {
		from = string(before.State)
	}
	ctx, span := tracer.Start(ctx, "webhookd.operation.state_change", trace.WithAttributes(
		attribute.String("webhookd.operation.name", op.Name()),
		attribute.String("webhookd.operation.kind", string(op.Kind)),
		attribute.String("webhookd.operation.state.from", from),
		attribute.String("webhookd.operation.state.to", string(op.State)),
		attribute.Int("webhookd.event.count", len(c.Events)),
	))
	defer span.End()
	if tp := tracing.TraceParent(ctx); tp != "" && len(c.Events) > 0 {
		events := make([]webhookd.NewEvent, len(c.Events))
		copy(events, c.Events)
		for i := range events {
			events[i].TraceParent = tp
		}
		c.Events = events
	}
	err := store.CommitOperationChange(ctx, c)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "commit failed")
	}
	return err
}
