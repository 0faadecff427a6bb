package lro_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/lro"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := []struct {
		name    string
		env     map[string]string
		want    lro.Config
		wantErr string
	}{
		{name: "defaults", want: lro.Config{SimJobDuration: 3 * time.Second, BatchExpiry: 24 * time.Hour, PublicBaseURL: "http://localhost:8080", FileQuota: lro.DefaultFileQuota, OutputRetention: lro.DefaultOutputRetention}},
		{name: "both set", env: map[string]string{"WEBHOOKD_SIM_JOB_DURATION": "250ms", "WEBHOOKD_BATCH_EXPIRY": " 2h "},
			want: lro.Config{SimJobDuration: 250 * time.Millisecond, BatchExpiry: 2 * time.Hour, PublicBaseURL: "http://localhost:8080", FileQuota: lro.DefaultFileQuota, OutputRetention: lro.DefaultOutputRetention}},
		{name: "bad duration", env: map[string]string{"WEBHOOKD_BATCH_EXPIRY": "24"}, wantErr: "WEBHOOKD_BATCH_EXPIRY"},
		{name: "negative job", env: map[string]string{"WEBHOOKD_SIM_JOB_DURATION": "-1s"}, wantErr: "WEBHOOKD_SIM_JOB_DURATION"},
		{name: "negative expiry", env: map[string]string{"WEBHOOKD_BATCH_EXPIRY": "-1s"}, wantErr: "WEBHOOKD_BATCH_EXPIRY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := lro.ConfigFromEnv(lro.Config{}, env(tt.env))
			var m *lro.Machine
			if err == nil {
				m, err = lro.New(cfg)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Config(); !reflect.DeepEqual(got, tt.want) { // URIPolicy has a func field: no ==
				t.Fatalf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := lro.New(lro.Config{PublicBaseURL: "ftp://x"}); err == nil {
		t.Error("New accepted a non-http base URL")
	}
	m, err := lro.New(lro.Config{PublicBaseURL: "https://h.example/prefix/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.DownloadURL("file_1"), "https://h.example/prefix/v1/files/file_1:download?alt=media"; got != want {
		t.Errorf("DownloadURL = %s, want %s", got, want)
	}
}

func TestEcho(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b c"}, "a\nb c"},
	} {
		if got := lro.Echo(tt.in); got != tt.want {
			t.Errorf("Echo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
