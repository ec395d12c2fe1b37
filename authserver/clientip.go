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
// the entries added by our own proxies can be believed.
func (s *Server) clientIP(r *http.Request) string {
	peer := peerAddr(r)
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer.String() // a mangled header: count the proxy
			}
			if a = a.Unmap(); !s.trusted(a) {
				return a.String()
			}
		}
	}
	return peer.String()
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
