package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/netguard"
	"github.com/webhookd/webhookd/signing"
)

// Limits on what is read back from a receiver.
const (
	// MaxResponseRead is how much of a response body is read; the rest is
	// dropped with the connection. Receivers should answer at once with an
	// empty body; this only keeps a chatty one from costing memory.
	MaxResponseRead = 64 << 10
	// MaxResponseKept is how much of it an Attempt keeps for the events API.
	MaxResponseKept = 1 << 10
	// MaxHeadersKept bounds the response headers an Attempt keeps, as
	// "Name: value" lines; headers past it are left out whole.
	MaxHeadersKept = 1 << 10
)

// JWTSigner signs the RS256 token of a dynamic delivery. *signing.KeyRing
// implements it; the engine needs nothing else from the key ring.
type JWTSigner interface {
	SignDelivery(signing.DeliveryToken) (string, error)
}

// Stage says where an attempt failed. The engine decides from it whether to
// retry (every stage but StageRequest and StageSign) and the events API shows
// it to the user.
type Stage string

// Attempt failure stages, in the order a request goes through them.
const (
	StageRequest    Stage = "request"    // the URI cannot be sent to; retrying will not help
	StageSign       Stage = "sign"       // the delivery cannot be signed; retrying will not help
	StageRefused    Stage = "refused"    // netguard refused the resolved address
	StageDNS        Stage = "dns"        // the host name did not resolve
	StageConnect    Stage = "connect"    // TCP connect failed (refused, unreachable)
	StageTLS        Stage = "tls"        // the TLS handshake failed (certificate, protocol)
	StageTimeout    Stage = "timeout"    // no complete answer within the timeout
	StageConnection Stage = "connection" // the connection broke (reset, closed) before an answer
	StageStatus     Stage = "status"     // the receiver answered, but not with a 2xx
)

// AttemptError is why an attempt failed, in plain words for the user (it is
// stored as the attempt's error) and typed for the engine.
type AttemptError struct {
	Stage Stage
	// StatusCode is the receiver's status with StageStatus.
	StatusCode int
	// Message is what the API shows.
	Message string
	// Detail, when set, is what the server log says instead of Message: the
	// address a destination was refused at and its class, or that its name
	// does not exist, which the API must not show (see Config.ShowRefusals).
	Detail string
	// Err is the underlying error, if any.
	Err error
}

func (e *AttemptError) Error() string { return e.Message }
func (e *AttemptError) Unwrap() error { return e.Err }

// LogText is what the server log says of the failure.
func (e *AttemptError) LogText() string {
	if e.Detail != "" {
		return e.Detail
	}
	return e.Message
}

// Retryable reports whether a later attempt may succeed. Everything the
// network or the receiver did may change (DNS, certificates, even a netguard
// refusal of a host name, which may move to a public address); a URI that
// cannot be sent to (an IP literal the guard refuses among them) or a
// delivery that cannot be signed will not.
func (e *AttemptError) Retryable() bool { return e.Stage != StageRequest && e.Stage != StageSign }

// NewTransport returns an http.Transport tuned for many destinations: the
// default one keeps 2 idle connections per host and 100 in all, so with
// hundreds of receivers it keeps dialling and handshaking (measured at ~0.35
// of the tuned rate with 1000 hosts). dial is normally
// netguard.Guard.DialContext; nil dials without a guard (tests, dev).
//
// The transport never uses a proxy: through a proxy the guard would check the
// proxy's address instead of the destination's.
func NewTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &http.Transport{
		Proxy:             nil,
		DialContext:       dial,
		ForceAttemptHTTP2: true,
		// Keep-alive per destination: enough idle connections per host for
		// the engine's per-destination in-flight cap, and a pool large
		// enough for many hosts; idle ones close after a minute.
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    32,
		IdleConnTimeout:        time.Minute,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// userAgent is the User-Agent of every attempt.
var userAgent = "webhookd/" + webhookd.Version

// sender makes one HTTP attempt of a claimed delivery.
type sender struct {
	rt           http.RoundTripper
	sealer       *signing.Sealer
	jwt          JWTSigner
	issuer       string
	timeout      time.Duration
	allowHTTP    bool
	showRefusals bool
}

func newSender(rt http.RoundTripper, sealer *signing.Sealer, jwt JWTSigner, issuer string, timeout time.Duration, allowHTTP, showRefusals bool) *sender {
	return &sender{
		rt:           rt,
		sealer:       sealer,
		jwt:          jwt,
		issuer:       issuer,
		timeout:      timeout,
		allowHTTP:    allowHTTP,
		showRefusals: showRefusals,
	}
}

// attemptResult is what one attempt did. err is nil on success.
type attemptResult struct {
	statusCode int
	latency    time.Duration
	body       string
	headers    string
	retryAfter time.Duration
	err        *AttemptError
}

// send makes one attempt at time now (the webhook-timestamp). It returns
// ctx's error instead of a result when ctx ends first, so that the engine
// can tell its own shutdown from the receiver's timeout.
func (s *sender) send(ctx context.Context, c *webhookd.Claim, now time.Time) (attemptResult, error) {
	d := c.Delivery
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.URI, bytes.NewReader(c.Payload))
	if err != nil || req.URL.Host == "" {
		return failed(StageRequest, 0, fmt.Sprintf("destination %q is not a valid URL", d.URI), err), nil
	}
	u := req.URL
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.allowHTTP:
	case u.Scheme == "http":
		return failed(StageRequest, 0, "destination uses http; only https is allowed (set WEBHOOKD_DEV=1 for local development)", nil), nil
	case s.allowHTTP:
		return failed(StageRequest, 0, fmt.Sprintf("destination scheme %q is not supported; use http or https", u.Scheme), nil), nil
	default:
		return failed(StageRequest, 0, fmt.Sprintf("destination scheme %q is not supported; use https", u.Scheme), nil), nil
	}

	signature, err := s.sign(c, now)
	if err != nil {
		return failed(StageSign, 0, err.Error(), err), nil
	}
	// The keys are written in canonical form, as Header.Set would write
	// them, without its canonicalization at every attempt.
	req.Header = http.Header{
		"Content-Type":      {"application/json"},
		"User-Agent":        {userAgent},
		"Webhook-Id":        {d.EventID},
		"Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
		"Webhook-Signature": {signature},
	}
	// The webhook's own headers: none can be one of the above but
	// User-Agent, which the user may choose (webhookd.ReservedHeader).
	for name, value := range c.Headers {
		req.Header[textproto.CanonicalMIMEHeaderKey(name)] = []string{value}
	}
	if tp := traceParent(ctx, c); tp != "" {
		req.Header["Traceparent"] = []string{tp}
	}

	start := time.Now()
	// The transport itself, not an http.Client: a 3xx is the receiver's
	// answer, and a failure (following it would send a signed payload
	// somewhere the user did not register, past the URI validation), and
	// the client's redirect and cookie machinery would only cost a copy
	// of the headers at every attempt.
	resp, err := s.rt.RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return attemptResult{}, ctx.Err()
		}
		r := failedFromError(err, u, s.timeout, s.showRefusals)
		r.latency = time.Since(start)
		return r, nil
	}
	// A body cut short (reset, timeout) is only a hint lost: the status
	// line decides the outcome.
	var body []byte
	if resp.Body != http.NoBody {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, MaxResponseRead))
	}
	resp.Body.Close()
	r := attemptResult{statusCode: resp.StatusCode, latency: time.Since(start), body: keep(body), headers: keepHeaders(resp.Header)}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return r, nil
	}
	if ctx.Err() != nil {
		return attemptResult{}, ctx.Err()
	}
	if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		r.retryAfter = ra
	}
	msg := "receiver answered " + statusText(resp.StatusCode)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		msg += "; redirects are not followed"
		if loc := resp.Header.Get("Location"); loc != "" {
			msg += " (Location: " + truncate(loc, 200) + ")"
		}
	case resp.Header.Get("Retry-After") != "":
		msg += " (Retry-After: " + truncate(resp.Header.Get("Retry-After"), 64) + ")"
	}
	r.err = &AttemptError{Stage: StageStatus, StatusCode: resp.StatusCode, Message: msg}
	return r, nil
}

// sign returns the webhook-signature header: HMAC with every live secret for
// static deliveries, an RS256 JWT for dynamic ones.
func (s *sender) sign(c *webhookd.Claim, now time.Time) (string, error) {
	d := c.Delivery
	if d.Kind == webhookd.DeliveryDynamic {
		if s.jwt == nil {
			return "", errors.New("dynamic signing is not configured")
		}
		aud := c.Audience
		if aud == "" {
			aud = d.URI
		}
		tok, err := s.jwt.SignDelivery(signing.DeliveryToken{
			Issuer:    s.issuer,
			Audience:  aud,
			WebhookID: d.EventID,
			EventType: c.EventType,
			Body:      c.Payload,
			IssuedAt:  now,
		})
		if err != nil {
			return "", fmt.Errorf("cannot sign the delivery token: %w", err)
		}
		return tok, nil
	}
	keys := make([][]byte, 0, len(c.Secrets))
	for _, sec := range c.Secrets {
		if sec.ExpireTime != nil && !sec.ExpireTime.After(now) {
			continue // expired between the claim and this attempt
		}
		if s.sealer == nil {
			return "", errors.New("static signing is not configured (no master key)")
		}
		// The sealed value is the "whsec_…" secret as the API handed it out.
		plain, err := s.sealer.Open(sec.Sealed)
		if err != nil {
			return "", fmt.Errorf("cannot open signing secret %s: %w", sec.ID, err)
		}
		key, err := signing.ParseSecret(string(plain))
		if err != nil {
			return "", fmt.Errorf("signing secret %s: %w", sec.ID, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return "", errors.New("the webhook has no live signing secret")
	}
	return signing.SignHMAC(keys, d.EventID, now.Unix(), c.Payload), nil
}

func failed(stage Stage, status int, msg string, err error) attemptResult {
	return attemptResult{statusCode: status, err: &AttemptError{Stage: stage, StatusCode: status, Message: msg, Err: err}}
}

// refusal is the failure of a destination that may not be sent to: msg for
// the API and detail for the log, or detail for both with show.
func refusal(stage Stage, msg, detail string, show bool, err error) attemptResult {
	if show {
		msg = detail
	}
	r := failed(stage, 0, msg, err)
	r.err.Detail = detail
	return r
}

// failedFromError turns an error of the transport's RoundTrip into a typed, plain-words
// failure. The checks run from the most specific cause to the least.
//
// Unless showRefusals, a refused destination and a host name that does not
// exist read the same, with the same stage: naming the refused address and
// its class, or telling a refused name from a missing one, would let an API
// caller map the names and addresses of the network webhookd runs in. The
// details go to the server log (AttemptError.Detail).
func failedFromError(err error, u *url.URL, timeout time.Duration, showRefusals bool) attemptResult {
	host := u.Hostname()
	var (
		refused *netguard.RefusedError
		dnsErr  *net.DNSError
		opErr   *net.OpError
	)
	dialing := errors.As(err, &opErr) && opErr.Op == "dial"
	switch {
	case errors.As(err, &refused) && isIPLiteral(host):
		// The URI names the refused address itself: no DNS change can
		// make it allowed, so it is not retried (URIPolicy refuses such
		// URIs at create; this one predates that, or the allow-list).
		return refusal(StageRequest, "destination is not allowed", refused.Error(), showRefusals, err)
	case errors.As(err, &refused):
		return refusal(StageRefused, fmt.Sprintf("destination %s is not allowed or does not resolve", host),
			fmt.Sprintf("%s resolved to a refused address: %v", host, refused), showRefusals, err)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound && !showRefusals:
		return refusal(StageRefused, fmt.Sprintf("destination %s is not allowed or does not resolve", host),
			fmt.Sprintf("DNS lookup of %s failed: no such host", host), false, err)
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout:
		why := dnsErr.Err
		if dnsErr.IsNotFound {
			why = "no such host"
		}
		return failed(StageDNS, 0, fmt.Sprintf("DNS lookup of %s failed: %s", host, why), err)
	case isTimeout(err):
		if dialing {
			return failed(StageTimeout, 0, fmt.Sprintf("connecting to %s timed out (limit %v)", u.Host, timeout), err)
		}
		return failed(StageTimeout, 0, fmt.Sprintf("no response from %s within %v", u.Host, timeout), err)
	case isTLS(err):
		return failed(StageTLS, 0, fmt.Sprintf("TLS handshake with %s failed: %v", host, innermost(err)), err)
	case dialing:
		return failed(StageConnect, 0, fmt.Sprintf("could not connect to %s: %v", u.Host, innermost(err)), err)
	case errors.Is(err, syscall.ECONNRESET):
		return failed(StageConnection, 0, fmt.Sprintf("connection reset by %s before it answered", u.Host), err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return failed(StageConnection, 0, fmt.Sprintf("%s closed the connection before it answered", u.Host), err)
	}
	return failed(StageConnection, 0, fmt.Sprintf("request to %s failed: %v", u.Host, innermost(err)), err)
}

// isIPLiteral reports whether a URI's host is an IP address rather than a
// name.
func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isTLS(err error) bool {
	var (
		verify  *tls.CertificateVerificationError
		header  tls.RecordHeaderError
		alert   tls.AlertError
		unknown x509.UnknownAuthorityError
		name    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &unknown) || errors.As(err, &name) || errors.As(err, &invalid) ||
		strings.Contains(err.Error(), "tls: ")
}

// innermost strips the url.Error and net.OpError wrappers whose text repeats
// the method, URL and addresses, leaving the cause.
func innermost(err error) error {
	for {
		switch e := err.(type) { //nolint:errorlint // peels the outermost wrapper, one at a time
		case *url.Error:
			err = e.Err
		case *net.OpError:
			err = e.Err
		default:
			return err
		}
	}
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// keep returns the start of a response body that an Attempt stores: at most
// MaxResponseKept bytes, valid UTF-8.
func keep(body []byte) string {
	if len(body) > MaxResponseKept {
		body = body[:MaxResponseKept]
	}
	return strings.ToValidUTF8(string(body), "\uFFFD")
}

// keepHeaders renders a response's headers as "Name: value" lines, sorted
// by name, within MaxHeadersKept: a header that does not fit is left out,
// and so is each value past 256 bytes. It runs at every attempt, so it
// builds the lines in one buffer.
func keepHeaders(h http.Header) string {
	if len(h) == 0 {
		return ""
	}
	var buf [16]string
	names := buf[:0]
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.Grow(256)
	for _, name := range names {
		for _, v := range h[name] {
			if len(v) > 256 {
				v = truncate(v, 256)
			}
			n := len(name) + 2 + len(v)
			if b.Len() > 0 {
				n++
			}
			if b.Len()+n > MaxHeadersKept {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(v)
		}
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
