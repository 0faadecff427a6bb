package api

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

func TestPageTokenRoundTrip(t *testing.T) {
	t.Parallel()
	p := pageTokens{key: []byte("0123456789abcdef0123456789abcdef")}
	for _, c := range []webhookd.Cursor{
		{Time: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), ID: "wh_abc"},
		{Time: time.Unix(0, 1).UTC(), ID: ""},
		{Time: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), ID: "msg_" + string(make([]byte, 64))},
	} {
		tok := p.encode("webhooks", "prj_1", c)
		got, err := p.decode("webhooks", "prj_1", tok)
		if err != nil {
			t.Fatalf("decode(encode(%v)) = %v", c, err)
		}
		if !got.Time.Equal(c.Time) || got.ID != c.ID {
			t.Errorf("decode(encode(%v)) = %v", c, got)
		}
	}
}

func TestPageTokenRejects(t *testing.T) {
	t.Parallel()
	p := pageTokens{key: []byte("0123456789abcdef0123456789abcdef")}
	c := webhookd.Cursor{Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), ID: "wh_abc"}
	tok := p.encode("webhooks", "prj_1", c)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := append([]byte(nil), raw...)
	flipped[5] ^= 1
	tests := []struct{ name, collection, project, token string }{
		{"other project", "webhooks", "prj_2", tok},
		{"other collection", "events", "prj_1", tok},
		{"edited", "webhooks", "prj_1", base64.RawURLEncoding.EncodeToString(flipped)},
		{"truncated", "webhooks", "prj_1", tok[:len(tok)-2]},
		{"not base64", "webhooks", "prj_1", "tok2!"},
		{"guessed", "webhooks", "prj_1", "tok2"},
		{"other key", "webhooks", "prj_1", pageTokens{key: []byte("another key")}.encode("webhooks", "prj_1", c)},
		// A shifted boundary between collection and project must not verify.
		{"shifted names", "webhooksp", "rj_1", tok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := p.decode(tt.collection, tt.project, tt.token)
			requireFieldError(t, err, "page_token", "page_token is invalid")
		})
	}
}

// FuzzPageToken checks that no token panics the decoder, that only tokens
// the server made are accepted, and that every made token decodes to its
// cursor for its own project and collection only.
func FuzzPageToken(f *testing.F) {
	p := pageTokens{key: []byte("0123456789abcdef0123456789abcdef")}
	f.Add(p.encode("webhooks", "prj_1", webhookd.Cursor{Time: time.Unix(1, 2), ID: "wh_x"}), int64(0), "wh_x")
	f.Add("AQAAAAAAAAAAd2hfeA", int64(-1), "")
	f.Add("", int64(1<<62), "msg_\x00\xff")
	f.Fuzz(func(t *testing.T, token string, nanos int64, id string) {
		if c, err := p.decode("webhooks", "prj_1", token); err == nil {
			// Accepted: it must be exactly what encode makes for it.
			if p.encode("webhooks", "prj_1", c) != token {
				t.Fatalf("decode accepted %q, which encode would not make", token)
			}
		} else {
			requireFieldError(t, err, "page_token", "page_token is invalid")
		}

		c := webhookd.Cursor{Time: time.Unix(0, nanos).UTC(), ID: id}
		made := p.encode("webhooks", "prj_1", c)
		got, err := p.decode("webhooks", "prj_1", made)
		if len(made) > pageTokenMaxLen {
			if err == nil {
				t.Fatalf("decode accepted an over-long token")
			}
			return
		}
		if err != nil || !got.Time.Equal(c.Time) || got.ID != c.ID {
			t.Fatalf("decode(encode(%v)) = %v, %v", c, got, err)
		}
		if _, err := p.decode("webhooks", "prj_2", made); err == nil {
			t.Fatalf("token for prj_1 accepted for prj_2")
		}
		if _, err := p.decode("events", "prj_1", made); err == nil {
			t.Fatalf("token for webhooks accepted for events")
		}
	})
}
