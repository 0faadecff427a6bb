// Package lro is the long-running operations of webhookd — batches,
// background interactions and video generation — and the deterministic
// simulator that runs them, so that every event of the catalog has a real
// source.
//
// The package is pure domain logic, independent of storage and HTTP; it
// speaks domain types, and package api owns the wire (decoding requests
// into BatchRequest, InteractionRequest, VideoRequest and UploadStart, and
// rendering what lro answers):
//
//   - state machines as functions of (operation, input, now) that return a
//     webhookd.OperationChange: the new operation, the files it produced
//     and exactly the catalog events its change emits, which a store commits
//     in one transaction (the outbox);
//   - what an operation holds once it ran (BatchOf, InteractionOf, VideoOf);
//   - the Runner seam and the Simulator behind it (an echo model), and the
//     Driver that claims due operations and commits each step;
//   - Service, the use cases the API handlers call (create, get, list,
//     cancel, delete of batches, interactions, videos and files);
//   - package lrotest: the conformance suite of webhookd.OperationStore and
//     an in-memory reference store.
//
// Timing: a batch waits one step in PENDING and one SimJobDuration in
// RUNNING; a background interaction likewise in queued and in_progress; a
// video runs for SimJobDuration. A batch not finished BatchExpiry after its
// creation expires (the runner is woken at the deadline).
//
// Event data ids: data.id is the resource id as it appears in its path —
// the batch id after "batches/", the interaction id, the video operation id
// after "operations/" — and data.file_id likewise the id after "files/".
package lro

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/tracing"
)

// Defaults of Config.
const (
	DefaultSimJobDuration = 3 * time.Second
	DefaultBatchExpiry    = 24 * time.Hour
	// DefaultFileQuota is what a project may store in files: room for
	// sixteen of the largest files, in a database that holds them.
	DefaultFileQuota = 1 << 30
	// DefaultOutputRetention is how long a job's output files are kept: as
	// long as the events that link to them are (WEBHOOKD_RETENTION's
	// default), so that a delivered output_file_uri resolves while its
	// event can be read.
	DefaultOutputRetention = 30 * 24 * time.Hour
)

// NoFileQuota and KeepOutputs are the Config.FileQuota and
// Config.OutputRetention of a deployment without a quota, and one that
// keeps job outputs until they are deleted.
const (
	NoFileQuota = -1
	KeepOutputs = -1
)

// Environment variables read by ConfigFromEnv.
const (
	EnvSimJobDuration = "WEBHOOKD_SIM_JOB_DURATION"
	EnvBatchExpiry    = "WEBHOOKD_BATCH_EXPIRY"
)

// Config holds the knobs of the operations. The zero value, after
// WithDefaults, is the production default.
type Config struct {
	// SimJobDuration is how long the simulator takes to run one job
	// (WEBHOOKD_SIM_JOB_DURATION). Each job also waits one step in its
	// initial state (PENDING, queued), which takes no time.
	SimJobDuration time.Duration
	// BatchExpiry is how long a batch may take before it expires
	// (WEBHOOKD_BATCH_EXPIRY), counted from its creation.
	BatchExpiry time.Duration
	// PublicBaseURL is the base URL callers reach webhookd at, with any
	// path prefix and without a trailing slash; download URLs of job outputs
	// (output_file_uri, video_uri) are built on it.
	PublicBaseURL string
	// URIPolicy checks the URIs of webhook_config.
	URIPolicy webhookd.URIPolicy
	// FileQuota is how many bytes a project's files and unfinished uploads
	// may hold (WEBHOOKD_FILE_QUOTA; see webhookd.CheckQuota): 0 means
	// DefaultFileQuota, NoFileQuota none.
	FileQuota int64
	// OutputRetention is how long the files a job writes (batch results,
	// videos) are kept (WEBHOOKD_RESULT_FILE_RETENTION): their ExpireTime,
	// after which maintenance deletes them. 0 means DefaultOutputRetention,
	// KeepOutputs forever.
	OutputRetention time.Duration
	// TracerProvider, if set, traces the state changes that the Service
	// commits (a create, a cancel); see DriverConfig for the runner's. nil
	// traces nothing.
	TracerProvider trace.TracerProvider
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.SimJobDuration == 0 {
		c.SimJobDuration = DefaultSimJobDuration
	}
	if c.BatchExpiry == 0 {
		c.BatchExpiry = DefaultBatchExpiry
	}
	if c.PublicBaseURL == "" {
		c.PublicBaseURL = "http://localhost:8080"
	}
	if c.FileQuota == 0 {
		c.FileQuota = DefaultFileQuota
	}
	if c.OutputRetention == 0 {
		c.OutputRetention = DefaultOutputRetention
	}
	c.PublicBaseURL = strings.TrimRight(c.PublicBaseURL, "/")
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.SimJobDuration < 0 {
		return fmt.Errorf("lro: %s must not be negative, got %s", EnvSimJobDuration, c.SimJobDuration)
	}
	if c.BatchExpiry <= 0 {
		return fmt.Errorf("lro: %s must be positive, got %s", EnvBatchExpiry, c.BatchExpiry)
	}
	if !strings.HasPrefix(c.PublicBaseURL, "http://") && !strings.HasPrefix(c.PublicBaseURL, "https://") {
		return fmt.Errorf("lro: public base URL must be an http(s) URL, got %q", c.PublicBaseURL)
	}
	return nil
}

// ConfigFromEnv reads the durations of the operations from the environment
// (Go duration syntax, e.g. "3s", "24h") on top of base.
func ConfigFromEnv(base Config, getenv func(string) string) (Config, error) {
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{
		{EnvSimJobDuration, &base.SimJobDuration},
		{EnvBatchExpiry, &base.BatchExpiry},
	} {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return Config{}, fmt.Errorf("lro: %s: %w", v.name, err)
		}
		*v.dst = d
	}
	return base, nil
}

// Machine holds the configuration the parsers, transitions and renderings
// share. It has no state of its own and is safe for concurrent use.
type Machine struct {
	cfg    Config
	tracer trace.Tracer // nil: tracing off
}

// New returns a Machine for cfg (defaults applied).
func New(cfg Config) (*Machine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Machine{cfg: cfg, tracer: tracing.Tracer(cfg.TracerProvider)}, nil
}

// Config returns the configuration in effect.
func (m *Machine) Config() Config { return m.cfg }

// outputFile is a file a job writes: generated, and expiring after
// OutputRetention.
func (m *Machine) outputFile(projectID, name, mimeType string, content []byte, now time.Time) *webhookd.File {
	f := webhookd.NewFile(projectID, name, mimeType, webhookd.FileGenerated, content, now)
	if m.cfg.OutputRetention > 0 {
		expire := now.Add(m.cfg.OutputRetention)
		f.ExpireTime = &expire
	}
	return f
}

// DownloadURL is where the file with this id (without "files/") is
// downloaded: the Files API's download method, as ai.files.download calls it.
func (m *Machine) DownloadURL(fileID string) string {
	return m.cfg.PublicBaseURL + "/v1/files/" + fileID + ":download?alt=media"
}
