package netguard_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/webhookd/webhookd/netguard"
)

// FuzzClassify checks properties that must hold for every address: the
// IPv4-mapped and NAT64 forms of an IPv4 address classify like it, zones do
// not matter, nothing the standard library calls loopback, private,
// link-local, multicast or unspecified is ever public, and Check refuses
// exactly the non-public classes.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "8.8.8.8", "::1", "fe80::1", "fd00::1", "ff02::1", "2606:4700::1", "::ffff:127.0.0.1", "64:ff9b::a00:1"} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	refuse := netguard.New(netguard.Options{})
	dev := netguard.New(netguard.Options{AllowPrivate: true})
	f.Fuzz(func(t *testing.T, b []byte) {
		addr, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		class := netguard.Classify(addr)
		if class == "" {
			t.Fatalf("Classify(%s) is empty", addr)
		}
		if addr.Is4() {
			a4 := addr.As4()
			mapped := netip.AddrFrom16(addr.As16())
			nat64 := netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 10: 0, 11: 0, 12: a4[0], 13: a4[1], 14: a4[2], 15: a4[3]})
			for _, form := range []netip.Addr{mapped, nat64} {
				if got := netguard.Classify(form); got != class {
					t.Fatalf("Classify(%s) = %q but Classify(%s) = %q", addr, class, form, got)
				}
			}
		}
		if addr.Is6() && !addr.Is4In6() {
			if got := netguard.Classify(addr.WithZone("eth0")); got != class {
				t.Fatalf("zone changed the class of %s: %q vs %q", addr, class, got)
			}
		}
		special := addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
			addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() ||
			addr.IsUnspecified()
		if special && class == netguard.Public {
			t.Fatalf("Classify(%s) = public, but the standard library says it is special", addr)
		}
		err := refuse.Check(addr)
		var refused *netguard.RefusedError
		if (class == netguard.Public) != (err == nil) {
			t.Fatalf("Check(%s) = %v for class %q", addr, err, class)
		}
		if err != nil && (!errors.As(err, &refused) || refused.Class != class) {
			t.Fatalf("Check(%s) = %v, want a *RefusedError of class %q", addr, err, class)
		}
		if err := dev.Check(addr); err != nil {
			t.Fatalf("dev mode refused %s: %v", addr, err)
		}
	})
}
