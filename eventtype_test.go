package webhookd_test

import (
	"strings"
	"testing"

	"github.com/webhookd/webhookd"
)

func TestValidateEventTypeName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		want string // "" when valid, else part of the message
	}{
		{"order.shipped", ""},
		{"order", ""},
		{"Order_2.item.added", ""},
		{"", "name is required."},
		{"order..shipped", "without empty ones"},
		{".order", "without empty ones"},
		{"order.", "without empty ones"},
		{"order-shipped", `'-' is not allowed`},
		{"order.*", `'*' is not allowed`},
		{"ordré", `'é' is not allowed`},
		{strings.Repeat("a", webhookd.MaxEventTypeNameLength), ""},
		{strings.Repeat("a", webhookd.MaxEventTypeNameLength+1), "at most 128 characters"},
	} {
		err := webhookd.ValidateEventTypeName("name", tt.name)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateEventTypeName(%q) = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(webhookd.ErrorMessage(err), tt.want)):
			t.Errorf("ValidateEventTypeName(%q) = %v, want a message containing %q", tt.name, err, tt.want)
		case err != nil && webhookd.ErrorCode(err) != webhookd.EINVALID:
			t.Errorf("ValidateEventTypeName(%q): code %s, want %s", tt.name, webhookd.ErrorCode(err), webhookd.EINVALID)
		}
	}
}

func TestSubscriptionMatches(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sub, typ string
		want     bool
	}{
		{"order.shipped", "order.shipped", true},
		{"order.shipped", "order.paid", false},
		{"order.*", "order.shipped", true},
		{"order.*", "order.item.added", true},
		{"order.*", "order", false},
		{"order.*", "orders.shipped", false},
		{"order.*", "order.", false},
		{"order.item.*", "order.shipped", false},
		{"order.item.*", "order.item.added", true},
		{"batch.*", webhookd.EventBatchSucceeded, true},
		{"*", "order.shipped", false}, // not a prefix wildcard
	} {
		if got := webhookd.SubscriptionMatches(tt.sub, tt.typ); got != tt.want {
			t.Errorf("SubscriptionMatches(%q, %q) = %v, want %v", tt.sub, tt.typ, got, tt.want)
		}
	}
}

func TestValidateSubscriptionsWildcards(t *testing.T) {
	t.Parallel()
	c := webhookd.NewCatalog("order.paid")
	got, err := c.ValidateSubscriptions("subscribed_events", []string{"order.*", "order.paid", "batch.completed", "order.*", "future.thing.*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"order.*", "order.paid", webhookd.EventBatchSucceeded, "future.thing.*"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ValidateSubscriptions = %v, want %v", got, want)
	}
	for _, bad := range []string{"*", "order*", "order.*.x", ".*", "or-der.*", "order.**"} {
		_, err := c.ValidateSubscriptions("subscribed_events", []string{bad}, nil)
		if webhookd.ErrorCode(err) != webhookd.EINVALID || !strings.Contains(webhookd.ErrorMessage(err), "order.*") {
			t.Errorf("ValidateSubscriptions(%q) = %v, want EINVALID showing the wildcard form", bad, err)
		}
	}
}

// FuzzEventTypeName checks that an accepted name is what routing can match
// exactly, and that its wildcard covers what is below it and not itself.
func FuzzEventTypeName(f *testing.F) {
	for _, s := range []string{"order.shipped", "a", "a..b", "a.*", "é", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if webhookd.ValidateEventTypeName("name", name) != nil {
			return
		}
		if strings.ContainsAny(name, "*-/ ") {
			t.Fatalf("accepted %q", name)
		}
		if err := webhookd.ValidateWildcard("sub", name+".*"); err != nil {
			t.Fatalf("wildcard of valid name %q refused: %v", name, err)
		}
		if !webhookd.SubscriptionMatches(name, name) || webhookd.SubscriptionMatches(name+".*", name) ||
			!webhookd.SubscriptionMatches(name+".*", name+".x") {
			t.Fatalf("matching of %q is wrong", name)
		}
	})
}

func TestCatalogResolve(t *testing.T) {
	t.Parallel()
	c := webhookd.NewCatalog("legacy.thing")
	defined := func(name string) (bool, error) { return name == "order.paid", nil }
	for _, tt := range []struct {
		typ     string
		defined webhookd.DefinedFunc
		want    string // the canonical type, or "" when refused
	}{
		{"batch.completed", nil, webhookd.EventBatchSucceeded},
		{"legacy.thing", nil, "legacy.thing"},
		{"order.paid", nil, ""},
		{"order.paid", defined, "order.paid"},
		{"order.lost", defined, ""},
		{"order-paid", func(string) (bool, error) { return true, nil }, ""}, // never asked: not a name
	} {
		got, err := c.Resolve("type", tt.typ, tt.defined)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.typ, got, err, tt.want)
		}
		if err != nil && !strings.Contains(webhookd.ErrorMessage(err), "POST /v1/eventTypes") {
			t.Errorf("Resolve(%q) error %q does not say how to define a type", tt.typ, webhookd.ErrorMessage(err))
		}
	}
	for typ, want := range map[string]string{"batch.failed": webhookd.OriginBuiltIn, "batch.completed": webhookd.OriginBuiltIn, "legacy.thing": webhookd.OriginConfig, "order.paid": ""} {
		if got := c.Origin(typ); got != want {
			t.Errorf("Origin(%q) = %q, want %q", typ, got, want)
		}
	}
}
