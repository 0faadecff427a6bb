package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/webhookd/webhookd"
)

// This file is the one decoder of request JSON, for every route: webhooks,
// events, operations and files. Every field is read in snake_case or
// camelCase (the NextGen SDK and the source document send the first, the
// legacy SDK stack the second, and a JS caller's own object travels
// verbatim); errors name the field by its snake_case path and, where the
// caller spelled it otherwise, also as sent.

// schema lists the snake_case field names an object of a request may carry.
type schema struct {
	// fields are decoded.
	fields []string
	// ignored are accepted and dropped: output-only fields that a client may
	// echo back from a response (AIP-203 asks servers to ignore them).
	ignored []string
	// open objects drop unknown fields instead of refusing them: a job's
	// request carries more than the simulator reads (generation configs,
	// safety settings), and the SDKs send what their callers wrote.
	open bool
}

// MaxJSONDepth bounds how deeply a request body may nest JSON objects and
// lists (the body itself is level 1). Go's decoder stops only at 10,000
// levels; a document 5,000 deep would be stored and delivered, and break
// ordinary receivers' parsers.
const MaxJSONDepth = 64

// fieldRef is where a value is in a request: its path as errors name it
// (snake_case, "batch.input_config.requests[0]") and as the caller spelled
// it ("batch.inputConfig.requests[0]"). Both are "" for the body.
type fieldRef struct {
	path, sent string
}

// member returns the ref of the member key (as sent) named name of an
// object at f.
func (f fieldRef) member(name, key string) fieldRef {
	if f.path == "" {
		return fieldRef{path: name, sent: key}
	}
	return fieldRef{path: f.path + "." + name, sent: f.sent + "." + key}
}

// index returns the ref of element i of a list at f.
func (f fieldRef) index(i int) fieldRef {
	return fieldRef{path: fmt.Sprintf("%s[%d]", f.path, i), sent: fmt.Sprintf("%s[%d]", f.sent, i)}
}

// errorf returns an EINVALID error on f whose message is f's path followed
// by the formatted text, and says how the caller spelled f when that
// differs.
func (f fieldRef) errorf(format string, args ...any) *webhookd.Error {
	return spelledAs(webhookd.FieldErrorf(f.path, "%s %s", f.path, fmt.Sprintf(format, args...)), f.sent)
}

// spelledAs returns e with " (sent as …)" added to its message when sent,
// the caller's spelling of e's field, differs from the field.
func spelledAs(e *webhookd.Error, sent string) *webhookd.Error {
	if sent == e.Field || sent == "" || strings.Contains(e.Message, sent) {
		return e
	}
	return &webhookd.Error{Code: e.Code, Field: e.Field, Message: strings.TrimSuffix(e.Message, ".") + " (sent as " + sent + ")."}
}

// member is one field of an object: its name as the caller spelled it and
// its value, raw.
type member struct {
	key string
	raw json.RawMessage
}

// object is one JSON object of a request, its keys normalised to snake_case
// and its values kept raw until a handler asks for them with a type. JSON
// nulls are dropped, as proto3 JSON treats null as "not set".
type object struct {
	fieldRef
	// depth is the object's nesting level in the body (the body is 1).
	depth  int
	fields map[string]member
}

// readBodyUpTo reads the request body, bounded by limit. An empty body
// reads as "{}" so that bodiless POSTs (":ping") need no special case.
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

// decodeBody reads the request body, bounded by the configured size, as an
// object of sch.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, sch schema) (*object, error) {
	return s.decodeBodyUpTo(w, r, s.cfg.MaxBodyBytes, sch)
}

// decodeBodyUpTo is decodeBody bounded by limit.
func (s *Server) decodeBodyUpTo(w http.ResponseWriter, r *http.Request, limit int64, sch schema) (*object, error) {
	body, err := readBodyUpTo(w, r, limit)
	if err != nil {
		return nil, err
	}
	return decodeObject("", body, sch)
}

// decodeObject parses data as one JSON object whose keys, after camelCase is
// normalised to snake_case, are in sch. It rejects unknown keys (unless sch
// is open), keys given twice (in the same or in the other spelling), values
// nested deeper than MaxJSONDepth allows and trailing data, and names the
// offending field in every error.
//
// Valid JSON, which is nearly every request, is split in one pass over the
// bytes (scanObject); anything else goes to decodeObjectStream, which words
// the syntax errors. The two agree on every input (FuzzDecodeObjectAgrees).
func decodeObject(path string, data []byte, sch schema) (*object, error) {
	at := fieldRef{path: path, sent: path}
	if !json.Valid(data) {
		return decodeObjectStream(at, 1, data, sch)
	}
	return decodeValidObject(at, 1, data, sch)
}

// decodeValidObject is decodeObject for data known to be valid JSON, at
// nesting level depth: a value of an object or list decodeObject accepted.
func decodeValidObject(at fieldRef, depth int, data []byte, sch schema) (*object, error) {
	if o, ok, err := scanObject(at, depth, data, sch); ok {
		return o, err
	}
	return decodeObjectStream(at, depth, data, sch)
}

// scanObject is decodeObject for valid JSON: it walks the members of the
// object without a decoder, and keeps each value as a slice of data. It
// reports ok false, leaving the error's wording to decodeObjectStream, when
// data is not an object.
func scanObject(at fieldRef, depth int, data []byte, sch schema) (o *object, ok bool, err error) {
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, false, nil
	}
	o = &object{fieldRef: at, depth: depth, fields: make(map[string]member, len(sch.fields))}
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
func decodeObjectStream(at fieldRef, depth int, data []byte, sch schema) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(at, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		if at.path == "" {
			return nil, webhookd.FieldErrorf("body", "The request body must be a JSON object.")
		}
		return nil, at.errorf("must be a JSON object.")
	}
	o := &object{fieldRef: at, depth: depth, fields: map[string]member{}}
	var spelled []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(at, err)
		}
		key, _ := tok.(string) // inside an object, Token returns keys as strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxError(at, err)
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
		return nil, syntaxError(at, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if at.path == "" {
			return nil, webhookd.FieldErrorf("body", "The request body must hold a single JSON object; found more data after it.")
		}
		return nil, at.errorf("must hold a single JSON object; found more data after it.")
	}
	return o, nil
}

// add puts the member key: raw (trimmed) of an object of sch into o, as
// both decoders read it: a key given twice, in either spelling, a value that
// nests deeper than MaxJSONDepth allows, an empty or unknown key are errors
// (unknown keys of an open schema are dropped); ignored keys and nulls are
// dropped. nested is how many levels raw nests. spelled holds the members
// before it, as name, key, name, key, …; add returns key's name, for the
// caller to append with key.
func (o *object) add(sch schema, spelled []string, key string, raw json.RawMessage, nested int) (string, error) {
	name := snakeCase(key)
	at := o.member(name, key)
	for j := 0; j < len(spelled); j += 2 {
		if spelled[j] == name {
			return "", webhookd.FieldErrorf(at.path, "%s is given more than once (as %q and %q).", at.path, spelled[j+1], key)
		}
	}
	if o.depth+nested > MaxJSONDepth {
		return "", at.errorf("nests JSON deeper than %d levels.", MaxJSONDepth)
	}
	switch {
	case slices.Contains(sch.fields, name):
	case slices.Contains(sch.ignored, name):
		return name, nil
	case key == "":
		if o.path == "" {
			return "", webhookd.FieldErrorf("body", "The request body has a field with an empty name.")
		}
		return "", o.errorf("has a field with an empty name.")
	case sch.open:
		return name, nil
	default:
		unknown := o.member(key, key)
		where := "the request body"
		if o.path != "" {
			where = o.path
		}
		return "", spelledAs(webhookd.FieldErrorf(unknown.path, "Unknown field %q in %s.", key, where), unknown.sent)
	}
	if string(raw) != "null" {
		o.fields[name] = member{key: key, raw: raw}
	}
	return name, nil
}

func syntaxError(at fieldRef, err error) error {
	what, field := "The request body", "body"
	if at.path != "" {
		what, field = at.path, at.path
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return spelledAs(webhookd.FieldErrorf(field, "%s is not valid JSON: unexpected end of input.", what), at.sent)
	}
	return spelledAs(webhookd.FieldErrorf(field, "%s is not valid JSON: %s.", what, strings.TrimPrefix(err.Error(), "json: ")), at.sent)
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

// qualify returns the path of field name of o as errors name it.
func (o *object) qualify(name string) string { return o.at(name).path }

// at returns the ref of field name of o: spelled as the caller sent it when
// it is set, as name otherwise.
func (o *object) at(name string) fieldRef {
	key := name
	if m, ok := o.fields[name]; ok {
		key = m.key
	}
	return o.member(name, key)
}

// explain adds to a domain error about a field below o (one a validator
// such as URIPolicy.ValidateURI named by its snake_case path) how the
// caller spelled that field, when it differs.
func (o *object) explain(err error) error {
	var e *webhookd.Error
	if !errors.As(err, &e) || e.Field == "" {
		return err
	}
	rest, ok := strings.CutPrefix(e.Field, o.path)
	switch {
	case !ok:
		return err
	case rest == "" || rest[0] == '[':
		return spelledAs(e, o.sent+rest)
	case o.path != "" && rest[0] != '.':
		return err
	}
	rest = strings.TrimPrefix(rest, ".")
	name, tail := rest, ""
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		name, tail = rest[:i], rest[i:]
	}
	return spelledAs(e, o.at(name).sent+tail)
}

// has reports whether the field is set (present and not null).
func (o *object) has(name string) bool {
	_, ok := o.fields[name]
	return ok
}

// raw returns a field's value, any JSON, exactly as sent (trimmed).
func (o *object) raw(name string) (json.RawMessage, bool) {
	m, ok := o.fields[name]
	return m.raw, ok
}

// string returns a string field; ok is false when it is not set.
func (o *object) string(name string) (v string, ok bool, err error) {
	raw, ok := o.raw(name)
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, o.at(name).errorf("must be a string.")
	}
	return v, true, nil
}

// bool returns a boolean field; ok is false when it is not set.
func (o *object) bool(name string) (v, ok bool, err error) {
	raw, ok := o.raw(name)
	if !ok {
		return false, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, true, o.at(name).errorf("must be true or false.")
	}
	return v, true, nil
}

// strings returns a list-of-strings field; ok is false when it is not set.
func (o *object) strings(name string) (v []string, ok bool, err error) {
	raw, ok := o.raw(name)
	if !ok {
		return nil, false, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err == nil {
		v = make([]string, len(elems))
		for i, e := range elems {
			if string(e) == "null" || json.Unmarshal(e, &v[i]) != nil {
				return nil, true, o.at(name).errorf("must be a list of strings; element %d is not a string.", i)
			}
		}
		return v, true, nil
	}
	return nil, true, o.at(name).errorf("must be a list of strings.")
}

// rawObject returns a field that must be a JSON object of any content (event
// data, user metadata), exactly as sent.
func (o *object) rawObject(name string) (v json.RawMessage, ok bool, err error) {
	raw, ok := o.raw(name)
	if !ok {
		return nil, false, nil
	}
	if raw[0] != '{' { // decodeObject trimmed the value, and nulls never get here
		return nil, true, o.at(name).errorf("must be a JSON object.")
	}
	return raw, true, nil
}

// list returns a field that must be a JSON array, its elements raw and
// trimmed; a null element is kept as "null".
func (o *object) list(name string) (v []json.RawMessage, ok bool, err error) {
	raw, ok := o.raw(name)
	if !ok {
		return nil, false, nil
	}
	if raw[0] != '[' {
		return nil, true, o.at(name).errorf("must be a list.")
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
	raw, ok := o.raw(name)
	if !ok {
		return nil, false, nil
	}
	v, err = decodeValidObject(o.at(name), o.depth+1, raw, sch)
	return v, true, err
}

// element decodes elem, element i of the list field name (as list returned
// it), as an object of sch.
func (o *object) element(name string, i int, elem json.RawMessage, sch schema) (*object, error) {
	return decodeValidObject(o.at(name).index(i), o.depth+2, elem, sch)
}

// SnakeCase returns the snake_case field that a request key names: the
// decoder reads "subscribedEvents" as subscribed_events. Tools that check
// requests against the OpenAPI document, which names each field once, use it.
func SnakeCase(key string) string { return snakeCase(key) }
