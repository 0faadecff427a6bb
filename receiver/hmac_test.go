package receiver_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/webhookd/webhookd/receiver"
	"github.com/webhookd/webhookd/signing"
)

func newHMACVerifier(t testing.TB, now time.Time, secrets ...string) *receiver.Verifier {
	t.Helper()
	v, err := receiver.NewVerifier(receiver.Config{Secrets: secrets, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkVectorResult accepts the outcome of verifying a golden vector: an
// event, or — for the vectors whose body is not a JSON object — the
// envelope error that Verify reports only after the signature passed.
func checkVectorResult(t *testing.T, v hmacVector, ev *receiver.Event, err error) {
	t.Helper()
	if !isJSONObject(v.Body) {
		if !errors.Is(err, receiver.ErrBadPayload) {
			t.Fatalf("err = %v, want ErrBadPayload (signature valid, body not an envelope)", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != v.MsgID || ev.Kind != receiver.KindHMAC || string(ev.Body) != v.Body || ev.SentAt.Unix() != v.Timestamp {
		t.Fatalf("event = %+v", ev)
	}
}

func TestVerifyGoldenVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(v.Timestamp, 0)
			// All secrets together, and each alone (a receiver that has
			// only the old or only the new secret during a rotation).
			sets := [][]string{v.Secrets}
			if len(v.Secrets) > 1 {
				for _, s := range v.Secrets {
					sets = append(sets, []string{s})
				}
			}
			for _, secrets := range sets {
				ev, err := newHMACVerifier(t, now, secrets...).Verify(t.Context(), v.header(), []byte(v.Body))
				checkVectorResult(t, v, ev, err)
			}
			// A receiver holding another secret rejects it.
			_, err := newHMACVerifier(t, now, signing.GenerateSecret()).Verify(t.Context(), v.header(), []byte(v.Body))
			if !errors.Is(err, receiver.ErrBadSignature) {
				t.Fatalf("other secret: err = %v, want ErrBadSignature", err)
			}
		})
	}
}

// TestVerifyEverySingleByteChange changes, one at a time, every byte of the
// body and the id, every digit of the timestamp and every character of each
// signature of every golden vector: none may verify.
func TestVerifyEverySingleByteChange(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(v.Timestamp, 0)
			all := newHMACVerifier(t, now, v.Secrets...)
			reject := func(what string, h http.Header, body string) {
				t.Helper()
				ev, err := all.Verify(t.Context(), h, []byte(body))
				if !errors.Is(err, receiver.ErrBadSignature) && !errors.Is(err, receiver.ErrMalformedHeader) {
					t.Fatalf("%s: err = %v, event %v; want ErrBadSignature or ErrMalformedHeader", what, err, ev)
				}
			}
			for i := range len(v.Body) {
				reject("body byte "+strconv.Itoa(i), v.header(), mutateByte(v.Body, i))
			}
			reject("body byte appended", v.header(), v.Body+" ")
			if len(v.Body) > 0 {
				reject("body byte removed", v.header(), v.Body[:len(v.Body)-1])
			}
			for i := range len(v.MsgID) {
				h := v.header()
				h.Set("webhook-id", mutateByte(v.MsgID, i))
				reject("id byte "+strconv.Itoa(i), h, v.Body)
			}
			ts := strconv.FormatInt(v.Timestamp, 10)
			for i := range len(ts) {
				b := []byte(ts)
				b[i] = '0' + (b[i]-'0'+1)%10
				h := v.header()
				h.Set("webhook-timestamp", string(b))
				// Verify at the changed time, so that the signature, not
				// the tolerance, is what rejects it.
				n, _ := strconv.ParseInt(string(b), 10, 64)
				_, err := newHMACVerifier(t, time.Unix(n, 0), v.Secrets...).Verify(t.Context(), h, []byte(v.Body))
				if !errors.Is(err, receiver.ErrBadSignature) {
					t.Fatalf("timestamp digit %d: err = %v, want ErrBadSignature", i, err)
				}
			}
			// Each signature is checked by a receiver holding only its own
			// secret; changing any character of it must break it.
			sigs := strings.Fields(v.Signature)
			for n, secret := range v.Secrets {
				one := newHMACVerifier(t, now, secret)
				for i := range len(sigs[n]) {
					changed := append([]string(nil), sigs...)
					changed[n] = mutateByte(sigs[n], i)
					h := v.header()
					h.Set("webhook-signature", strings.Join(changed, " "))
					_, err := one.Verify(t.Context(), h, []byte(v.Body))
					if !errors.Is(err, receiver.ErrBadSignature) && !errors.Is(err, receiver.ErrMalformedHeader) {
						t.Fatalf("signature %d char %d (%q): err = %v", n, i, changed[n], err)
					}
				}
			}
		})
	}
}

func TestVerifyOfficialLibraryInterop(t *testing.T) {
	t.Parallel()
	secret := signing.GenerateSecret()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(testBody)

	// Signed by the official library, verified by us.
	sig, err := wh.Sign("msg_official", now, body)
	if err != nil {
		t.Fatal(err)
	}
	h := webhookHeader("msg_official", now.Unix(), sig)
	v, err := receiver.NewVerifier(receiver.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := v.Verify(t.Context(), h, body)
	if err != nil {
		t.Fatalf("official library's signature rejected: %v", err)
	}
	if ev.Type != "batch.succeeded" {
		t.Fatalf("type %q", ev.Type)
	}

	// Signed by webhookd, verified by both.
	h = signedHMAC(t, secret, "msg_ours", now, body)
	if err := wh.Verify(body, h); err != nil {
		t.Fatalf("official library rejects ours: %v", err)
	}
	if _, err := v.Verify(t.Context(), h, body); err != nil {
		t.Fatal(err)
	}
	// And both reject the same tampering.
	tampered := []byte(strings.Replace(testBody, "error_count\":0", "error_count\":1", 1))
	if wh.Verify(tampered, h) == nil {
		t.Fatal("official library accepts a tampered body")
	}
	if _, err := v.Verify(t.Context(), h, tampered); !errors.Is(err, receiver.ErrBadSignature) {
		t.Fatalf("tampered: err = %v", err)
	}
}

func TestVerifyTimestampTolerance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sentAgo   time.Duration
		tolerance time.Duration
		want      error
	}{
		{"now", 0, 0, nil},
		{"just within the past tolerance", 5 * time.Minute, 0, nil},
		{"replay older than tolerance", 5*time.Minute + time.Second, 0, receiver.ErrTooOld},
		{"a day old", 24 * time.Hour, 0, receiver.ErrTooOld},
		{"just within the future tolerance", -5 * time.Minute, 0, nil},
		{"too far in the future", -5*time.Minute - time.Second, 0, receiver.ErrTooNew},
		{"custom tolerance", 90 * time.Second, time.Minute, receiver.ErrTooOld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := signedHMAC(t, testSecret, "msg_ts", epoch.Add(-tt.sentAgo), []byte(testBody))
			v, err := receiver.NewVerifier(receiver.Config{Secrets: []string{testSecret}, Tolerance: tt.tolerance, Now: func() time.Time { return epoch }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(t.Context(), h, []byte(testBody))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyHeaders(t *testing.T) {
	t.Parallel()
	valid := func() http.Header { return signedHMAC(t, testSecret, "msg_h", epoch, []byte(testBody)) }
	tests := []struct {
		name   string
		header func() http.Header
		want   error
	}{
		{"no id", func() http.Header { h := valid(); h.Del("webhook-id"); return h }, receiver.ErrMissingHeader},
		{"no timestamp", func() http.Header { h := valid(); h.Del("webhook-timestamp"); return h }, receiver.ErrMissingHeader},
		{"no signature", func() http.Header { h := valid(); h.Del("webhook-signature"); return h }, receiver.ErrMissingHeader},
		{"empty signature", func() http.Header { h := valid(); h.Set("webhook-signature", ""); return h }, receiver.ErrMissingHeader},
		{"timestamp in milliseconds' clothing", func() http.Header { h := valid(); h.Set("webhook-timestamp", "1769083200.5"); return h }, receiver.ErrMalformedHeader},
		{"negative timestamp", func() http.Header { h := valid(); h.Set("webhook-timestamp", "-1"); return h }, receiver.ErrMalformedHeader},
		{"RFC 3339 timestamp", func() http.Header { h := valid(); h.Set("webhook-timestamp", "2026-01-22T12:00:00Z"); return h }, receiver.ErrMalformedHeader},
		{"huge timestamp", func() http.Header { h := valid(); h.Set("webhook-timestamp", "99999999999999999999"); return h }, receiver.ErrMalformedHeader},
		{"signature without version", func() http.Header { h := valid(); h.Set("webhook-signature", "c2lnbmF0dXJl"); return h }, receiver.ErrMalformedHeader},
		{"only other versions", func() http.Header {
			h := valid()
			h.Set("webhook-signature", strings.Replace(h.Get("webhook-signature"), "v1,", "v1a,", 1))
			return h
		}, receiver.ErrBadSignature},
		{"v1 signature not base64", func() http.Header { h := valid(); h.Set("webhook-signature", "v1,not!base64"); return h }, receiver.ErrMalformedHeader},
		{"v1 signature of the wrong length", func() http.Header { h := valid(); h.Set("webhook-signature", "v1,c2lnbmF0dXJl"); return h }, receiver.ErrMalformedHeader},
		{"malformed v1 beside a well-formed one that does not match", func() http.Header {
			h := valid()
			h.Set("webhook-signature", "v1,not!base64 v1,"+strings.Repeat("A", 43)+"=")
			return h
		}, receiver.ErrBadSignature},
		{"too many signatures", func() http.Header {
			h := valid()
			h.Set("webhook-signature", strings.Repeat("v1,AAAA ", 17)+h.Get("webhook-signature"))
			return h
		}, receiver.ErrMalformedHeader},
		{"lower-case keys built by hand", func() http.Header {
			h := http.Header{}
			for k, v := range valid() {
				h[strings.ToLower(k)] = v
			}
			return h
		}, nil},
		{"valid signature among junk entries", func() http.Header {
			h := valid()
			h.Set("webhook-signature", "v1,bm90IGl0 v1a,xyz "+h.Get("webhook-signature")+" v2,abc")
			return h
		}, nil},
	}
	v := newHMACVerifier(t, epoch, testSecret)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(t.Context(), tt.header(), []byte(testBody))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyEnvelope(t *testing.T) {
	t.Parallel()
	v := newHMACVerifier(t, epoch, testSecret)
	ev, err := v.Verify(t.Context(), signedHMAC(t, testSecret, "msg_env", epoch, []byte(testBody)), []byte(testBody))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "batch.succeeded" || ev.Version != "v1" || !ev.Timestamp.Equal(epoch) ||
		string(ev.UserMetadata) != `{"job_group":"nightly-eval"}` || !strings.Contains(string(ev.Data), `"output_file_uri":"files/b1-results.jsonl"`) {
		t.Fatalf("event = %+v", ev)
	}

	for name, body := range map[string]string{
		"not JSON":        `type=batch.succeeded`,
		"array":           `[1,2]`,
		"trailing data":   `{"type":"x"}{"type":"y"}`,
		"bad timestamp":   `{"type":"x","timestamp":"yesterday","data":{}}`,
		"type not string": `{"type":1}`,
	} {
		h := signedHMAC(t, testSecret, "msg_env", epoch, []byte(body))
		if _, err := v.Verify(t.Context(), h, []byte(body)); !errors.Is(err, receiver.ErrBadPayload) {
			t.Errorf("%s: err = %v, want ErrBadPayload", name, err)
		}
	}
	// No user_metadata: nil, not "null".
	body := `{"type":"webhook.ping","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"user_metadata":null}}`
	ev, err = v.Verify(t.Context(), signedHMAC(t, testSecret, "msg_env", epoch, []byte(body)), []byte(body))
	if err != nil || ev.UserMetadata != nil {
		t.Fatalf("ping: err %v, user_metadata %s", err, ev.UserMetadata)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     receiver.Config
		wantErr string
	}{
		{"nothing to verify with", receiver.Config{}, "at least one secret"},
		{"bad secret", receiver.Config{Secrets: []string{"whsec_***"}}, "secret 1"},
		{"empty secret", receiver.Config{Secrets: []string{"whsec_"}}, "secret 1"},
		{"JWKS without audience", receiver.Config{JWKSURL: "https://x.test/.well-known/jwks.json"}, "Audience"},
		{"JWKS not http", receiver.Config{JWKSURL: "file:///etc/passwd", Audience: "a"}, "not an http"},
		{"ok: secret", receiver.Config{Secrets: []string{testSecret}}, ""},
		{"ok: JWKS", receiver.Config{JWKSURL: "https://x.test/.well-known/jwks.json", Audience: "a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := receiver.NewVerifier(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !contains(err, tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkVerifyHMAC(b *testing.B) {
	v := newHMACVerifier(b, epoch, testSecret)
	h := signedHMAC(b, testSecret, "msg_bench", epoch, []byte(testBody))
	for b.Loop() {
		if _, err := v.Verify(b.Context(), h, []byte(testBody)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyMalformedV1Message: a v1 entry that is not base64 of 32 bytes is
// reported as malformed, not as a missing v1 signature.
func TestVerifyMalformedV1Message(t *testing.T) {
	t.Parallel()
	h := signedHMAC(t, testSecret, "msg_m", epoch, []byte(testBody))
	h.Set("webhook-signature", "v1,not!base64")
	_, err := newHMACVerifier(t, epoch, testSecret).Verify(t.Context(), h, []byte(testBody))
	if err == nil || !strings.Contains(err.Error(), "v1 signature is malformed") || strings.Contains(err.Error(), "no v1 signature") {
		t.Fatalf("err = %v, want one saying the v1 signature is malformed", err)
	}
}
