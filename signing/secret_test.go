package signing_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/signing"
)

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	a, b := signing.GenerateSecret(), signing.GenerateSecret()
	if a == b {
		t.Fatal("two generated secrets are equal")
	}
	for _, s := range []string{a, b} {
		if !strings.HasPrefix(s, signing.SecretPrefix) {
			t.Fatalf("%q lacks the %s prefix", signing.TruncateSecret(s), signing.SecretPrefix)
		}
		key, err := signing.ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != 32 {
			t.Fatalf("key is %d bytes, want 32", len(key))
		}
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secret  string
		wantLen int
		wantErr bool
	}{
		{name: "whsec 32 bytes", secret: "whsec_Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg=", wantLen: 32},
		{name: "without prefix, as the official libraries accept", secret: "Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg=", wantLen: 32},
		{name: "spec example (24 bytes)", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", wantLen: 24},
		{name: "empty", secret: "", wantErr: true},
		{name: "prefix only", secret: "whsec_", wantErr: true},
		{name: "not base64", secret: "whsec_not*base64!", wantErr: true},
		{name: "url-safe alphabet", secret: "whsec_-_-_", wantErr: true},
		{name: "missing padding", secret: "whsec_Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := signing.ParseSecret(tt.secret)
			if tt.wantErr {
				if !errors.Is(err, signing.ErrBadSecret) {
					t.Fatalf("err = %v, want ErrBadSecret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(key) != tt.wantLen {
				t.Fatalf("key is %d bytes, want %d", len(key), tt.wantLen)
			}
		})
	}
}

func TestTruncateSecret(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"whsec_Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg=", "whsec_Yb7b..."},
		{"whsec_Yb7b", "whsec_Yb7b"},
		{"whsec_Yb7bX", "whsec_Yb7b..."},
		{"", ""},
	}
	for _, tt := range tests {
		if got := signing.TruncateSecret(tt.in); got != tt.want {
			t.Errorf("TruncateSecret(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseSecret(f *testing.F) {
	f.Add("whsec_Yb7bbVSmH4vYMy1SAmKQS9QY8IhGSzvs8mwPXefMHfg=")
	f.Add("whsec_")
	f.Add("whsec_=")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := signing.ParseSecret(s)
		if err != nil {
			if !errors.Is(err, signing.ErrBadSecret) {
				t.Fatalf("error %v does not wrap ErrBadSecret", err)
			}
			return
		}
		if len(key) == 0 {
			t.Fatal("accepted an empty key")
		}
		// Accepted secrets round-trip through SignHMAC without panicking.
		_ = signing.SignHMAC([][]byte{key}, "msg", 1, []byte(s))
	})
}
