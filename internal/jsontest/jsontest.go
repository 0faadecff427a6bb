// Package jsontest holds the JSON checks that the tests of several packages
// share: documents compared by value, and the data of a delivered event.
package jsontest

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/webhookd/webhookd"
)

// Equal fails t unless got and want are the same JSON value, whatever the
// key order and spacing.
func Equal(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON mismatch\n got: %s\nwant: %s", got, want)
	}
}

// EventData returns the data of ev's envelope, as receivers get it.
func EventData(t testing.TB, ev *webhookd.Event) map[string]any {
	t.Helper()
	var env struct{ Data map[string]any }
	if err := json.Unmarshal(ev.Payload, &env); err != nil {
		t.Fatalf("event %s: payload %s: %v", ev.ID, ev.Payload, err)
	}
	return env.Data
}
