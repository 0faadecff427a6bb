package webhookd

import (
	"strings"
	"testing"
)

func TestAPIKeyVisiblePrefix(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"whd_jorwknpce3ty5nlz7yjiwwy6fgbdhyq5", "whd_jorw"},
		{"demo-key", "demo"},
		{"sdk-suite-key-0123456789", "sdk-"},
		{"whd_", "whd_"},
		{"abc", "abc"},
		{"", ""},
		{"ключ-длинный-очень-длинный", "ключ"}, // characters, not bytes
	} {
		if got := APIKeyVisiblePrefix(tc.key); got != tc.want {
			t.Errorf("APIKeyVisiblePrefix(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestAPIKeyRecordNeverHoldsTheKey: the stored record of any key, generated
// or chosen, keeps at most 4 characters after whd_.
func TestAPIKeyRecordNeverHoldsTheKey(t *testing.T) {
	key, rec := GenerateAPIKey("prj_x", "n", SystemClock{})
	if rec.Prefix != key[:8] || strings.Contains(rec.Prefix, key[8:12]) {
		t.Fatalf("generated key %q stored with prefix %q", key, rec.Prefix)
	}
	for _, key := range []string{"demo-key", "a-key-of-twenty-chars"} {
		rec := NewAPIKeyRecord("prj_x", "n", key, SystemClock{})
		if len(rec.Prefix) > 4 || rec.Prefix == key {
			t.Errorf("key %q stored with prefix %q", key, rec.Prefix)
		}
	}
}

func TestValidateAPIKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"":                                     false,
		"demo-key":                             false,
		"nineteen-characters":                  false,
		"twenty--characters!!":                 true,
		"whd_jorwknpce3ty5nlz7yjiwwy6fgbdhyq5": true,
	} {
		err := ValidateAPIKey(key)
		if (err == nil) != ok {
			t.Errorf("ValidateAPIKey(%q) = %v, want ok=%v", key, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "at least 20 characters") {
			t.Errorf("ValidateAPIKey(%q): %v does not say how long a key must be", key, err)
		}
	}
}
