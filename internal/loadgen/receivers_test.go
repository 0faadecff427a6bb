package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/receiver"
	"github.com/webhookd/webhookd/signing"
)

func newReceivers(t *testing.T, n int) *Receivers {
	t.Helper()
	r, err := NewReceivers(n, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close receivers: %v", err)
		}
	})
	return r
}

func envelope(t *testing.T) []byte {
	t.Helper()
	b, err := webhookd.RenderEnvelope(webhookd.EventBatchSucceeded, []byte(`{"id":"batches/1"}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hmacTarget returns a target verifying HMAC under a fresh secret, and the
// signer for it.
func hmacTarget(t *testing.T, r *Receivers, server int, path string, b Behavior) (*Target, SignFunc) {
	t.Helper()
	secret := signing.GenerateSecret()
	v, err := receiver.NewVerifier(receiver.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	tg := r.AddTarget(server, path, v, b, 16)
	return tg, HMACSigner(map[*Target][]byte{tg: key})
}

func post(t *testing.T, tg *Target, id string, body []byte, sign SignFunc) int {
	t.Helper()
	ts := time.Now().Unix()
	sig, err := sign(tg, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tg.URI, bytes.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRawHMACReachesEveryTarget(t *testing.T) {
	t.Parallel()
	r := newReceivers(t, 2)
	a, signA := hmacTarget(t, r, 0, "/a", Behavior{})
	b, signB := hmacTarget(t, r, 1, "/b", Behavior{})
	sign := func(tg *Target, id string, ts int64, body []byte) (string, error) {
		if tg == b {
			return signB(tg, id, ts, body)
		}
		return signA(tg, id, ts, body)
	}

	res := RunRaw(t.Context(), RawConfig{
		Transport: http.DefaultTransport, Targets: []*Target{a, b}, Count: 21, Concurrency: 4, Body: envelope(t), Sign: sign,
	})
	if res.Err != nil || res.Sent != 21 || res.Failed != 0 {
		t.Fatalf("RunRaw = %+v", res)
	}
	if got := a.Stats().Distinct; got != 11 {
		t.Errorf("target a received %d distinct messages, want 11", got)
	}
	if got := b.Stats().Distinct; got != 10 {
		t.Errorf("target b received %d distinct messages, want 10", got)
	}
	if got := r.Received(); got != 21 {
		t.Errorf("Received() = %d, want 21", got)
	}
}

func TestTargetCountsDuplicatesAndRejects(t *testing.T) {
	t.Parallel()
	r := newReceivers(t, 1)
	tg, sign := hmacTarget(t, r, 0, "/hook", Behavior{})
	body := envelope(t)

	before := time.Now()
	for _, want := range []int{http.StatusNoContent, http.StatusNoContent} {
		if got := post(t, tg, "msg_1", body, sign); got != want {
			t.Fatalf("POST msg_1: status %d, want %d", got, want)
		}
	}
	wrong := func(*Target, string, int64, []byte) (string, error) {
		return signing.SignHMAC([][]byte{bytes.Repeat([]byte{1}, 32)}, "msg_2", 1, body), nil
	}
	if got := post(t, tg, "msg_2", body, wrong); got != http.StatusUnauthorized {
		t.Fatalf("forged POST: status %d, want 401", got)
	}

	st := tg.Stats()
	if st.Distinct != 1 || st.Duplicates != 1 || st.Rejected != 1 {
		t.Errorf("Stats = %+v, want 1 distinct, 1 duplicate, 1 rejected", st)
	}
	if !errors.Is(st.LastReject, receiver.ErrBadSignature) {
		t.Errorf("LastReject = %v, want ErrBadSignature", st.LastReject)
	}
	at, ok := tg.Receipt("msg_1")
	if !ok || at.Before(before) {
		t.Errorf("Receipt(msg_1) = %v, %v; want a time after %v", at, ok, before)
	}
	if _, ok := tg.Receipt("msg_2"); ok {
		t.Error("a forged message has a receipt")
	}
}

func TestTargetFailsFirstAttemptOnly(t *testing.T) {
	t.Parallel()
	r := newReceivers(t, 1)
	tg, sign := hmacTarget(t, r, 0, "/flaky", Behavior{FailRate: 1})
	body := envelope(t)
	if got := post(t, tg, "msg_1", body, sign); got != http.StatusInternalServerError {
		t.Fatalf("first attempt: status %d, want 500", got)
	}
	if _, ok := tg.Receipt("msg_1"); ok {
		t.Fatal("a failed attempt has a receipt")
	}
	if got := post(t, tg, "msg_1", body, sign); got != http.StatusNoContent {
		t.Fatalf("retry: status %d, want 204", got)
	}
	if st := tg.Stats(); st.Distinct != 1 || st.Injected != 1 {
		t.Errorf("Stats = %+v, want 1 distinct and 1 injected failure", st)
	}
}

func TestTargetFailsAnEvenShare(t *testing.T) {
	t.Parallel()
	r := newReceivers(t, 1)
	tg, sign := hmacTarget(t, r, 0, "/share", Behavior{FailRate: 0.25})
	body := envelope(t)
	var failed []int
	for i := range 12 {
		if post(t, tg, "msg_"+strconv.Itoa(i), body, sign) == http.StatusInternalServerError {
			failed = append(failed, i)
		}
	}
	if want := []int{3, 7, 11}; !slices.Equal(failed, want) {
		t.Errorf("failed first attempts of messages %v, want %v (every fourth)", failed, want)
	}
	if st := tg.Stats(); st.Distinct != 9 || st.Injected != 3 {
		t.Errorf("Stats = %+v, want 9 distinct and 3 injected", st)
	}
}

func TestHangingTargetNeverAnswers(t *testing.T) {
	t.Parallel()
	r := newReceivers(t, 1)
	tg, sign := hmacTarget(t, r, 0, "/hang", Behavior{})
	try := func(id string) (int, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		ts, body := time.Now().Unix(), envelope(t)
		sig, _ := sign(tg, id, ts, body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tg.URI, bytes.NewReader(body))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// Answering, then hanging (SetHang), then answering again.
	for i, hang := range []bool{false, true, false} {
		tg.SetHang(hang)
		code, err := try(fmt.Sprintf("msg_%d", i))
		switch {
		case hang && err == nil:
			t.Fatalf("step %d: a hanging target answered %d", i, code)
		case hang && !errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("step %d: err = %v, want the client's deadline", i, err)
		case !hang && (err != nil || code != http.StatusNoContent):
			t.Fatalf("step %d: an answering target gave %d, %v; want 204", i, code, err)
		}
	}
	if st := tg.Stats(); st.Distinct != 2 || st.Held != 1 {
		t.Errorf("Stats = %+v, want the 2 answered messages and 1 held", st)
	}
	// Released, a hanging target answers what it holds, and what comes
	// later, with 503.
	tg.SetHang(true)
	held := make(chan int, 1)
	go func() {
		code, _ := try("msg_held")
		held <- code
	}()
	time.Sleep(20 * time.Millisecond)
	tg.Release()
	if code := <-held; code != http.StatusServiceUnavailable {
		t.Errorf("a held request got %d on release, want 503", code)
	}
	if code, err := try("msg_after"); code != http.StatusServiceUnavailable {
		t.Errorf("a request after release got %d, %v; want 503", code, err)
	}
}

func TestRS256SignerVerifiesWithItsJWKS(t *testing.T) {
	t.Parallel()
	r := newReceivers(t, 1)
	s, err := NewRS256Signer(r.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	r.Handle(0, "/jwks.json", s.JWKSHandler())
	uri := r.URL(0) + "/dyn"
	v, err := receiver.NewVerifier(receiver.Config{JWKSURL: r.URL(0) + "/jwks.json", Audience: uri, Issuer: r.URL(0)})
	if err != nil {
		t.Fatal(err)
	}
	tg := r.AddTarget(0, "/dyn", v, Behavior{}, 4)
	res := RunRaw(t.Context(), RawConfig{
		Transport: http.DefaultTransport, Targets: []*Target{tg}, Count: 3, Concurrency: 2,
		Body: envelope(t), Sign: s.Sign(webhookd.EventBatchSucceeded),
	})
	if res.Err != nil || res.Sent != 3 {
		t.Fatalf("RunRaw = %+v (target: %+v)", res, tg.Stats())
	}
	rate, _, err := s.SignRate(t.Context(), 2, 4)
	if err != nil || rate <= 0 {
		t.Errorf("SignRate = %v, %v", rate, err)
	}
}
