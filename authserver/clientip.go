package authserver

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address the per-IP lockout counts. It is the TCP
// peer, unless the peer is a trusted proxy (Options.TrustedProxies): then
// it is the right-most address of X-Forwarded-For that is not itself a
// trusted proxy, since every proxy appends the address it saw and only
// the entries added by our own proxies can be believed. Entries may carry
// a port ("192.0.2.7:4711", "[2001:db8::7]:4711"), as some proxies add.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !s.trusted(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := parseHop(strings.TrimSpace(parts[j]))
			if !ok {
				return peer // a mangled header: count the proxy
			}
			if !s.trusted(a) {
				return a
			}
		}
	}
	return peer
}

// parseHop reads one X-Forwarded-For entry: an address, or an address
// and port.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap(), true
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
