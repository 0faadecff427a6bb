// Package filter compiles and runs webhooks' payload filters: CEL
// expressions (the language of Google's API conditions) over an event's
// type, data, timestamp and user_metadata, such as
//
//	data.amount > 1000 && data.currency == "EUR"
//
// It implements webhookd.FilterCompiler for routing, which lives in the root
// package: routing asks a Compiler for a webhook's compiled filter, which
// the Compiler keeps, so that no event compiles one.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/promreg"
)

// Limits of a filter.
const (
	// MaxLength bounds a filter's source, in bytes.
	MaxLength = 4096
	// CostLimit bounds what one evaluation may cost, in CEL's cost units
	// (about one per node visited, more for string and list operations):
	// a typical filter costs under 50; a comprehension over a long list in
	// data is stopped here instead of holding a publish.
	CostLimit = 10_000
	// maxCached bounds the compiled programs a Compiler keeps.
	maxCached = 10_000
)

// env is the CEL environment every filter is checked in. Numbers in data
// are JSON's, doubles: cross-type comparisons let `data.amount > 1000`
// compare them with an int literal.
var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("type", cel.StringType),
		cel.Variable("data", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("timestamp", cel.TimestampType),
		cel.Variable("user_metadata", cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
	)
})

// Check parses and type-checks expr and returns its program, or an EINVALID
// error on field whose message gives the position of what is wrong.
func Check(field, expr string) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, webhookd.FieldErrorf(field, "%s must not be empty; omit it to receive every subscribed event.", field)
	}
	if len(expr) > MaxLength {
		return nil, webhookd.FieldErrorf(field, "%s must be at most %d bytes, got %d.", field, MaxLength, len(expr))
	}
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("filter: environment: %w", err)
	}
	// cel-go's checker fills a shared Env's catalog lazily when it reports
	// an undeclared name, which races between concurrent checks (seen by
	// -race); checks are rare (create, update, cache misses), so one at a time.
	checkMu.Lock()
	ast, iss := e.Compile(expr)
	checkMu.Unlock()
	if iss.Err() != nil {
		return nil, webhookd.FieldErrorf(field, "%s is not a valid CEL expression over type, data, timestamp and user_metadata: %s",
			field, strings.ReplaceAll(iss.Err().Error(), "<input>", field))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, webhookd.FieldErrorf(field, "%s must be a condition (true or false), but it is of type %s.", field, ast.OutputType())
	}
	prg, err := e.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, webhookd.FieldErrorf(field, "%s: %v", field, err)
	}
	return prg, nil
}

// Compiler is a webhookd.FilterCompiler that keeps every program it
// compiled, by source, and counts outcomes in metrics. It is safe for
// concurrent use.
type Compiler struct {
	mu       sync.RWMutex
	programs map[string]*program

	dropped, errs prometheus.Counter
}

var _ webhookd.FilterCompiler = (*Compiler)(nil)

// NewCompiler returns a Compiler whose metrics reg exports (nil: none):
// webhookd_filter_dropped_total and webhookd_filter_errors_total.
func NewCompiler(reg prometheus.Registerer) (*Compiler, error) {
	c := &Compiler{programs: map[string]*program{}}
	var err error
	if c.dropped, err = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "webhookd_filter_dropped_total",
		Help: "Deliveries not created because a webhook's filter dropped the event.",
	})); err != nil {
		return nil, err
	}
	if c.errs, err = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "webhookd_filter_errors_total",
		Help: "Filter evaluations that failed (a missing field, a wrong type, the cost limit); the event is dropped.",
	})); err != nil {
		return nil, err
	}
	return c, nil
}

// Default returns the process's Compiler without metrics, for stores opened
// without one (tools and tests): its programs are shared by all of them.
var Default = sync.OnceValue(func() webhookd.FilterCompiler {
	c, _ := NewCompiler(nil) // registers nothing, so it cannot fail
	return c
})

// Dropped counts the deliveries that filters dropped.
func (c *Compiler) Dropped() prometheus.Counter { return c.dropped }

// Errors counts the evaluations that failed.
func (c *Compiler) Errors() prometheus.Counter { return c.errs }

// Compile returns the program of expr, compiling it the first time.
func (c *Compiler) Compile(expr string) (webhookd.Filter, error) {
	c.mu.RLock()
	p := c.programs[expr]
	c.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	prg, err := Check("filter", expr)
	if err != nil {
		return nil, err
	}
	p = &program{prg: prg, c: c}
	c.mu.Lock()
	if len(c.programs) >= maxCached {
		clear(c.programs) // filters that are still used compile again, once
	}
	c.programs[expr] = p
	c.mu.Unlock()
	return p, nil
}

// program is one compiled filter.
type program struct {
	prg cel.Program
	c   *Compiler
}

// Match evaluates the filter on in. An evaluation that fails (a field the
// event lacks, a value of another type, the cost limit) drops the event, as
// a false condition would: write has(data.x) to test for a field.
func (p *program) Match(in *webhookd.FilterInput) (bool, error) {
	act, err := activation(in)
	if err != nil {
		p.c.errs.Inc()
		return false, err
	}
	out, _, err := p.prg.Eval(act)
	if err != nil {
		p.c.errs.Inc()
		return false, err
	}
	ok, isBool := out.Value().(bool)
	if !isBool {
		p.c.errs.Inc()
		return false, fmt.Errorf("filter returned %v, not true or false", out.Value())
	}
	if !ok {
		p.c.dropped.Inc()
	}
	return ok, nil
}

// activation returns the variables of in, decoded once per event however
// many filters read them (kept in in.Cache).
func activation(in *webhookd.FilterInput) (map[string]any, error) {
	if act, ok := in.Cache.(map[string]any); ok {
		return act, nil
	}
	data, err := object(in.Data)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	meta, err := object(in.UserMetadata)
	if err != nil {
		return nil, fmt.Errorf("user_metadata: %w", err)
	}
	act := map[string]any{
		"type":          in.Type,
		"data":          data,
		"timestamp":     in.Timestamp.UTC().Truncate(time.Second), // as the envelope's timestamp
		"user_metadata": meta,
	}
	in.Cache = act
	return act, nil
}

var errNotObject = errors.New("not a JSON object")

// object decodes a JSON object; empty is {}.
func object(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotObject
	}
	return m, nil
}

// checkMu serialises type checks in env (see Check).
var checkMu sync.Mutex
