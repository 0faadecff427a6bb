package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// oneType is an EventTypeStore of a project that defined one type.
type oneType struct {
	webhookd.EventTypeStore
	et *webhookd.EventType
}

func (o oneType) GetEventType(_ context.Context, projectID, name string) (*webhookd.EventType, error) {
	if name != o.et.Name || projectID != o.et.ProjectID {
		return nil, webhookd.NotFound("EventType")
	}
	c := *o.et
	return &c, nil
}

const amountSchema = `{"type":"object","required":["amount"],"properties":{"amount":{"type":"number","minimum":0},
	"items":{"type":"array","items":{"type":"object","required":["sku"]}}}}`

func TestCheckDataAgainstSchema(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{}.withDefaults()}
	et := &webhookd.EventType{ProjectID: "prj_1", Name: "order.paid", Schema: json.RawMessage(amountSchema), UpdateTime: time.Unix(1, 0)}
	lookup := func() *typeLookup {
		l := s.newTypeLookup(t.Context(), "prj_1")
		l.store = oneType{et: et}
		return l
	}
	publish := func(body string) error {
		o, err := decodeObject("", []byte(body), publishEventSchema)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.newEvent(lookup(), o)
		return err
	}
	for _, tt := range []struct {
		name, body, want string // want "" when accepted, else part of the message
	}{
		{"valid", `{"type":"order.paid","data":{"amount":3}}`, ""},
		{"no data is {}", `{"type":"order.paid"}`, `data does not match the schema of event type "order.paid": at /: missing property 'amount' (schema rule /required)`},
		{"below the minimum", `{"type":"order.paid","data":{"amount":-1}}`, `at /amount: `},
		{"the rule is named", `{"type":"order.paid","data":{"amount":-1}}`, `(schema rule /properties/amount/minimum)`},
		{"deep path", `{"type":"order.paid","data":{"amount":1,"items":[{"sku":"a"},{}]}}`, `at /items/1: missing property 'sku' (schema rule /properties/items/items/required)`},
		{"wrong type", `{"type":"order.paid","data":{"amount":"3"}}`, `at /amount: got string, want number`},
		{"catalog types have no schema", `{"type":"batch.failed","data":{"amount":-1}}`, ""},
	} {
		err := publish(tt.body)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tt.name, err)
		case tt.want != "" && (webhookd.ErrorCode(err) != webhookd.EINVALID || !strings.Contains(webhookd.ErrorMessage(err), tt.want)):
			t.Errorf("%s: %v, want INVALID with %q", tt.name, err, tt.want)
		}
	}
	// Seven publishes of the type, one compile.
	if n := s.schemas.compiles.Load(); n != 1 {
		t.Errorf("compiled %d times, want once", n)
	}
	// A change made elsewhere (a new update time) compiles the new version.
	et.Schema, et.UpdateTime = json.RawMessage(`{"type":"object","required":["currency"]}`), time.Unix(2, 0)
	if err := publish(`{"type":"order.paid","data":{"amount":3}}`); !strings.Contains(webhookd.ErrorMessage(err), "missing property 'currency'") {
		t.Errorf("after the schema changed: %v, want the new rule", err)
	}
	if n := s.schemas.compiles.Load(); n != 2 {
		t.Errorf("compiled %d times, want twice", n)
	}
	// A batch names the event that failed and the data's path.
	_, err := s.parseBatchPublish(lookup(), []byte(`{"events":[{"type":"order.paid","data":{"currency":"EUR"}},{"type":"order.paid","data":{}}]}`))
	if webhookd.ErrorCode(err) != webhookd.EINVALID || !strings.Contains(webhookd.ErrorMessage(err), `events[1].data does not match the schema of event type "order.paid": at /: missing property 'currency'`) {
		t.Errorf("batch: %v", err)
	}
}

func TestCompileSchema(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		schema, want string // want "" when valid, else part of the error
	}{
		{`{"type":"object"}`, ""},
		{`true`, ""},
		{`{"$defs":{"a":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/a"}}}`, ""},
		{`{"type":"objekt"}`, "at /type: value must be one of"},
		{`{"minimum":"zero"}`, "minimum"},
		{`{"$ref":"file:///etc/passwd"}`, "schemas may refer only to their own parts"},
		{`{"$ref":"https://example.com/s.json"}`, "schemas may refer only to their own parts"},
		{`{"pattern":"("}`, "pattern"},
	} {
		_, err := compileSchema([]byte(tt.schema))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("compileSchema(%s) = %v, want valid", tt.schema, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("compileSchema(%s) = %v, want an error with %q", tt.schema, err, tt.want)
		}
	}
}
