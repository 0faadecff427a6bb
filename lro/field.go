package lro

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/webhookd/webhookd"
)

// object is a decoded JSON object whose keys may come in either spelling:
// the legacy SDK stack sends camelCase, the NextGen stack and the source
// document snake_case, and a JS caller's own object is passed verbatim.
// Every lookup takes the camelCase name and also tries its snake_case form.
// Errors name the field as the caller spelled it, with its full path.
type object struct {
	path string
	m    map[string]json.RawMessage
}

// decodeBody decodes a request body that must be one JSON object. An empty
// body is an empty object, as Google's APIs treat it.
func decodeBody(body []byte) (*object, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return &object{m: map[string]json.RawMessage{}}, nil
	}
	if !json.Valid(body) {
		return nil, webhookd.Errorf(webhookd.EINVALID, "Invalid JSON payload received: the request body is not valid JSON.")
	}
	return asObject("", body, "the request body")
}

// asObject decodes raw as an object at path; what names it in errors.
func asObject(path string, raw json.RawMessage, what string) (*object, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		if path == "" {
			return nil, webhookd.Errorf(webhookd.EINVALID, "Invalid JSON payload received: %s must be a JSON object.", what)
		}
		return nil, webhookd.FieldErrorf(path, "%s must be a JSON object.", path)
	}
	return &object{path: path, m: m}, nil
}

// snake turns a camelCase name into snake_case: inputConfig → input_config.
func snake(camel string) string {
	var b strings.Builder
	for i, r := range camel {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// child is the path of key inside o.
func (o *object) child(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// lookup returns the value of the field named camel (or its snake_case
// spelling), the path it was found at, and whether it is present and not
// null. camelCase wins when a caller sends both.
func (o *object) lookup(camel string) (raw json.RawMessage, path string, ok bool) {
	for _, k := range []string{camel, snake(camel)} {
		v, present := o.m[k]
		if present && !isNull(v) {
			return v, o.child(k), true
		}
	}
	return nil, o.child(camel), false
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// has reports whether the field is present and not null.
func (o *object) has(camel string) bool {
	_, _, ok := o.lookup(camel)
	return ok
}

// str returns a string field ("" when absent).
func (o *object) str(camel string) (string, error) {
	raw, path, ok := o.lookup(camel)
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", webhookd.FieldErrorf(path, "%s must be a string.", path)
	}
	return s, nil
}

// boolean returns a bool field (false when absent).
func (o *object) boolean(camel string) (bool, error) {
	raw, path, ok := o.lookup(camel)
	if !ok {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, webhookd.FieldErrorf(path, "%s must be true or false.", path)
	}
	return b, nil
}

// obj returns an object field; nil when absent.
func (o *object) obj(camel string) (*object, error) {
	raw, path, ok := o.lookup(camel)
	if !ok {
		return nil, nil
	}
	return asObject(path, raw, path)
}

// array returns the elements of an array field and its path; nil when absent.
func (o *object) array(camel string) ([]json.RawMessage, string, error) {
	raw, path, ok := o.lookup(camel)
	if !ok {
		return nil, path, nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, path, webhookd.FieldErrorf(path, "%s must be an array.", path)
	}
	return a, path, nil
}

// index is the path of element i of the array at path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// compact returns raw without insignificant white space, so that stored
// documents and renderings are stable whatever the caller's formatting.
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}
