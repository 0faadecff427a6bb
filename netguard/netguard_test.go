package netguard_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/webhookd/webhookd/netguard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want netguard.Class
	}{
		{"0.0.0.0", netguard.Unspecified},
		{"0.1.2.3", netguard.Unspecified},
		{"::", netguard.Unspecified},
		{"127.0.0.1", netguard.Loopback},
		{"127.255.255.254", netguard.Loopback},
		{"::1", netguard.Loopback},
		{"::ffff:127.0.0.1", netguard.Loopback},
		{"10.0.0.1", netguard.Private},
		{"172.16.0.1", netguard.Private},
		{"172.31.255.255", netguard.Private},
		{"192.168.1.1", netguard.Private},
		{"::ffff:10.1.2.3", netguard.Private},
		{"::ffff:192.168.0.1", netguard.Private},
		{"fc00::1", netguard.Private},
		{"fd12:3456::1", netguard.Private},
		{"fec0::1", netguard.Private},
		{"64:ff9b:1::a00:1", netguard.Private},
		{"100.64.0.1", netguard.SharedCGNAT},
		{"100.127.255.255", netguard.SharedCGNAT},
		{"::ffff:100.64.0.1", netguard.SharedCGNAT},
		{"169.254.0.1", netguard.LinkLocal},
		{"fe80::1", netguard.LinkLocal},
		{"fe80::1%eth0", netguard.LinkLocal},
		{"169.254.169.254", netguard.Metadata},
		{"::ffff:169.254.169.254", netguard.Metadata},
		{"64:ff9b::a9fe:a9fe", netguard.Metadata}, // NAT64 of 169.254.169.254
		{"fd00:ec2::254", netguard.Metadata},
		{"224.0.0.1", netguard.Multicast},
		{"239.255.255.250", netguard.Multicast},
		{"ff02::1", netguard.Multicast},
		{"ff05::1:3", netguard.Multicast},
		{"::ffff:224.0.0.251", netguard.Multicast},
		{"255.255.255.255", netguard.Broadcast},
		{"192.0.2.1", netguard.Documentation},
		{"198.51.100.7", netguard.Documentation},
		{"203.0.113.9", netguard.Documentation},
		{"2001:db8::1", netguard.Documentation},
		{"3fff::1", netguard.Documentation},
		{"198.18.0.1", netguard.Benchmarking},
		{"198.19.255.255", netguard.Benchmarking},
		{"2001:2::1", netguard.Benchmarking},
		{"192.0.0.8", netguard.Reserved},
		{"192.88.99.1", netguard.Reserved},
		{"240.0.0.1", netguard.Reserved},
		{"2001::1", netguard.Reserved},            // Teredo
		{"2002:7f00:1::1", netguard.Reserved},     // 6to4 of 127.0.0.1
		{"::127.0.0.1", netguard.Reserved},        // IPv4-compatible, deprecated
		{"100::1", netguard.Reserved},             // discard-only
		{"5f00::1", netguard.Reserved},            // outside 2000::/3
		{"64:ff9b::7f00:1", netguard.Loopback},    // NAT64 of 127.0.0.1
		{"8.8.8.8", netguard.Public},              // classified only; never dialled
		{"1.1.1.1", netguard.Public},              //
		{"100.63.255.255", netguard.Public},       // just below CGNAT
		{"100.128.0.0", netguard.Public},          // just above CGNAT
		{"172.15.255.255", netguard.Public},       // just below 172.16/12
		{"172.32.0.0", netguard.Public},           // just above 172.16/12
		{"::ffff:8.8.8.8", netguard.Public},       //
		{"64:ff9b::808:808", netguard.Public},     // NAT64 of 8.8.8.8
		{"2606:4700:4700::1111", netguard.Public}, //
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			if got := netguard.Classify(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Classify(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
	if got := netguard.Classify(netip.Addr{}); got != netguard.Reserved {
		t.Errorf("Classify(zero Addr) = %q, want %q", got, netguard.Reserved)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	allow := []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("fd00:1::/32"), netip.MustParsePrefix("::ffff:192.168.7.0/120")}
	tests := []struct {
		name    string
		opts    netguard.Options
		addr    string
		refused bool
	}{
		{"public allowed", netguard.Options{}, "8.8.8.8", false},
		{"loopback refused", netguard.Options{}, "127.0.0.1", true},
		{"private refused", netguard.Options{}, "10.20.1.1", true},
		{"dev mode allows loopback", netguard.Options{AllowPrivate: true}, "127.0.0.1", false},
		{"dev mode allows metadata", netguard.Options{AllowPrivate: true}, "169.254.169.254", false},
		{"allow-listed v4", netguard.Options{Allow: allow}, "10.20.1.1", false},
		{"allow-listed v4, mapped form", netguard.Options{Allow: allow}, "::ffff:10.20.1.1", false},
		{"allow-listed via mapped prefix", netguard.Options{Allow: allow}, "192.168.7.9", false},
		{"outside the allow-list", netguard.Options{Allow: allow}, "10.21.0.1", true},
		{"allow-listed v6", netguard.Options{Allow: allow}, "fd00:1::5", false},
		{"v6 outside the allow-list", netguard.Options{Allow: allow}, "fd00:2::5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := netguard.New(tt.opts).Check(netip.MustParseAddr(tt.addr))
			var refused *netguard.RefusedError
			if got := errors.As(err, &refused); got != tt.refused {
				t.Fatalf("Check(%s) = %v, want refused=%v", tt.addr, err, tt.refused)
			}
		})
	}
}

func TestRefusedErrorWording(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, want string }{
		{"127.0.0.1", "destination 127.0.0.1 is a loopback address; refused (set WEBHOOKD_DEV=1 or allow-list it)"},
		{"169.254.169.254", "destination 169.254.169.254 is a cloud metadata address; refused (set WEBHOOKD_DEV=1 or allow-list it)"},
		{"100.64.1.1", "destination 100.64.1.1 is a carrier-grade NAT (100.64.0.0/10) address; refused (set WEBHOOKD_DEV=1 or allow-list it)"},
	}
	for _, tt := range tests {
		err := netguard.New(netguard.Options{}).Check(netip.MustParseAddr(tt.addr))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Check(%s) = %v, want %q", tt.addr, err, tt.want)
		}
	}
}

// errTripwire is returned by a Control that runs after the guard's: if the
// guard ever allowed an address it should refuse, the dial still stops there,
// so these tests send nothing to non-loopback addresses whatever happens.
var errTripwire = errors.New("tripwire: the guard allowed this address")

func trippedDialer(g *netguard.Guard) *net.Dialer {
	d := g.Dialer(&net.Dialer{Timeout: 2 * time.Second})
	guarded := d.ControlContext
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := guarded(ctx, network, address, c); err != nil {
			return err
		}
		return errTripwire
	}
	return d
}

func TestDialRefusesBeforeConnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr  string
		class netguard.Class
	}{
		{"10.1.2.3:443", netguard.Private},
		{"192.168.0.1:443", netguard.Private},
		{"172.16.5.4:443", netguard.Private},
		{"169.254.169.254:80", netguard.Metadata},
		{"100.64.0.1:443", netguard.SharedCGNAT},
		{"0.0.0.0:443", netguard.Unspecified},
		{"224.0.0.1:443", netguard.Multicast},
		{"[::ffff:10.1.2.3]:443", netguard.Private},
		{"[fd00::1]:443", netguard.Private},
		{"[fe80::1]:443", netguard.LinkLocal},
		{"[ff02::1]:443", netguard.Multicast},
	}
	g := netguard.New(netguard.Options{})
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			_, err := trippedDialer(g).DialContext(t.Context(), "tcp", tt.addr)
			if errors.Is(err, errTripwire) {
				t.Fatalf("guard allowed %s", tt.addr)
			}
			var refused *netguard.RefusedError
			if errors.As(err, &refused) {
				if refused.Class != tt.class {
					t.Errorf("class = %q, want %q", refused.Class, tt.class)
				}
				return
			}
			// Some sandboxes have no IPv6 route at all: socket creation or
			// the route lookup can fail before Control runs. That is still
			// "nothing was sent", but it proves nothing about the guard.
			if strings.Contains(tt.addr, "[") && isNoIPv6(err) {
				t.Skipf("no IPv6 here: %v", err)
			}
			t.Fatalf("dial %s: %v, want a *RefusedError", tt.addr, err)
		})
	}
}

func isNoIPv6(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EPROTONOSUPPORT)
}

// TestLoopbackDial dials a real loopback listener: refused by default (both
// by address and by a hostname that resolves to it), connected when allowed.
// The listener proves that the refused dials never connected: the first
// connection it accepts is the allowed one, which writes a marker.
func TestLoopbackDial(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	refuse := netguard.New(netguard.Options{})
	for _, host := range []string{"127.0.0.1", "localhost"} {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		_, err := refuse.DialContext(t.Context(), "tcp", addr)
		var refused *netguard.RefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("dial %s: %v, want a *RefusedError", addr, err)
		}
		if refused.Class != netguard.Loopback {
			t.Errorf("dial %s: class %q, want loopback", addr, refused.Class)
		}
		if !strings.Contains(err.Error(), "is a loopback address; refused") {
			t.Errorf("dial %s: error %q does not say why", addr, err)
		}
	}

	for _, opts := range []netguard.Options{
		{AllowPrivate: true},
		{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	} {
		conn, err := netguard.New(opts).DialContext(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial with %+v: %v", opts, err)
		}
		if _, err := conn.Write([]byte("m")); err != nil {
			t.Fatal(err)
		}
		accepted, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if _, err := io.ReadFull(accepted, b[:]); err != nil || b[0] != 'm' {
			t.Fatalf("first accepted connection is not the allowed one (read %q, %v): a refused dial connected", b, err)
		}
		accepted.Close()
		conn.Close()
	}
}

// TestHTTPTransport checks the guard where it is used: an http.Transport's
// DialContext. The refused request never reaches the handler.
func TestHTTPTransport(t *testing.T) {
	t.Parallel()
	reached := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
	}))
	t.Cleanup(srv.Close)

	get := func(g *netguard.Guard, url string) error {
		tr := &http.Transport{DialContext: g.DialContext}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}

	localhostURL := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{srv.URL, localhostURL} {
		err := get(netguard.New(netguard.Options{}), u)
		var refused *netguard.RefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("GET %s: %v, want a *RefusedError", u, err)
		}
	}
	select {
	case <-reached:
		t.Fatal("a refused request reached the handler")
	default:
	}
	if err := get(netguard.New(netguard.Options{AllowPrivate: true}), srv.URL); err != nil {
		t.Fatalf("GET in dev mode: %v", err)
	}
	<-reached
}

func TestDialerKeepsBaseControl(t *testing.T) {
	t.Parallel()
	errBase := errors.New("base control ran")
	base := &net.Dialer{Control: func(string, string, syscall.RawConn) error { return errBase }}
	_, err := netguard.New(netguard.Options{AllowPrivate: true}).Dialer(base).DialContext(t.Context(), "tcp", "127.0.0.1:1")
	if !errors.Is(err, errBase) {
		t.Fatalf("dial = %v, want the base Control's error", err)
	}
}
