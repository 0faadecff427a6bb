// Command openapiproxy stands in front of a webhookd and checks every
// exchange through it against the OpenAPI document (api/openapi.yaml), as
// the Go integration tests do in-process: the SDK suite (sdktest/) sends all
// its calls through it, so that what the official SDKs send and receive is
// what the document describes.
//
//	openapiproxy -listen 127.0.0.1:9001 -target http://127.0.0.1:9000
//
// Each violation is printed to stderr as it happens, prefixed "openapi:
// violation:". On SIGINT or SIGTERM it stops and exits 1 when there was any
// violation, 0 otherwise, so that whoever started it fails on a mismatch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/webhookd/webhookd/internal/openapitest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "openapiproxy:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	target := flag.String("target", "", "base URL of the webhookd to check, e.g. http://127.0.0.1:8080")
	prefix := flag.String("prefix", "", "the server's WEBHOOKD_PATH_PREFIX, if any")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("-target %q: want a base URL such as http://127.0.0.1:8080", *target)
	}
	v, err := openapitest.Load(*prefix)
	if err != nil {
		return err
	}
	var violations atomic.Int64
	report := func(err error) {
		violations.Add(1)
		fmt.Fprintf(os.Stderr, "openapi: violation: %v\n", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // server-sent events pass at once
	rp.ErrorLog = slog.NewLogLogger(slog.NewTextHandler(os.Stderr, nil), slog.LevelWarn)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: v.Handler(rp, report), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "openapiproxy: checking %s on http://%s\n", u, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if n := violations.Load(); n > 0 {
		return fmt.Errorf("%d exchanges broke api/openapi.yaml (each printed above)", n)
	}
	fmt.Fprintln(os.Stderr, "openapiproxy: every exchange matched api/openapi.yaml")
	return nil
}
