package sqlite

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestDecodeEvents(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`[]`, `["batch.succeeded"]`, `["a","b.c","d_e"]`, `[ "a" , "b" ]`, `["a\\"b","c"]`, `["\\u0061"]`, `[1]`, `["a",]`, `["a""b"]`, `[`, `null`, `"a"`} {
		got, err := decodeEvents(s)
		var want []string
		wantErr := json.Unmarshal([]byte(s), &want)
		if (err != nil) != (wantErr != nil) || (err == nil && !slices.Equal(got, want)) {
			t.Errorf("decodeEvents(%s) = %q, %v; want %q, %v as JSON reads it", s, got, err, want, wantErr)
		}
	}
}

// FuzzDecodeEvents: the fast path reads what encoding/json reads.
func FuzzDecodeEvents(f *testing.F) {
	for _, s := range []string{`[]`, `["a","b"]`, `["a\\"b"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeEvents(s)
		var want []string
		wantErr := json.Unmarshal([]byte(s), &want)
		if (err != nil) != (wantErr != nil) || (err == nil && !slices.Equal(got, want)) {
			t.Fatalf("decodeEvents(%q) = %q, %v; want %q, %v as JSON reads it", s, got, err, want, wantErr)
		}
	})
}
