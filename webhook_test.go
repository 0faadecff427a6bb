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
