package netguard

import "net/netip"

// Class is the kind of address a destination resolved to. Every class but
// Public is refused unless allowed.
type Class string

// Address classes. They follow the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890 and successors): every range that is not
// globally reachable unicast is refused, because a webhook receiver on the
// public internet never lives there, and anything that does is either our
// own host, our own network, or a route we cannot reason about.
const (
	Public        Class = "public"
	Unspecified   Class = "unspecified"    // 0.0.0.0/8, ::/128 (connecting to 0.0.0.0 reaches this host)
	Loopback      Class = "loopback"       // 127.0.0.0/8, ::1/128
	Private       Class = "private"        // RFC 1918, IPv6 ULA fc00::/7, deprecated site-local fec0::/10, local-use NAT64 64:ff9b:1::/48
	SharedCGNAT   Class = "cgnat"          // 100.64.0.0/10 (RFC 6598), the carrier's internal network
	LinkLocal     Class = "link-local"     // 169.254.0.0/16, fe80::/10
	Metadata      Class = "cloud-metadata" // 169.254.169.254, fd00:ec2::254: instance credentials live there
	Multicast     Class = "multicast"      // 224.0.0.0/4, ff00::/8
	Broadcast     Class = "broadcast"      // 255.255.255.255
	Documentation Class = "documentation"  // TEST-NETs, 2001:db8::/32, 3fff::/20: never routed
	Benchmarking  Class = "benchmarking"   // 198.18.0.0/15, 2001:2::/48: lab networks
	Reserved      Class = "reserved"       // everything else special: IETF protocol assignments, 240/4, 6to4 relays, Teredo, discard-only, IPv6 outside 2000::/3
)

// phrase is the class in a sentence: "destination X is <phrase>".
func (c Class) phrase() string {
	switch c {
	case Unspecified:
		return "an unspecified address"
	case Loopback:
		return "a loopback address"
	case Private:
		return "a private-network address"
	case SharedCGNAT:
		return "a carrier-grade NAT (100.64.0.0/10) address"
	case LinkLocal:
		return "a link-local address"
	case Metadata:
		return "a cloud metadata address"
	case Multicast:
		return "a multicast address"
	case Broadcast:
		return "the broadcast address"
	case Documentation:
		return "a documentation-only address"
	case Benchmarking:
		return "a benchmarking-network address"
	case Reserved:
		return "a reserved special-purpose address"
	case Public:
		return "a public address"
	}
	return "a " + string(c) + " address"
}

type rangeClass struct {
	prefix netip.Prefix
	class  Class
}

// The tables are checked in order, so a narrower range listed first wins
// (the metadata address inside link-local).
var (
	v4Ranges = []rangeClass{
		{mustPrefix("169.254.169.254/32"), Metadata},
		{mustPrefix("0.0.0.0/8"), Unspecified},
		{mustPrefix("10.0.0.0/8"), Private},
		{mustPrefix("100.64.0.0/10"), SharedCGNAT},
		{mustPrefix("127.0.0.0/8"), Loopback},
		{mustPrefix("169.254.0.0/16"), LinkLocal},
		{mustPrefix("172.16.0.0/12"), Private},
		{mustPrefix("192.0.0.0/24"), Reserved}, // IETF protocol assignments (incl. DS-Lite, NAT64 discovery)
		{mustPrefix("192.0.2.0/24"), Documentation},
		{mustPrefix("192.88.99.0/24"), Reserved}, // 6to4 relay anycast (deprecated)
		{mustPrefix("192.168.0.0/16"), Private},
		{mustPrefix("198.18.0.0/15"), Benchmarking},
		{mustPrefix("198.51.100.0/24"), Documentation},
		{mustPrefix("203.0.113.0/24"), Documentation},
		{mustPrefix("224.0.0.0/4"), Multicast},
		{mustPrefix("255.255.255.255/32"), Broadcast},
		{mustPrefix("240.0.0.0/4"), Reserved},
	}
	v6Ranges = []rangeClass{
		{mustPrefix("::/128"), Unspecified},
		{mustPrefix("::1/128"), Loopback},
		{mustPrefix("fd00:ec2::254/128"), Metadata}, // AWS IMDS over IPv6
		{mustPrefix("fc00::/7"), Private},
		{mustPrefix("fec0::/10"), Private}, // site-local, deprecated but still routed by some stacks
		{mustPrefix("fe80::/10"), LinkLocal},
		{mustPrefix("ff00::/8"), Multicast},
		{mustPrefix("64:ff9b:1::/48"), Private}, // local-use NAT64 (RFC 8215)
		{mustPrefix("2001:db8::/32"), Documentation},
		{mustPrefix("3fff::/20"), Documentation},
		{mustPrefix("2001:2::/48"), Benchmarking},
		// 2001::/23 holds Teredo (2001::/32, which tunnels to an arbitrary,
		// obfuscated IPv4 address) and other protocol assignments that are no
		// place for a webhook receiver.
		{mustPrefix("2001::/23"), Reserved},
		// 6to4 embeds an IPv4 address and is deprecated (RFC 7526); refusing
		// it is simpler and safer than judging the embedded address.
		{mustPrefix("2002::/16"), Reserved},
	}
	nat64WellKnown = mustPrefix("64:ff9b::/96")
	globalUnicast6 = mustPrefix("2000::/3")
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// Classify returns the class of addr. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) and well-known-prefix NAT64 addresses (64:ff9b::a.b.c.d)
// are classified by the IPv4 address they carry, because that is where a
// connection to them ends up. The zero Addr is Reserved.
func Classify(addr netip.Addr) Class {
	if !addr.IsValid() {
		return Reserved
	}
	addr = addr.WithZone("")
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	if addr.Is4() {
		for _, r := range v4Ranges {
			if r.prefix.Contains(addr) {
				return r.class
			}
		}
		return Public
	}
	if nat64WellKnown.Contains(addr) {
		b := addr.As16()
		return Classify(netip.AddrFrom4([4]byte(b[12:16])))
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(addr) {
			return r.class
		}
	}
	// Only 2000::/3 is allocated for global unicast; the rest of the space
	// (including the deprecated IPv4-compatible ::/96 and the discard-only
	// 100::/64) is not a place a public receiver can be.
	if !globalUnicast6.Contains(addr) {
		return Reserved
	}
	return Public
}
