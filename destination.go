package webhookd

import (
	"net"
	"net/url"
	"strings"
)

// DestinationOf names the destination a URI is sent to: scheme, host and
// port (the scheme's default when the URI has none). It is the unit that
// the delivery engine's keep-alive pools, in-flight caps and circuit
// breakers share, and the unit of the console's destination health.
func DestinationOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return uri // the sender fails it; any name will do
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
