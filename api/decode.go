package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/webhookd/webhookd"
)

// schema lists the snake_case field names an object of a request may carry.
type schema struct {
	// fields are decoded.
	fields []string
	// ignored are accepted and dropped: output-only fields that a client may
	// echo back from a response (AIP-203 asks servers to ignore them).
	ignored []string
}

// MaxJSONDepth bounds how deeply a request body may nest JSON objects and
// lists (the body itself is level 1). Go's decoder stops only at 10,000
// levels; a document 5,000 deep would be stored and delivered, and break
// ordinary receivers' parsers.
const MaxJSONDepth = 64

// object is one JSON object of a request, its keys normalised to snake_case
// and its values kept raw until a handler asks for them with a type. JSON
// nulls are dropped, as proto3 JSON treats null as "not set".
type object struct {
	// path locates the object in the request ("" for the body,
	// "webhook_config" for a nested one); errors name fields by it.
	path string
	// depth is the object's nesting level in the body (the body is 1).
	depth  int
	fields map[string]json.RawMessage
}

// readBody reads the request body, bounded by the configured size. An empty
// body reads as "{}" so that bodiless POSTs (":ping") need no special case.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return readBodyUpTo(w, r, s.cfg.MaxBodyBytes)
}

// readBodyUpTo is readBody bounded by limit, for the routes whose bodies
// may be larger than the configured size.
func readBodyUpTo(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := readRaw(w, r, limit)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return []byte("{}"), nil
	}
	return body, nil
}

// decodeBody reads the request body as an object of sch.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, sch schema) (*object, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	return decodeObject("", body, sch)
}

// decodeObject parses data as one JSON object whose keys, after camelCase is
// normalised to snake_case, are in sch. It rejects unknown keys, keys given
// twice (in the same or in the other spelling) and trailing data, and names
// the offending field in every error.
//
// Valid JSON, which is nearly every request, is split in one pass over the
// bytes (scanObject); anything else goes to decodeObjectStream, which words
// the syntax errors. The two agree on every input (FuzzDecodeObjectAgrees).
func decodeObject(path string, data []byte, sch schema) (*object, error) {
	if !json.Valid(data) {
		return decodeObjectStream(path, data, sch)
	}
	return decodeValidObject(path, 1, data, sch)
}

// decodeValidObject is decodeObject for data known to be valid JSON: a
// value of an object or list decodeObject accepted, at nesting level depth.
func decodeValidObject(path string, depth int, data []byte, sch schema) (*object, error) {
	if o, ok, err := scanObject(path, depth, data, sch); ok {
		return o, err
	}
	return decodeObjectStreamAt(path, depth, data, sch)
}

// scanObject is decodeObject for valid JSON: it walks the members of the
// object without a decoder, and keeps each value as a slice of data. It
// reports ok false, leaving the error's wording to decodeObjectStream, when
// data is not an object.
func scanObject(path string, depth int, data []byte, sch schema) (o *object, ok bool, err error) {
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, false, nil
	}
	o = &object{path: path, depth: depth, fields: make(map[string]json.RawMessage, len(sch.fields))}
	var spelled []string
	for i = skipSpace(data, i+1); data[i] != '}'; {
		end := stringEnd(data, i)
		key := jsonKey(data[i:end])
		i = skipSpace(data, skipSpace(data, end)+1) // past the colon
		end, nested := valueEnd(data, i)
		raw := json.RawMessage(data[i:end:end])
		if i = skipSpace(data, end); data[i] == ',' {
			i = skipSpace(data, i+1)
		}
		name, err := o.add(sch, spelled, key, raw, nested)
		if err != nil {
			return nil, true, err
		}
		spelled = append(spelled, name, key)
	}
	return o, true, nil
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace, or len(data).
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at i,
// in valid JSON.
func stringEnd(data []byte, i int) int {
	for i++; ; i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// valueEnd returns the index just past the JSON value that starts at i, in
// valid JSON, and how many levels of objects and lists the value nests (0
// for a string, number, true, false or null).
func valueEnd(data []byte, i int) (end, nested int) {
	switch data[i] {
	case '"':
		return stringEnd(data, i), 0
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = stringEnd(data, i) - 1
			case '{', '[':
				if depth++; depth > nested {
					nested = depth
				}
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, nested
				}
			}
		}
	}
	for i < len(data) && !strings.ContainsRune(",}] \t\n\r", rune(data[i])) {
		i++ // a number, true, false or null
	}
	return i, 0
}

// jsonKey returns the string a JSON string literal (quotes included)
// holds, as encoding/json reads it: escapes resolved, invalid UTF-8
// replaced.
func jsonKey(lit []byte) string {
	plain := true
	for _, c := range lit {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(lit[1 : len(lit)-1])
	}
	var k string
	_ = json.Unmarshal(lit, &k) // valid JSON: it cannot fail
	return k
}

// decodeObjectStream is decodeObject with a json.Decoder, for any input.
func decodeObjectStream(path string, data []byte, sch schema) (*object, error) {
	return decodeObjectStreamAt(path, 1, data, sch)
}

// decodeObjectStreamAt is decodeObjectStream for an object at nesting level
// depth.
func decodeObjectStreamAt(path string, depth int, data []byte, sch schema) (*object, error) {
	what := "The request body"
	if path != "" {
		what = path
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(path, what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, webhookd.FieldErrorf(fieldOr(path, "body"), "%s must be a JSON object.", what)
	}
	o := &object{path: path, depth: depth, fields: map[string]json.RawMessage{}}
	var spelled []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(path, what, err)
		}
		key, _ := tok.(string) // inside an object, Token returns keys as strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxError(path, what, err)
		}
		raw = bytes.TrimSpace(raw)
		_, nested := valueEnd(raw, 0) // Decode read a whole, valid value
		name, err := o.add(sch, spelled, key, raw, nested)
		if err != nil {
			return nil, err
		}
		spelled = append(spelled, name, key)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntaxError(path, what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, webhookd.FieldErrorf(fieldOr(path, "body"), "%s must hold a single JSON object; found more data after it.", what)
	}
	return o, nil
}

// add puts the member key: raw (trimmed) of an object of sch into o, as
// both decoders read it: a key given twice, in either spelling, a value that
// nests deeper than MaxJSONDepth allows, an empty or unknown key are errors;
// ignored keys and nulls are dropped. nested is how many levels raw nests.
// spelled holds the members before it, as name, key, name, key, …; add
// returns key's name, for the caller to append with key.
func (o *object) add(sch schema, spelled []string, key string, raw json.RawMessage, nested int) (string, error) {
	name := snakeCase(key)
	field := o.qualify(name)
	for j := 0; j < len(spelled); j += 2 {
		if spelled[j] == name {
			return "", webhookd.FieldErrorf(field, "%s is given more than once (as %q and %q).", field, spelled[j+1], key)
		}
	}
	if o.depth+nested > MaxJSONDepth {
		return "", webhookd.FieldErrorf(field, "%s nests JSON deeper than %d levels.", field, MaxJSONDepth)
	}
	switch {
	case slices.Contains(sch.fields, name):
	case slices.Contains(sch.ignored, name):
		return name, nil
	case key == "":
		return "", webhookd.FieldErrorf(fieldOr(o.path, "body"), "%s has a field with an empty name.", fieldOr(o.path, "The request body"))
	default:
		return "", webhookd.FieldErrorf(o.qualify(key), "Unknown field %q in %s.", key, fieldOr(o.path, "the request body"))
	}
	if string(raw) != "null" {
		o.fields[name] = raw
	}
	return name, nil
}

func syntaxError(path, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return webhookd.FieldErrorf(fieldOr(path, "body"), "%s is not valid JSON: unexpected end of input.", what)
	}
	return webhookd.FieldErrorf(fieldOr(path, "body"), "%s is not valid JSON: %s.", what, strings.TrimPrefix(err.Error(), "json: "))
}

func fieldOr(path, def string) string {
	if path == "" {
		return def
	}
	return path
}

// snakeCase turns a proto3-JSON camelCase name into its snake_case field
// name ("subscribedEvents" → "subscribed_events"); snake_case passes through.
func snakeCase(s string) string {
	if !strings.ContainsFunc(s, isUpper) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isUpper(r) {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isUpper(r rune) bool { return 'A' <= r && r <= 'Z' }

// qualify returns the name of field name of o as errors show it.
func (o *object) qualify(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

// has reports whether the field is set (present and not null).
func (o *object) has(name string) bool {
	_, ok := o.fields[name]
	return ok
}

// string returns a string field; ok is false when it is not set.
func (o *object) string(name string) (v string, ok bool, err error) {
	raw, ok := o.fields[name]
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, webhookd.FieldErrorf(o.qualify(name), "%s must be a string.", o.qualify(name))
	}
	return v, true, nil
}

// strings returns a list-of-strings field; ok is false when it is not set.
func (o *object) strings(name string) (v []string, ok bool, err error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, false, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err == nil {
		v = make([]string, len(elems))
		for i, e := range elems {
			if string(e) == "null" || json.Unmarshal(e, &v[i]) != nil {
				return nil, true, webhookd.FieldErrorf(o.qualify(name), "%s must be a list of strings; element %d is not a string.", o.qualify(name), i)
			}
		}
		return v, true, nil
	}
	return nil, true, webhookd.FieldErrorf(o.qualify(name), "%s must be a list of strings.", o.qualify(name))
}

// rawObject returns a field that must be a JSON object of any content (event
// data, user metadata), exactly as sent.
func (o *object) rawObject(name string) (v json.RawMessage, ok bool, err error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, false, nil
	}
	if raw[0] != '{' { // decodeObject trimmed the value, and nulls never get here
		return nil, true, webhookd.FieldErrorf(o.qualify(name), "%s must be a JSON object.", o.qualify(name))
	}
	return raw, true, nil
}

// list returns a field that must be a JSON array, its elements raw and
// trimmed; a null element is kept as "null".
func (o *object) list(name string) (v []json.RawMessage, ok bool, err error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, false, nil
	}
	if raw[0] != '[' {
		return nil, true, webhookd.FieldErrorf(o.qualify(name), "%s must be a list.", o.qualify(name))
	}
	// A value of an object decodeObject accepted is valid JSON.
	v = []json.RawMessage{}
	for i := skipSpace(raw, 1); raw[i] != ']'; {
		end, _ := valueEnd(raw, i)
		v = append(v, raw[i:end:end])
		if i = skipSpace(raw, end); raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return v, true, nil
}

// object returns a nested object field decoded with sch.
func (o *object) object(name string, sch schema) (v *object, ok bool, err error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, false, nil
	}
	v, err = decodeValidObject(o.qualify(name), o.depth+1, raw, sch)
	return v, true, err
}
