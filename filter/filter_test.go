package filter_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/filter"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr string
		want string // "" for accepted, else part of the message
	}{
		{`data.amount > 1000 && data.currency == "EUR"`, ""},
		{`type.startsWith("order.")`, ""},
		{`timestamp > timestamp("2026-01-01T00:00:00Z")`, ""},
		{`has(user_metadata.tenant) && user_metadata.tenant in ["a", "b"]`, ""},
		{`data.items.exists(i, i.sku == "X")`, ""},
		{`data.amount >`, "filter:1:14: Syntax error"},
		{"data.amount > 1000 &&\n amout < 5", "filter:2:2: undeclared reference to 'amout'"},
		{`type + 1`, "found no matching overload for '_+_'"},
		{`data.amount + 1`, "must be a condition (true or false)"},
		{`"yes"`, "but it is of type string"},
		{``, "must not be empty"},
		{"  ", "must not be empty"},
		{strings.Repeat("true && ", 600) + "true", "at most 4096 bytes"},
	} {
		_, err := filter.Check("filter", tt.expr)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%q) = %v, want accepted", tt.expr, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Check(%q) = %v, want an error containing %q", tt.expr, err, tt.want)
		case err != nil:
			var e *webhookd.Error
			if !errors.As(err, &e) || e.Code != webhookd.EINVALID || e.Field != "filter" {
				t.Errorf("Check(%q) = %#v, want EINVALID on filter", tt.expr, err)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)
	order := &webhookd.FilterInput{
		Type:         "order.shipped",
		Data:         json.RawMessage(`{"amount": 1500.5, "currency": "EUR", "count": 2, "items": [{"sku": "X"}, {"sku": "Y"}], "note": null}`),
		Timestamp:    at,
		UserMetadata: json.RawMessage(`{"tenant": "acme"}`),
	}
	for _, tt := range []struct {
		expr    string
		want    bool
		wantErr bool
	}{
		{`data.amount > 1000 && data.currency == "EUR"`, true, false},
		{`data.amount > 1000 && data.currency == "USD"`, false, false},
		{`data.count == 2`, true, false}, // JSON's 2 is a double; 2 an int
		{`data.count == 2.0 && data.count >= 2u`, true, false},
		{`type == "order.shipped" && type.startsWith("order.")`, true, false},
		{`data.items.exists(i, i.sku == "Y")`, true, false},
		{`size(data.items) == 3`, false, false},
		{`timestamp == timestamp("2026-03-01T12:00:00Z")`, true, false}, // the envelope's second
		{`user_metadata.tenant == "acme"`, true, false},
		{`has(data.missing) && data.missing > 1`, false, false},
		{`data.note == null`, true, false},
		{`data.missing > 1`, false, true}, // no such key: an error, and no delivery
		{`data.currency > 1`, false, true},
	} {
		c, err := filter.NewCompiler(nil)
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.Compile(tt.expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.expr, err)
		}
		in := *order
		got, err := f.Match(&in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s = %v, %v; want %v (error: %v)", tt.expr, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMetricsAndCache(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := filter.NewCompiler(reg)
	if err != nil {
		t.Fatal(err)
	}
	f1, err := c.Compile(`data.n > 1`)
	if err != nil {
		t.Fatal(err)
	}
	f2, _ := c.Compile(`data.n > 1`)
	if f1 != f2 {
		t.Error("the same filter compiled twice: programs are not kept")
	}
	for _, data := range []string{`{"n": 2}`, `{"n": 0}`, `{"n": 1}`, `{}`} {
		_, _ = f1.Match(&webhookd.FilterInput{Data: json.RawMessage(data)})
	}
	if got := testutil.ToFloat64(c.Dropped()); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
	if got := testutil.ToFloat64(c.Errors()); got != 1 {
		t.Errorf("errors = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "webhookd_filter_dropped_total", "webhookd_filter_errors_total"); err != nil || n != 2 {
		t.Errorf("registered %d metrics (%v), want 2", n, err)
	}
}

// TestCostLimit: a filter whose evaluation would run long is stopped, and
// drops the event.
func TestCostLimit(t *testing.T) {
	t.Parallel()
	c, _ := filter.NewCompiler(nil)
	f, err := c.Compile(`data.items.all(a, data.items.all(b, data.items.exists(x, x == a + b)))`)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]int, 200)
	for i := range items {
		items[i] = i
	}
	data, _ := json.Marshal(map[string]any{"items": items})
	ok, err := f.Match(&webhookd.FilterInput{Data: data})
	if ok || err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("Match = %v, %v; want stopped at the cost limit", ok, err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`data.amount > 1000 && data.currency == "EUR"`, `type.startsWith("a")`, `(`, `"\u00e9"`, `data.x.y[0]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		prg, err := filter.Check("filter", expr)
		if err != nil {
			if webhookd.ErrorCode(err) != webhookd.EINVALID {
				t.Fatalf("Check(%q) = %v, want EINVALID", expr, err)
			}
			return
		}
		// Whatever it accepted evaluates without panicking.
		_, _, _ = prg.Eval(map[string]any{"type": "t", "data": map[string]any{}, "timestamp": time.Unix(0, 0), "user_metadata": map[string]any{}})
	})
}

func ExampleCompiler() {
	c, _ := filter.NewCompiler(nil)
	f, _ := c.Compile(`data.amount > 1000 && data.currency == "EUR"`)
	for _, data := range []string{`{"amount": 1500, "currency": "EUR"}`, `{"amount": 200, "currency": "EUR"}`} {
		ok, _ := f.Match(&webhookd.FilterInput{Type: "order.paid", Data: json.RawMessage(data)})
		fmt.Println(ok)
	}
	// Output:
	// true
	// false
}
