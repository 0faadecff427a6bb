package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/maintenance"
	"github.com/webhookd/webhookd/lro"
)

// Config is everything `webhookd serve` can be told. Defaults live in
// defaultConfig, environment variables are read by fromEnv, flags override
// both, and validate checks the result once, at start.
type Config struct {
	Addr          string         // WEBHOOKD_ADDR
	DB            string         // WEBHOOKD_DB: sqlite:PATH or postgres://…
	APIKey        string         // WEBHOOKD_API_KEY
	AdminKey      string         // WEBHOOKD_ADMIN_KEY: the operator's credential (admin API, console)
	Dev           bool           // WEBHOOKD_DEV=1
	MasterKey     string         // WEBHOOKD_MASTER_KEY (hex or base64 of 32 bytes)
	MasterKeyFile string         // WEBHOOKD_MASTER_KEY_FILE (default: beside the SQLite file)
	PublicURL     string         // WEBHOOKD_PUBLIC_URL: the JWT issuer and base of download links
	PathPrefix    string         // WEBHOOKD_PATH_PREFIX
	LogFormat     string         // WEBHOOKD_LOG_FORMAT: json|text (dev default text)
	LogLevel      string         // WEBHOOKD_LOG_LEVEL: debug|info|warn|error
	EventTypes    []string       // WEBHOOKD_EVENT_TYPES: extra event types, comma-separated
	AllowDest     []netip.Prefix // WEBHOOKD_ALLOW_DESTINATIONS: CIDRs allowed despite netguard
	RetrySchedule string         // WEBHOOKD_RETRY_SCHEDULE: comma-separated Go durations
	RetryWindow   time.Duration  // WEBHOOKD_RETRY_WINDOW
	Workers       int            // WEBHOOKD_WORKERS
	PerDestLimit  int            // WEBHOOKD_PER_DESTINATION_LIMIT
	Timeout       time.Duration  // WEBHOOKD_DELIVERY_TIMEOUT
	Lease         time.Duration  // WEBHOOKD_LEASE (default max(1m, 6×timeout))
	CircuitOpen   time.Duration  // WEBHOOKD_CIRCUIT_OPEN_FOR: how long an open circuit defers a destination
	CircuitFails  int            // WEBHOOKD_CIRCUIT_FAILURES: consecutive failures that open it
	DisableAfter  time.Duration  // WEBHOOKD_DISABLE_AFTER
	ShutdownGrace time.Duration  // WEBHOOKD_SHUTDOWN_GRACE
	SimJob        time.Duration  // WEBHOOKD_SIM_JOB_DURATION: how long a simulated job runs
	BatchExpiry   time.Duration  // WEBHOOKD_BATCH_EXPIRY: a batch not finished by then expires
	FileQuota     int64          // WEBHOOKD_FILE_QUOTA: bytes of files per project (0 in the environment: none)
	OutputKeep    time.Duration  // WEBHOOKD_RESULT_FILE_RETENTION: how long job outputs are kept (0 in the environment: forever)
	// Retention: events whose deliveries all succeeded are pruned this long
	// after the last one finished; FailedRetention applies instead when any
	// delivery failed, and must be at least Retention.
	Retention       time.Duration // WEBHOOKD_RETENTION
	FailedRetention time.Duration // WEBHOOKD_FAILED_RETENTION
	// tracing is the tracer provider the standard OTEL_* variables ask for
	// (serve sets it from tracing.FromEnv); nil, the default, traces
	// nothing.
	tracing trace.TracerProvider
}

// defaultConfig is the configuration before the environment and flags:
// the server's own defaults, and the delivery engine's and retention's as
// their packages set them (each default lives in one place).
func defaultConfig() Config {
	eng := delivery.Config{}.WithDefaults()
	ret := maintenance.RetentionConfig{}.WithDefaults()
	return Config{
		Addr:          "127.0.0.1:8080",
		DB:            "sqlite:webhookd.db",
		LogLevel:      "info",
		ShutdownGrace: 15 * time.Second,

		RetryWindow:  delivery.DefaultRetryWindow,
		Workers:      eng.Workers,
		PerDestLimit: eng.PerDestinationLimit,
		Timeout:      eng.Timeout,
		DisableAfter: eng.DisableAfter,

		Retention:       ret.Succeeded,
		FailedRetention: ret.Failed,
	}
}

// retention is the retention the configuration asks for.
func (c *Config) retention() maintenance.RetentionConfig {
	return maintenance.RetentionConfig{Succeeded: c.Retention, Failed: c.FailedRetention}
}

// envLookup is os.LookupEnv; tests replace it.
var envLookup = os.LookupEnv

// fromEnv overlays the WEBHOOKD_* environment on c.
func (c *Config) fromEnv() error {
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := envLookup(name); ok && v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v, ok := envLookup(name); ok && v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				return
			}
			*dst = d
		}
	}
	num := func(name string, dst *int) {
		if v, ok := envLookup(name); ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				return
			}
			*dst = n
		}
	}
	str("WEBHOOKD_ADDR", &c.Addr)
	str("WEBHOOKD_DB", &c.DB)
	str("WEBHOOKD_API_KEY", &c.APIKey)
	str("WEBHOOKD_ADMIN_KEY", &c.AdminKey)
	if v, ok := envLookup("WEBHOOKD_DEV"); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOKD_DEV: want 1 or 0, got %q", v))
		}
		c.Dev = b
	}
	str("WEBHOOKD_MASTER_KEY", &c.MasterKey)
	str("WEBHOOKD_MASTER_KEY_FILE", &c.MasterKeyFile)
	str("WEBHOOKD_PUBLIC_URL", &c.PublicURL)
	str("WEBHOOKD_PATH_PREFIX", &c.PathPrefix)
	str("WEBHOOKD_LOG_FORMAT", &c.LogFormat)
	str("WEBHOOKD_LOG_LEVEL", &c.LogLevel)
	if v, ok := envLookup("WEBHOOKD_EVENT_TYPES"); ok {
		c.EventTypes = splitList(v)
	}
	if v, ok := envLookup("WEBHOOKD_ALLOW_DESTINATIONS"); ok {
		p, err := parsePrefixes(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOKD_ALLOW_DESTINATIONS: %w", err))
		}
		c.AllowDest = p
	}
	str("WEBHOOKD_RETRY_SCHEDULE", &c.RetrySchedule)
	dur("WEBHOOKD_RETRY_WINDOW", &c.RetryWindow)
	num("WEBHOOKD_WORKERS", &c.Workers)
	num("WEBHOOKD_PER_DESTINATION_LIMIT", &c.PerDestLimit)
	dur("WEBHOOKD_DELIVERY_TIMEOUT", &c.Timeout)
	dur("WEBHOOKD_LEASE", &c.Lease)
	dur("WEBHOOKD_CIRCUIT_OPEN_FOR", &c.CircuitOpen)
	num("WEBHOOKD_CIRCUIT_FAILURES", &c.CircuitFails)
	dur("WEBHOOKD_DISABLE_AFTER", &c.DisableAfter)
	dur("WEBHOOKD_SHUTDOWN_GRACE", &c.ShutdownGrace)
	dur("WEBHOOKD_SIM_JOB_DURATION", &c.SimJob)
	dur("WEBHOOKD_BATCH_EXPIRY", &c.BatchExpiry)
	dur("WEBHOOKD_RESULT_FILE_RETENTION", &c.OutputKeep)
	if v, ok := envLookup("WEBHOOKD_RESULT_FILE_RETENTION"); ok && strings.TrimSpace(v) == "0" {
		c.OutputKeep = lro.KeepOutputs
	}
	if v, ok := envLookup("WEBHOOKD_FILE_QUOTA"); ok && strings.TrimSpace(v) != "" {
		n, err := parseBytes(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("WEBHOOKD_FILE_QUOTA: %w", err))
		case n == 0:
			c.FileQuota = lro.NoFileQuota
		default:
			c.FileQuota = n
		}
	}
	dur("WEBHOOKD_RETENTION", &c.Retention)
	dur("WEBHOOKD_FAILED_RETENTION", &c.FailedRetention)
	return errors.Join(errs...)
}

// bindFlags registers the flags that override the environment.
func (c *Config) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (WEBHOOKD_ADDR)")
	fs.StringVar(&c.DB, "db", c.DB, "database: sqlite:PATH or postgres://URL (WEBHOOKD_DB)")
	fs.BoolVar(&c.Dev, "dev", c.Dev, "development mode: http and private destinations allowed, text logs (WEBHOOKD_DEV=1)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "public base URL: JWT issuer and download links (WEBHOOKD_PUBLIC_URL)")
	fs.StringVar(&c.PathPrefix, "path-prefix", c.PathPrefix, "optional path prefix before /v1 (WEBHOOKD_PATH_PREFIX)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (WEBHOOKD_LOG_LEVEL)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "concurrent delivery attempts (WEBHOOKD_WORKERS)")
}

func (c *Config) validate() error {
	var errs []error
	if c.OutputKeep < 0 && c.OutputKeep != lro.KeepOutputs {
		errs = append(errs, fmt.Errorf("WEBHOOKD_RESULT_FILE_RETENTION must be positive, or 0 to keep job outputs, got %v", c.OutputKeep))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("listen address is empty (WEBHOOKD_ADDR)"))
	}
	if _, _, err := parseDB(c.DB); err != nil {
		errs = append(errs, err)
	}
	if c.APIKey != "" {
		if err := webhookd.ValidateAPIKey(c.APIKey); err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOKD_API_KEY: %w", err))
		}
	}
	if c.AdminKey != "" {
		if err := webhookd.ValidateAPIKey(c.AdminKey); err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOKD_ADMIN_KEY: %w", err))
		}
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers must be at least 1, got %d", c.Workers))
	}
	if c.PerDestLimit < 1 {
		errs = append(errs, fmt.Errorf("per-destination limit must be at least 1, got %d", c.PerDestLimit))
	}
	if c.Timeout <= 0 || c.RetryWindow <= 0 || c.DisableAfter <= 0 {
		errs = append(errs, errors.New("delivery timeout, retry window and disable-after must be positive"))
	}
	if c.PathPrefix != "" && (!strings.HasPrefix(c.PathPrefix, "/") || strings.HasSuffix(c.PathPrefix, "/")) {
		errs = append(errs, fmt.Errorf("path prefix must start with / and not end with one, got %q", c.PathPrefix))
	}
	if c.LogFormat != "" && c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("log format must be json or text, got %q", c.LogFormat))
	}
	if err := c.retention().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("WEBHOOKD_RETENTION, WEBHOOKD_FAILED_RETENTION: %w", err))
	}
	return errors.Join(errs...)
}

// masterKeyFile is where the master key lives when it is not given in the
// environment: beside the SQLite file, or in the working directory.
func (c *Config) masterKeyFile() string {
	if c.MasterKeyFile != "" {
		return c.MasterKeyFile
	}
	if kind, path, err := parseDB(c.DB); err == nil && kind == "sqlite" {
		return filepath.Join(filepath.Dir(path), filepath.Base(path)+".key")
	}
	return "webhookd.key"
}

// parseDB splits WEBHOOKD_DB into its engine and location.
func parseDB(db string) (kind, location string, err error) {
	switch {
	case strings.HasPrefix(db, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(db, "sqlite:"), "//")
		if p == "" {
			return "", "", errors.New("WEBHOOKD_DB: sqlite: needs a file path, e.g. sqlite:webhookd.db")
		}
		return "sqlite", p, nil
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return "postgres", db, nil
	}
	return "", "", fmt.Errorf("WEBHOOKD_DB must be sqlite:PATH or a postgres:// URL, got %q", db)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range splitList(s) {
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pr, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}

// parseBytes reads a size: a number of bytes, or a number with KiB, MiB, GiB
// or TiB after it ("512MiB", "1.5 GiB").
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num, mult := s, 1.0
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if strings.HasSuffix(s, unit) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, unit)), float64(int64(1)<<(10*(i+1)))
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mult > 1<<62 {
		return 0, fmt.Errorf("want a size such as 1073741824, 512MiB or 1GiB, got %q", s)
	}
	return int64(f * mult), nil
}
