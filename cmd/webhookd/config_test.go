package main

import (
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/lro"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"WEBHOOKD_ADDR":                  "127.0.0.1:9999",
		"WEBHOOKD_DB":                    "postgres://u@h/db",
		"WEBHOOKD_DEV":                   "1",
		"WEBHOOKD_EVENT_TYPES":           "order.paid, order.shipped,",
		"WEBHOOKD_ALLOW_DESTINATIONS":    "10.1.2.0/24, 192.168.1.7",
		"WEBHOOKD_RETRY_WINDOW":          "1h",
		"WEBHOOKD_WORKERS":               "8",
		"WEBHOOKD_SIM_JOB_DURATION":      "250ms",
		"WEBHOOKD_PER_DESTINATION_LIMIT": "2",
	}
	old := envLookup
	envLookup = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	t.Cleanup(func() { envLookup = old })

	c := defaultConfig()
	if err := c.fromEnv(); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9999" || !c.Dev || c.Workers != 8 || c.PerDestLimit != 2 || c.RetryWindow != time.Hour || c.SimJob != 250*time.Millisecond {
		t.Fatalf("config %+v", c)
	}
	if strings.Join(c.EventTypes, "|") != "order.paid|order.shipped" {
		t.Fatalf("event types %q", c.EventTypes)
	}
	if len(c.AllowDest) != 2 || c.AllowDest[1].String() != "192.168.1.7/32" {
		t.Fatalf("allow-list %v", c.AllowDest)
	}
	if c.masterKeyFile() != "webhookd.key" {
		t.Fatalf("postgres master key file %q", c.masterKeyFile())
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"WEBHOOKD_DEV", "yes please", "WEBHOOKD_DEV"},
		{"WEBHOOKD_RETRY_WINDOW", "a day", "WEBHOOKD_RETRY_WINDOW"},
		{"WEBHOOKD_WORKERS", "many", "WEBHOOKD_WORKERS"},
		{"WEBHOOKD_ALLOW_DESTINATIONS", "10.0.0.0/99", "WEBHOOKD_ALLOW_DESTINATIONS"},
		{"WEBHOOKD_DB", "mysql://x", "WEBHOOKD_DB"},
		{"WEBHOOKD_PATH_PREFIX", "gemini/", "path prefix"},
		{"WEBHOOKD_FILE_QUOTA", "lots", "WEBHOOKD_FILE_QUOTA: want a size such as 1073741824, 512MiB or 1GiB"},
		{"WEBHOOKD_RESULT_FILE_RETENTION", "a week", "WEBHOOKD_RESULT_FILE_RETENTION"},
		{"WEBHOOKD_RESULT_FILE_RETENTION", "-24h", "WEBHOOKD_RESULT_FILE_RETENTION must be positive"},
		{"WEBHOOKD_FAILED_RETENTION", "1h", "WEBHOOKD_FAILED_RETENTION"},
		{"WEBHOOKD_RETENTION", "-1h", "WEBHOOKD_RETENTION"},
		{"WEBHOOKD_API_KEY", "demo-key", "WEBHOOKD_API_KEY: an API key must be at least 20 characters long, this one has 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := envLookup
			envLookup = func(k string) (string, bool) {
				if k == tc.name {
					return tc.value, true
				}
				return "", false
			}
			defer func() { envLookup = old }()
			c := defaultConfig()
			err := c.fromEnv()
			if err == nil {
				err = c.validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s=%q: error %v, want one naming %s", tc.name, tc.value, err, tc.want)
			}
		})
	}
}

func TestMasterKeyFileBesideTheDatabase(t *testing.T) {
	c := defaultConfig()
	c.DB = "sqlite:/var/lib/webhookd/prod.db"
	if got := c.masterKeyFile(); got != "/var/lib/webhookd/prod.db.key" {
		t.Fatalf("master key file %q", got)
	}
}

// TestDefaults: the defaults the README's configuration table documents,
// which come from the packages that apply them (delivery, maintenance).
func TestDefaults(t *testing.T) {
	c := defaultConfig()
	const day = 24 * time.Hour
	if c.Workers != 64 || c.PerDestLimit != 32 || c.Timeout != 10*time.Second || c.DisableAfter != day || c.RetryWindow != day ||
		c.ShutdownGrace != 15*time.Second || c.Retention != 30*day || c.FailedRetention != 90*day {
		t.Errorf("defaults %+v differ from the README's", c)
	}
	if err := c.validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func TestFileQuotaFromEnv(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int64
	}{
		{"", 0}, // lro's default
		{"0", lro.NoFileQuota},
		{"1048576", 1 << 20},
		{"512MiB", 512 << 20},
		{"1.5 GiB", 3 << 29},
		{"2TiB", 2 << 40},
	} {
		old := envLookup
		envLookup = func(k string) (string, bool) {
			if k == "WEBHOOKD_FILE_QUOTA" {
				return tc.value, true
			}
			return "", false
		}
		c := defaultConfig()
		err := c.fromEnv()
		envLookup = old
		if err != nil || c.FileQuota != tc.want {
			t.Errorf("WEBHOOKD_FILE_QUOTA=%q: quota %d, %v; want %d", tc.value, c.FileQuota, err, tc.want)
		}
	}
}

func TestResultFileRetentionFromEnv(t *testing.T) {
	for value, want := range map[string]time.Duration{"": 0, "0": lro.KeepOutputs, "168h": 7 * 24 * time.Hour} {
		old := envLookup
		envLookup = func(k string) (string, bool) {
			if k == "WEBHOOKD_RESULT_FILE_RETENTION" {
				return value, true
			}
			return "", false
		}
		c := defaultConfig()
		err := c.fromEnv()
		envLookup = old
		if err == nil {
			err = c.validate()
		}
		if err != nil || c.OutputKeep != want {
			t.Errorf("WEBHOOKD_RESULT_FILE_RETENTION=%q: %v, %v; want %v", value, c.OutputKeep, err, want)
		}
	}
}
