package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/webhookd/webhookd/receiver"
)

// receiveOptions are the flags of "webhookd receive".
type receiveOptions struct {
	addr      string
	secrets   secretList
	jwksURL   string
	audience  string
	issuer    string
	tolerance time.Duration
	failRate  float64
	delay     time.Duration
	status    int
	maxBody   int64
}

// secretList is a repeatable --secret flag.
type secretList []string

func (s *secretList) String() string { return fmt.Sprint(len(*s), " secrets") } // never the secrets
func (s *secretList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func parseReceiveFlags(args []string, stderr io.Writer) (*receiveOptions, error) {
	o := &receiveOptions{}
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: webhookd receive --addr ADDR [--secret whsec_…]… [--jwks-url URL --audience AUD [--issuer ISS]]

A verifying webhook receiver for local development: it prints one line and
the pretty JSON body for each request, and can simulate a failing receiver
to exercise a sender's retries.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8000", "`address` to listen on (port 0 picks a free port)")
	fs.Var(&o.secrets, "secret", "`whsec_…` signing secret of a static webhook (repeat during a rotation)")
	fs.StringVar(&o.jwksURL, "jwks-url", "", "JWKS `URL` that verifies dynamic (JWT-signed) deliveries, e.g. http://localhost:8080/.well-known/jwks.json")
	fs.StringVar(&o.audience, "audience", "", "expected JWT `aud`: this receiver's URL or the project's configured audience")
	fs.StringVar(&o.issuer, "issuer", "", "expected JWT `iss` (optional)")
	fs.DurationVar(&o.tolerance, "tolerance", receiver.DefaultTolerance, "accepted distance of webhook-timestamp from now")
	fs.Float64Var(&o.failRate, "fail-rate", 0, "`fraction` (0..1) of verified requests answered with --status, or 500")
	fs.DurationVar(&o.delay, "delay", 0, "wait this long before answering (a slow receiver)")
	fs.IntVar(&o.status, "status", 0, "answer with this HTTP `status`: always, or with --fail-rate for that fraction")
	fs.Int64Var(&o.maxBody, "max-body", receiver.DefaultMaxBodyBytes, "largest body accepted, in `bytes`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("%w: receive: unexpected argument %q", errUsage, fs.Arg(0))
	case o.failRate < 0 || o.failRate > 1:
		return nil, fmt.Errorf("%w: receive: --fail-rate must be between 0 and 1", errUsage)
	case o.status != 0 && (o.status < 200 || o.status > 599):
		return nil, fmt.Errorf("%w: receive: --status must be an HTTP status between 200 and 599", errUsage)
	case o.jwksURL != "" && o.audience == "":
		return nil, fmt.Errorf("%w: receive: --jwks-url needs --audience", errUsage)
	case o.tolerance <= 0:
		return nil, fmt.Errorf("%w: receive: --tolerance must be positive", errUsage)
	case o.delay < 0 || o.maxBody <= 0:
		return nil, fmt.Errorf("%w: receive: --delay and --max-body must not be negative", errUsage)
	}
	return o, nil
}

// runReceive runs "webhookd receive" until ctx is done.
func runReceive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseReceiveFlags(args, stderr)
	if err != nil {
		return err
	}
	v, err := newReceiveVerifier(o)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	p := &printer{w: stdout}
	p.printf("webhookd receive: listening on http://%s/ (any path)\n", ln.Addr())
	if v == nil {
		p.printf("webhookd receive: no --secret or --jwks-url: requests are printed UNVERIFIED\n")
	}
	srv := &http.Server{
		Handler:           &receiveHandler{opts: o, verifier: v, out: p, random: rand.Float64},
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("receive: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("receive: shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("receive: %w", err)
	}
	return nil
}

// newReceiveVerifier returns the verifier the flags describe, or nil when
// they give no secret and no JWKS (requests are then printed unverified).
func newReceiveVerifier(o *receiveOptions) (*receiver.Verifier, error) {
	if len(o.secrets) == 0 && o.jwksURL == "" {
		return nil, nil
	}
	v, err := receiver.NewVerifier(receiver.Config{
		Secrets:    o.secrets,
		JWKSURL:    o.jwksURL,
		Audience:   o.audience,
		Issuer:     o.issuer,
		Tolerance:  o.tolerance,
		Duplicates: receiver.NewMemoryFilter(0, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return v, nil
}

// printer serialises output, so that concurrent requests print whole.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// receiveHandler verifies, prints, and answers — honestly, or as a failing
// receiver would when the flags ask for it.
type receiveHandler struct {
	opts     *receiveOptions
	verifier *receiver.Verifier // nil: print without verifying
	out      *printer
	random   func() float64
}

func (h *receiveHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.maxBody))
	if err != nil {
		h.out.printf("%s %s %s: cannot read body: %v\n\n", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.Path, err)
		answer(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}

	id := r.Header.Get(receiver.HeaderID)
	line := fmt.Sprintf("%s %s %s id=%s", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.Path, idOrDash(id))
	status, reason := http.StatusOK, "received"
	switch ev, err := h.verify(r, body); {
	case errors.Is(err, receiver.ErrDuplicate):
		line += fmt.Sprintf(" type=%s kind=%s verified=yes duplicate=yes", ev.Type, ev.Kind)
		reason = "duplicate"
	case err != nil:
		status, reason = receiver.StatusCode(err), err.Error()
		line += fmt.Sprintf(" verified=NO reason=%q", reason)
	case ev == nil:
		line += " verified=no (no secret or JWKS configured)"
	default:
		line += fmt.Sprintf(" type=%s kind=%s verified=yes duplicate=no", ev.Type, ev.Kind)
	}

	// Trouble on request: only requests that would otherwise succeed are
	// failed, and their id is forgotten so that the retry is not a duplicate.
	if status < 300 {
		switch fail := h.opts.failRate > 0 && h.random() < h.opts.failRate; {
		case fail:
			status, reason = cmp.Or(h.opts.status, http.StatusInternalServerError), "simulated failure"
		case h.opts.failRate == 0 && h.opts.status != 0:
			status, reason = h.opts.status, "status set by --status"
		}
		if status >= 300 && h.verifier != nil && id != "" {
			_ = h.verifier.Forget(r.Context(), id)
		}
	}

	if h.opts.delay > 0 {
		t := time.NewTimer(h.opts.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	h.out.printf("%s -> %d\n%s\n\n", line, status, prettyJSON(body))
	answer(w, status, reason)
}

func (h *receiveHandler) verify(r *http.Request, body []byte) (*receiver.Event, error) {
	if h.verifier == nil {
		return nil, nil
	}
	return h.verifier.Verify(r.Context(), r.Header, body)
}

func answer(w http.ResponseWriter, status int, reason string) {
	key := "status"
	if status >= 300 {
		key = "error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{key: reason})
}

// prettyJSON indents a JSON body; anything else is shown as it came.
func prettyJSON(body []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		return strings.TrimRight(string(body), "\n")
	}
	return buf.String()
}

func idOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
