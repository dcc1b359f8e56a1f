package authserver

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// sourceResolver finds the address a request comes from, for throttling:
// the TCP peer, unless the peer is a trusted reverse proxy, in which case
// the rightmost address of X-Forwarded-For that is not itself a trusted
// proxy. Addresses left of it were written by the client and prove
// nothing, so a spoofed header from an untrusted peer changes nothing.
type sourceResolver struct {
	trusted []netip.Prefix
}

func (sr sourceResolver) isTrusted(a netip.Addr) bool {
	for _, p := range sr.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// source returns the request's source address; the zero Addr if the peer's
// address cannot be parsed (never the case with net/http's own server).
func (sr sourceResolver) source(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if len(sr.trusted) == 0 || !sr.isTrusted(addr) {
		return addr
	}
	// Several headers are one list (RFC 9110 §5.3), in order.
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A garbled entry: nothing left of it can be trusted, and the
			// last trusted hop is the best we know.
			return addr
		}
		hop = hop.Unmap()
		if !sr.isTrusted(hop) {
			return hop
		}
		addr = hop
	}
	return addr
}

// throttleKey is the unit a source is throttled by: the address itself, or
// for IPv6 its /64, which one host can usually fill at will.
func throttleKey(a netip.Addr) netip.Prefix {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	p, _ := a.Prefix(a.BitLen())
	return p
}

// ParseTrustedProxies reads a comma-separated list of CIDRs or single
// addresses (AUTH_TRUSTED_PROXIES).
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR or an IP address", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
