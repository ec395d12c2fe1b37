package authserver

import (
	"net/http"
)

// allowedOrigins is the union of every client's allowed_origins. A
// preflight does not say which client will call, so CORS answers for the
// union; the token endpoint then refuses a browser request whose origin
// its client does not list (checkOrigin).
func allowedOrigins(clients []Client) map[string]bool {
	m := map[string]bool{}
	for _, c := range clients {
		for _, o := range c.AllowedOrigins {
			m[o] = true
		}
	}
	return m
}

// cors adds CORS headers (the Fetch standard) for a listed origin and
// answers its preflight; an unlisted origin gets nothing, so the browser
// keeps the response from the page. Credentials (cookies) are never
// allowed: these endpoints authenticate with what the request carries.
func (s *Server) cors(methods string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if !s.clients.allowsOrigin(origin) {
			next(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate")
		next(w, r)
	}
}

// methodNotAllowed answers 405 naming the allowed method.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// checkOrigin refuses a token request sent by a browser page whose origin
// the authenticated client does not list: another site's page must not
// use a client's credentials or codes even where CORS would not let it
// read the answer.
func checkOrigin(r *http.Request, c *Client) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	for _, o := range c.AllowedOrigins {
		if o == origin {
			return nil
		}
	}
	return invalidClient("requests from this origin are not allowed for this client")
}
