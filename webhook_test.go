package webhookd

import (
	"strings"
	"testing"
)

func TestValidateURI(t *testing.T) {
	prod, dev := URIPolicy{}, URIPolicy{AllowHTTP: true}
	for _, tc := range []struct {
		name   string
		policy URIPolicy
		uri    string
		want   string // "" for accepted, else part of the message
	}{
		{"https", prod, "https://hooks.example/a", ""},
		{"http outside dev mode", prod, "http://hooks.example/a", "uri must use https."},
		{"http in dev mode", dev, "http://127.0.0.1:8000/a", ""},
		{"ftp outside dev mode", prod, "ftp://hooks.example/a", `uri must use https, got scheme "ftp".`},
		{"ftp in dev mode names both schemes", dev, "ftp://hooks.example/a", `uri must use http or https, got scheme "ftp".`},
		{"empty", prod, "", "uri is required."},
		{"relative", prod, "/hook", "must be an absolute URL"},
		{"user info", prod, "https://u:p@hooks.example/", "must not contain user information"},
		{"fragment", prod, "https://hooks.example/#x", "must not contain a fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.ValidateURI("uri", tc.uri)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("ValidateURI(%q): %v, want nil", tc.uri, err)
			case tc.want != "" && (err == nil || !strings.Contains(ErrorMessage(err), tc.want)):
				t.Fatalf("ValidateURI(%q): %v, want a message containing %q", tc.uri, err, tc.want)
			case err != nil && ErrorCode(err) != EINVALID:
				t.Fatalf("ValidateURI(%q): code %s, want %s", tc.uri, ErrorCode(err), EINVALID)
			}
		})
	}
}
