package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/webhookd/webhookd"
)

var testSchema = schema{
	fields:  []string{"name", "uri", "subscribed_events", "webhook_config", "data"},
	ignored: []string{"create_time"},
}

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want map[string]string // snake key → raw value; nil when an error is wanted
		// errField is the field the error must name; errText a part of its message.
		errField, errText string
	}{
		{name: "snake", in: `{"uri":"https://a.test","subscribed_events":["x"]}`,
			want: map[string]string{"uri": `"https://a.test"`, "subscribed_events": `["x"]`}},
		{name: "camel", in: `{"subscribedEvents":["x"], "webhookConfig":{"userMetadata":{}}}`,
			want: map[string]string{"subscribed_events": `["x"]`, "webhook_config": `{"userMetadata":{}}`}},
		{name: "null is unset", in: `{"name":null,"uri":"u"}`, want: map[string]string{"uri": `"u"`}},
		{name: "output-only ignored", in: `{"createTime":"2026-01-01T00:00:00Z"}`, want: map[string]string{}},
		{name: "empty object", in: ` {} `, want: map[string]string{}},
		{name: "whitespace kept out of values", in: "{\"data\": \n {\"a\":1} \n}", want: map[string]string{"data": `{"a":1}`}},
		{name: "unknown field", in: `{"uri":"u","colour":"red"}`, errField: "colour", errText: `Unknown field "colour"`},
		{name: "unknown camel field named as written", in: `{"callbackUrl":"u"}`, errField: "callbackUrl", errText: `"callbackUrl"`},
		{name: "duplicate", in: `{"uri":"a","uri":"b"}`, errField: "uri", errText: "more than once"},
		{name: "duplicate across spellings", in: `{"subscribed_events":[],"subscribedEvents":[]}`, errField: "subscribed_events", errText: `"subscribedEvents"`},
		{name: "not an object", in: `["uri"]`, errField: "body", errText: "must be a JSON object"},
		{name: "string", in: `"x"`, errField: "body", errText: "must be a JSON object"},
		{name: "malformed", in: `{"uri":}`, errField: "body", errText: "not valid JSON"},
		{name: "truncated", in: `{"uri":"a"`, errField: "body", errText: "not valid JSON"},
		{name: "trailing data", in: `{"uri":"a"} {}`, errField: "body", errText: "more data"},
		{name: "trailing garbage", in: `{"uri":"a"}x`, errField: "body", errText: "more data"},
		{name: "nested to the limit", in: `{"data":` + deepJSON(MaxJSONDepth-1) + `}`, want: map[string]string{"data": deepJSON(MaxJSONDepth - 1)}},
		{name: "nested a level too deep", in: `{"data":` + deepJSON(MaxJSONDepth) + `}`, errField: "data", errText: "data nests JSON deeper than 64 levels"},
		{name: "lists count as levels", in: `{"data":{"a":` + strings.Repeat("[", MaxJSONDepth-1) + strings.Repeat("]", MaxJSONDepth-1) + `}}`, errField: "data", errText: "deeper"},
		{name: "an ignored field too", in: `{"createTime":` + deepJSON(MaxJSONDepth) + `}`, errField: "create_time", errText: "deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := decodeObject("", []byte(tt.in), testSchema)
			if tt.want == nil {
				requireFieldError(t, err, tt.errField, tt.errText)
				return
			}
			if err != nil {
				t.Fatalf("decodeObject(%s) = %v", tt.in, err)
			}
			got := map[string]string{}
			for k, v := range o.fields {
				got[k] = string(v.raw)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("field %s = %s, want %s", k, got[k], v)
				}
			}
		})
	}
}

func TestObjectTypedGetters(t *testing.T) {
	t.Parallel()
	body := `{"name":1,"uri":"u","subscribed_events":["a",2],"data":[1],"webhook_config":{"uris":"x","bogus":1}}`
	o, err := decodeObject("", []byte(body), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.string("name"); err != nil {
		requireFieldError(t, err, "name", "name must be a string")
	} else {
		t.Error("string(name) of a number succeeded")
	}
	if v, ok, err := o.string("uri"); v != "u" || !ok || err != nil {
		t.Errorf("string(uri) = %q, %v, %v", v, ok, err)
	}
	_, _, err = o.strings("subscribed_events")
	requireFieldError(t, err, "subscribed_events", "subscribed_events must be a list of strings")
	_, _, err = o.rawObject("data")
	requireFieldError(t, err, "data", "data must be a JSON object")
	_, _, err = o.object("webhook_config", schema{fields: []string{"uris"}})
	requireFieldError(t, err, "webhook_config.bogus", `Unknown field "bogus" in webhook_config`)

	nested, _ := decodeObject("", []byte(`{"webhook_config":{"uris":"x"}}`), testSchema)
	wc, ok, err := nested.object("webhook_config", schema{fields: []string{"uris"}})
	if !ok || err != nil {
		t.Fatalf("object(webhook_config) = %v, %v", ok, err)
	}
	_, _, err = wc.strings("uris")
	requireFieldError(t, err, "webhook_config.uris", "webhook_config.uris must be a list of strings")

	for _, list := range []string{`["a",null]`, `{"a":1}`, `"a"`, `[["a"]]`} {
		o, err := decodeObject("", []byte(`{"subscribed_events":`+list+`}`), testSchema)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = o.strings("subscribed_events")
		requireFieldError(t, err, "subscribed_events", "must be a list of strings")
	}
	if v, ok, err := o.string("absent"); v != "" || ok || err != nil {
		t.Errorf("string(absent) = %q, %v, %v", v, ok, err)
	}
}

func TestSnakeCamelCase(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ camel, snake string }{
		{"subscribedEvents", "subscribed_events"},
		{"revocationBehavior", "revocation_behavior"},
		{"pageSize", "page_size"},
		{"uri", "uri"},
		{"webhookConfig", "webhook_config"},
		{"userMetadata", "user_metadata"},
	} {
		if got := snakeCase(tt.camel); got != tt.snake {
			t.Errorf("snakeCase(%q) = %q, want %q", tt.camel, got, tt.snake)
		}
		if got := snakeCase(tt.snake); got != tt.snake {
			t.Errorf("snakeCase(%q) = %q, want it unchanged", tt.snake, got)
		}
		if got := camelCase(tt.snake); got != tt.camel {
			t.Errorf("camelCase(%q) = %q, want %q", tt.snake, got, tt.camel)
		}
	}
}

// deepJSON returns an object that nests levels deep: {"a":{"a":…1…}}.
func deepJSON(levels int) string {
	return strings.Repeat(`{"a":`, levels) + "1" + strings.Repeat("}", levels)
}

// jsonDepth returns how deeply valid JSON nests objects and lists.
func jsonDepth(t *testing.T, data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			t.Fatalf("jsonDepth(%q): %v", data, err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// FuzzDecodeObject checks that no input panics the request decoder, that
// every error is an INVALID_ARGUMENT naming a field, and that what it accepts
// is what the schema allows, as valid JSON nested at most MaxJSONDepth deep.
func FuzzDecodeObject(f *testing.F) {
	for _, seed := range []string{
		`{"uri":"https://a.test","subscribed_events":["batch.succeeded"]}`,
		`{"subscribedEvents":["x"],"webhookConfig":{"uris":["u"],"userMetadata":{"k":[1,{"a":null}]}}}`,
		`{"name":null,"createTime":"t"}`,
		`{"uri":"a","uri":"b"}`,
		`{"data":{"a":"\u00e9\ud800"}}`,
		`{} {}`, `[]`, `"x"`, `{`, ``, `{"a":1e999}`,
		`{"data":` + deepJSON(MaxJSONDepth-1) + `}`, `{"data":` + deepJSON(MaxJSONDepth) + `}`,
		`{"data":[` + strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth) + `]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := decodeObject("", data, testSchema)
		if err != nil {
			var e *webhookd.Error
			if !errors.As(err, &e) || e.Code != webhookd.EINVALID || e.Field == "" || e.Message == "" {
				t.Fatalf("decodeObject error %#v is not an INVALID_ARGUMENT naming a field", err)
			}
			return
		}
		for k, v := range o.fields {
			if !slices.Contains(testSchema.fields, k) {
				t.Fatalf("accepted field %q outside the schema", k)
			}
			if !json.Valid(v.raw) || string(v.raw) == "null" {
				t.Fatalf("field %q holds %q, not a non-null JSON value", k, v.raw)
			}
			// The typed getters never panic, whatever the value.
			_, _, _ = o.string(k)
			_, _, _ = o.strings(k)
			_, _, _ = o.rawObject(k)
			_, _, _ = o.list(k)
			_, _, _ = o.object(k, testSchema)
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if d := jsonDepth(t, data); d > MaxJSONDepth {
			t.Fatalf("accepted JSON nested %d deep", d)
		}
	})
}

// requireFieldError fails t unless err is an INVALID_ARGUMENT naming field
// whose message contains text.
func requireFieldError(t *testing.T, err error, field, text string) {
	t.Helper()
	var e *webhookd.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want a *webhookd.Error naming %s", err, field)
	}
	if e.Code != webhookd.EINVALID || e.Field != field || !strings.Contains(e.Message, text) {
		t.Fatalf("error = {%s %s %q}, want {invalid %s …%s…}", e.Code, e.Field, e.Message, field, text)
	}
}

// FuzzDecodeObjectAgrees checks that decodeObject, which splits valid JSON
// itself, answers exactly what the json.Decoder path (decodeObjectStream)
// answers — the same fields, or the same error — and that list splits an
// array as json.Unmarshal does.
func FuzzDecodeObjectAgrees(f *testing.F) {
	for _, seed := range []string{
		`{"uri":"https://a.test","subscribed_events":["batch.succeeded"]}`,
		` { "subscribedEvents" : [ "x" , "y" ] ,"webhookConfig":{"uris":["u"],"userMetadata":{"k":[1,{"a":null}]}} } `,
		`{"name":null,"createTime":"t"}`, `{"uri":"a","uri":"b"}`, `{"uri":"a","colour":1}`, `{"":1}`,
		`{"data":{"a":"\u00e9\ud800 \" \\ ]}"}}`, `{"na\u006de":"x"}`, "{\"n\xffame\":1}", `{"name":-1.5e+3,"uri":true}`,
		`{"data":[[],{},"]",null]}`, `{} {}`, `[]`, `"x"`, `{`, ``, `{"a":1e999}`, `{"events":[{"a":1} , 2,"3",[4]]}`,
		`{"data":` + deepJSON(MaxJSONDepth-1) + `}`, `{"data":` + deepJSON(MaxJSONDepth) + `,"x":}`, `{"uri":1,"data":` + deepJSON(MaxJSONDepth) + `}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotErr := decodeObject("p", data, testSchema)
		want, wantErr := decodeObjectStream(fieldRef{path: "p", sent: "p"}, 1, data, testSchema)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("decodeObject(%q) error %v, the decoder's %v", data, gotErr, wantErr)
		}
		if gotErr != nil {
			var g, w *webhookd.Error
			if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) || *g != *w {
				t.Fatalf("decodeObject(%q) error %#v, the decoder's %#v", data, gotErr, wantErr)
			}
			return
		}
		if len(got.fields) != len(want.fields) {
			t.Fatalf("decodeObject(%q) fields %q, the decoder's %q", data, got.fields, want.fields)
		}
		for k, m := range want.fields {
			v := m.raw
			if g := got.fields[k]; g.key != m.key || string(g.raw) != string(m.raw) {
				t.Fatalf("decodeObject(%q) field %s = %q, the decoder's %q", data, k, got.fields[k], m)
			}
			if v[0] != '[' {
				continue
			}
			var elems []json.RawMessage
			if err := json.Unmarshal(v, &elems); err != nil {
				t.Fatalf("field %s = %q: %v", k, v, err)
			}
			list, ok, err := got.list(k)
			if !ok || err != nil || len(list) != len(elems) {
				t.Fatalf("list(%q) = %q, %v; want %d elements", v, list, err, len(elems))
			}
			for i, e := range elems {
				if string(list[i]) != string(bytes.TrimSpace(e)) {
					t.Fatalf("list(%q)[%d] = %q, want %q", v, i, list[i], bytes.TrimSpace(e))
				}
			}
		}
	})
}

// TestFieldNamesAsSent: errors name a field by its snake_case path, and say
// how the caller spelled it when that differs, at any depth.
func TestFieldNamesAsSent(t *testing.T) {
	t.Parallel()
	nested := schema{fields: []string{"user_metadata", "uris"}}
	o, err := decodeObject("", []byte(`{"webhookConfig":{"userMetadata":[1],"uris":"x"},"subscribedEvents":[1]}`), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = o.strings("subscribed_events")
	requireFieldError(t, err, "subscribed_events", "subscribed_events must be a list of strings; element 0 is not a string (sent as subscribedEvents).")
	wc, _, err := o.object("webhook_config", nested)
	if err != nil {
		t.Fatal(err)
	}
	if wc.path != "webhook_config" || wc.sent != "webhookConfig" || wc.depth != 2 {
		t.Errorf("nested object at %+v, depth %d", wc.fieldRef, wc.depth)
	}
	_, _, err = wc.rawObject("user_metadata")
	requireFieldError(t, err, "webhook_config.user_metadata", "webhook_config.user_metadata must be a JSON object (sent as webhookConfig.userMetadata).")
	_, _, err = wc.bool("uris")
	requireFieldError(t, err, "webhook_config.uris", "webhook_config.uris must be true or false (sent as webhookConfig.uris).")
	// A validator's error on a field below an object, named by its snake_case path.
	err = wc.explain(webhookd.FieldErrorf("webhook_config.user_metadata.k", "webhook_config.user_metadata.k is bad."))
	requireFieldError(t, err, "webhook_config.user_metadata.k", "is bad (sent as webhookConfig.userMetadata.k).")
	err = o.explain(webhookd.FieldErrorf("subscribed_events", "subscribed_events: unknown event type."))
	requireFieldError(t, err, "subscribed_events", "unknown event type (sent as subscribedEvents).")
	if err := o.explain(webhookd.FieldErrorf("name", "name is bad.")); err.Error() != webhookd.FieldErrorf("name", "name is bad.").Error() {
		t.Errorf("a field the caller did not send: %v", err)
	}
	cfg, _ := decodeObject("", []byte(`{"webhookConfig":{"bogusField":1}}`), schema{fields: []string{"webhook_config"}})
	_, _, err = cfg.object("webhook_config", nested)
	requireFieldError(t, err, "webhook_config.bogusField", `Unknown field "bogusField" in webhook_config (sent as webhookConfig.bogusField).`)
}

func TestOpenSchemaAndElements(t *testing.T) {
	t.Parallel()
	open := schema{fields: []string{"items", "flag"}, open: true}
	o, err := decodeObject("", []byte(`{"generationConfig":{"temperature":0},"flag":true,"items":[{"name":"a"},{"Name":1},3]}`), open)
	if err != nil {
		t.Fatalf("an open schema refused an unknown field: %v", err)
	}
	if o.has("generation_config") {
		t.Error("an unknown field of an open schema was kept")
	}
	if v, ok, err := o.bool("flag"); !v || !ok || err != nil {
		t.Errorf("bool(flag) = %v, %v, %v", v, ok, err)
	}
	list, _, err := o.list("items")
	if err != nil || len(list) != 3 {
		t.Fatalf("list(items) = %q, %v", list, err)
	}
	item := schema{fields: []string{"name"}}
	el, err := o.element("items", 0, list[0], item)
	if err != nil || el.path != "items[0]" || el.depth != 3 {
		t.Fatalf("element 0 = %+v, %v", el, err)
	}
	_, err = o.element("items", 2, list[2], item)
	requireFieldError(t, err, "items[2]", "items[2] must be a JSON object.")
	if _, err := decodeObject("", []byte(`{"flag":true,"flag":false}`), open); err == nil {
		t.Error("an open schema took a field twice")
	}
}
