// Package netguard is the dial-time destination filter of outgoing
// deliveries. A webhook URI is chosen by an API caller, so without a guard the
// service could be made to POST to its own loopback, the private network it
// runs in, or a cloud metadata endpoint (server-side request forgery).
//
// The check runs on the address actually being connected, after DNS
// resolution, from net.Dialer.Control: a hostname that resolves to a private
// address is refused, and DNS rebinding (a name that resolves to a public
// address when the URI is validated and to a private one later) cannot slip
// through, because there is no earlier check to pass. The refusal happens
// before connect(2), so no packet is sent to a refused address.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Options configures a Guard.
type Options struct {
	// AllowPrivate turns the guard off: every address is allowed. It is the
	// local-development setting (WEBHOOKD_DEV=1), for receivers on
	// localhost or a private network.
	AllowPrivate bool
	// Allow lists prefixes that are allowed even though they are special
	// purpose, e.g. the private network of a trusted receiver. IPv4-mapped
	// IPv6 addresses match IPv4 prefixes.
	Allow []netip.Prefix
}

// Guard decides which addresses deliveries may connect to. Its zero value
// refuses every special-purpose address; it is safe for concurrent use.
type Guard struct {
	allowPrivate bool
	allow        []netip.Prefix
}

// New returns a Guard with the given options.
func New(opts Options) *Guard {
	allow := make([]netip.Prefix, 0, len(opts.Allow))
	for _, p := range opts.Allow {
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		allow = append(allow, p)
	}
	return &Guard{allowPrivate: opts.AllowPrivate, allow: allow}
}

// RefusedError is the error of a refused destination. It reaches callers
// wrapped in a *net.OpError (and a *url.Error from an http.Client); find it
// with errors.As.
type RefusedError struct {
	Addr  netip.Addr
	Class Class
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("destination %s is %s; refused (set WEBHOOKD_DEV=1 or allow-list it)", e.Addr, e.Class.phrase())
}

// Check returns a *RefusedError when the guard refuses addr, and nil when it
// may be connected to.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.WithZone("")
	if g.allowPrivate {
		return nil
	}
	class := Classify(addr)
	if class == Public {
		return nil
	}
	unmapped := addr.Unmap()
	for _, p := range g.allow {
		if p.Contains(addr) || p.Contains(unmapped) {
			return nil
		}
	}
	return &RefusedError{Addr: addr, Class: class}
}

// Control is a net.Dialer.Control function: the dialer calls it for every
// address it is about to connect to (each A/AAAA record, in the Happy
// Eyeballs order), after the socket is created and before connect, so the
// check sees the resolved address and nothing is sent when it refuses.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// The dialer always passes a literal ip:port here; anything else is
		// a bug upstream, and refusing is the safe answer.
		return fmt.Errorf("netguard: cannot parse dial address %q (%s): %w", address, network, err)
	}
	return g.Check(ap.Addr())
}

// Dialer returns a copy of base whose Control runs the guard after base's
// own Control, if any. A nil base means a zero net.Dialer with a 10 s
// connect timeout and 30 s keep-alive.
func (g *Guard) Dialer(base *net.Dialer) *net.Dialer {
	var d net.Dialer
	if base != nil {
		d = *base
	} else {
		d = net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	}
	prevControl, prevControlContext := d.Control, d.ControlContext
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		switch {
		case prevControlContext != nil:
			if err := prevControlContext(ctx, network, address, c); err != nil {
				return err
			}
		case prevControl != nil:
			if err := prevControl(network, address, c); err != nil {
				return err
			}
		}
		return g.Control(network, address, c)
	}
	return &d
}

// DialContext dials like net.Dialer.DialContext with the guard in place; it
// fits http.Transport.DialContext.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return g.Dialer(nil).DialContext(ctx, network, address)
}
