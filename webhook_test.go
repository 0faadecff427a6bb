package webhookd

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestValidateURI(t *testing.T) {
	prod, dev := URIPolicy{}, URIPolicy{AllowHTTP: true}
	// guarded stands in for netguard's check (the root package imports no
	// other package of the module, so its tests do not either).
	guarded := URIPolicy{CheckAddr: func(a netip.Addr) error {
		if a = a.Unmap(); a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
			return errors.New("refused")
		}
		return nil
	}}
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

		// IP literals are judged by the dial guard's check; host names are
		// left to it at dial time.
		{"metadata literal", guarded, "https://169.254.169.254/latest/meta-data", "uri is not an allowed destination"},
		{"loopback literal", guarded, "https://127.0.0.1", "uri is not an allowed destination"},
		{"ULA literal", guarded, "https://[fd00::1]/hook", "uri is not an allowed destination"},
		{"mapped loopback literal", guarded, "https://[::ffff:127.0.0.1]:8443/", "uri is not an allowed destination"},
		{"link-local literal with a zone", guarded, "https://[fe80::1%25eth0]/", "uri is not an allowed destination"},
		{"public literal", guarded, "https://8.8.8.8/hook", ""},
		{"host name", guarded, "https://internal.corp.example/hook", ""},
		{"no check, no refusal", prod, "https://127.0.0.1/hook", ""},
		{"the refusal does not say why", guarded, "https://10.0.0.1/", "uri is not an allowed destination."},
		{"decimal address", prod, "https://2130706433/", `uri host "2130706433" is neither a host name nor an IP address in standard notation.`},
		{"hex address", prod, "https://0x7f000001/", "is neither a host name nor an IP address"},
		{"short dotted address", prod, "https://127.1/", "is neither a host name nor an IP address"},
		{"leading zeros", prod, "https://0177.0.0.1/", "is neither a host name nor an IP address"},
		{"numeric last label", prod, "https://hooks.123./", "is neither a host name nor an IP address"},
		{"digits inside a name", prod, "https://1e100.net/hook", ""},
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

func TestValidateHeaders(t *testing.T) {
	many := map[string]string{}
	for i := range MaxHeaders + 1 {
		many["X-H"+strings.Repeat("a", i)] = "v"
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    string // "" for accepted, else part of the message
	}{
		{"none", nil, ""},
		{"api key", map[string]string{"X-Api-Key": "abc", "Authorization": "Bearer x y"}, ""},
		{"user agent is the user's", map[string]string{"User-Agent": "mine"}, ""},
		{"tab in value", map[string]string{"X-A": "a\tb"}, ""},
		{"webhook prefix", map[string]string{"Webhook-Signature": "v1,x"}, `"Webhook-Signature" is set by the service`},
		{"webhook prefix any case", map[string]string{"WEBHOOK-ID": "x"}, `"WEBHOOK-ID" is set by the service`},
		{"content type", map[string]string{"content-type": "text/plain"}, "reserved: webhook-*"},
		{"content length", map[string]string{"Content-Length": "1"}, "cannot be a custom header"},
		{"host", map[string]string{"Host": "a"}, "cannot be a custom header"},
		{"connection", map[string]string{"Connection": "close"}, "cannot be a custom header"},
		{"keep alive", map[string]string{"Keep-Alive": "1"}, "cannot be a custom header"},
		{"proxy prefix", map[string]string{"Proxy-Authorization": "x"}, "cannot be a custom header"},
		{"te", map[string]string{"TE": "trailers"}, "cannot be a custom header"},
		{"trailer", map[string]string{"Trailer": "x"}, "cannot be a custom header"},
		{"transfer encoding", map[string]string{"Transfer-Encoding": "chunked"}, "cannot be a custom header"},
		{"upgrade", map[string]string{"Upgrade": "h2c"}, "cannot be a custom header"},
		{"empty name", map[string]string{"": "x"}, "is not a valid HTTP header name"},
		{"space in name", map[string]string{"X Api": "x"}, "is not a valid HTTP header name"},
		{"colon in name", map[string]string{"X-A:": "x"}, "is not a valid HTTP header name"},
		{"newline in value", map[string]string{"X-A": "a\r\nX-Injected: 1"}, "must not contain control characters"},
		{"same name twice", map[string]string{"X-Api-Key": "a", "x-api-key": "b"}, "are the same header"},
		{"too many", many, "at most 20 entries"},
		{"too large", map[string]string{"X-A": strings.Repeat("v", MaxHeaderBytes)}, "at most 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateHeaders("headers", tc.headers)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("ValidateHeaders = %v, want accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("ValidateHeaders = %v, want an error containing %q", err, tc.want)
			case err != nil && ErrorCode(err) != EINVALID:
				t.Fatalf("code = %s, want %s", ErrorCode(err), EINVALID)
			}
		})
	}
}
