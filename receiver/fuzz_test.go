package receiver_test

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/receiver"
	"github.com/webhookd/webhookd/signing"
)

// FuzzSignatureHeader feeds arbitrary webhook-signature values for a fixed
// message. A header verifies exactly when one of its (at most 16) entries is
// the message's correct "v1,<signature>".
func FuzzSignatureHeader(f *testing.F) {
	body := []byte(testBody)
	good := signedHMAC(f, testSecret, "msg_fuzz", epoch, body).Get("webhook-signature")
	f.Add(good)
	f.Add("v1," + strings.Repeat("A", 43) + "= " + good)
	f.Add(good + " v1a,abc v2,xyz")
	f.Add("v1,")
	f.Add(",")
	f.Add("v1,,, ,v1")
	f.Add("a.b.c")
	f.Add(strings.Repeat("v1,x ", 20))
	v := newHMACVerifier(f, epoch, testSecret)
	f.Fuzz(func(t *testing.T, header string) {
		sigs, err := receiver.ParseSignatureList(header)
		if err == nil {
			for _, s := range sigs {
				if len(s) != sha256.Size {
					t.Fatalf("parsed a %d-byte signature", len(s))
				}
			}
		} else if !errors.Is(err, receiver.ErrMalformedHeader) {
			t.Fatalf("parse error %v is not ErrMalformedHeader", err)
		}

		h := webhookHeader("msg_fuzz", epoch.Unix(), header)
		ev, err := v.Verify(t.Context(), h, body)
		fields := strings.Fields(header)
		hasGood := slices.Contains(fields, good) && len(fields) <= 16
		switch {
		case err == nil && !hasGood:
			t.Fatalf("accepted %q", header)
		case err != nil && hasGood:
			t.Fatalf("rejected %q, which holds the correct signature: %v", header, err)
		case err != nil && ev != nil:
			t.Fatal("error with an event")
		}
	})
}

// FuzzJWT feeds arbitrary tokens as webhook-signature, for a verifier with a
// live JWKS. Only the genuine token may verify: base64 is decoded strictly,
// so no other spelling of it exists.
func FuzzJWT(f *testing.F) {
	clock := fakeclock.New(epoch)
	s := newSender(f, clock)
	body := []byte(testBody)
	good := s.sign(f, "msg_fuzz", body).Get("webhook-signature")
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add(parts[0] + ".e30." + parts[2])
	f.Add("..")
	f.Add("a.b.c")
	f.Add(good + "=")
	v, err := receiver.NewVerifier(receiver.Config{
		JWKSURL: s.jwksURL(), Audience: testAudience, Issuer: testIssuer,
		Now: clock.Now, HTTPClient: s.srv.Client(), JWKSMinRefresh: time.Hour,
	})
	if err != nil {
		f.Fatal(err)
	}
	// Warm the cache, so that fuzzed kids hit the rate limit, not the network.
	if _, err := v.Verify(f.Context(), webhookHeader("msg_fuzz", epoch.Unix(), good), body); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		ev, err := v.Verify(t.Context(), webhookHeader("msg_fuzz", epoch.Unix(), token), body)
		if err == nil && token != good {
			t.Fatalf("accepted a token that is not the genuine one: %q", token)
		}
		if err != nil && ev != nil {
			t.Fatal("error with an event")
		}
	})
}

// FuzzParseJWKS checks that whatever a JWKS endpoint answers, only sound
// RSA keys come out.
func FuzzParseJWKS(f *testing.F) {
	clock := fakeclock.New(epoch)
	s := newSender(f, clock)
	f.Add(s.ring.JWKS())
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","kid":"k","crv":"P-256"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := receiver.ParseJWKS(b)
		if err != nil {
			return
		}
		for kid, k := range keys {
			if kid == "" || k.N.BitLen() < 2048 || k.N.BitLen() > 8192 || k.E < 3 || k.E%2 == 0 {
				t.Fatalf("unsound key %q: %d bits, e=%d", kid, k.N.BitLen(), k.E)
			}
		}
	})
}

// FuzzVerifyBody signs arbitrary messages correctly: every one must pass
// the signature check, whatever its id, timestamp or body, and fail only on
// the parts that are not about the signature.
func FuzzVerifyBody(f *testing.F) {
	f.Add("msg_1", int64(1769083200), []byte(testBody))
	f.Add("msg_2", int64(1769083200), []byte(`[]`))
	f.Add("", int64(0), []byte(`{"type":"x","timestamp":"bad"}`))
	key, err := signing.ParseSecret(testSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string, ts int64, body []byte) {
		if ts < 0 {
			ts = -ts
		}
		if ts < 0 {
			return
		}
		h := webhookHeader(id, ts, signing.SignHMAC([][]byte{key}, id, ts, body))
		v := newHMACVerifier(t, time.Unix(ts, 0), testSecret)
		_, err := v.Verify(t.Context(), h, body)
		if errors.Is(err, receiver.ErrBadSignature) {
			t.Fatalf("correctly signed message (id %q, ts %s) rejected: %v", id, strconv.FormatInt(ts, 10), err)
		}
		if err != nil && !errors.Is(err, receiver.ErrBadPayload) && !errors.Is(err, receiver.ErrMissingHeader) && !errors.Is(err, receiver.ErrMalformedHeader) {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

func FuzzCacheMaxAge(f *testing.F) {
	f.Add("public, max-age=900")
	f.Add("max-age=99999999999999999999")
	f.Add("max-age=-1, no-cache")
	f.Fuzz(func(t *testing.T, cc string) {
		if d := receiver.CacheMaxAge(cc); d < time.Minute || d > 24*time.Hour {
			t.Fatalf("CacheMaxAge(%q) = %v, outside [1m, 24h]", cc, d)
		}
	})
}
