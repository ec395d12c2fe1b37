package main

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/oauthkit/authserver/verify"
)

// newHandler returns the API's routes: GET /orders for tokens that v
// accepts and that carry scope orders:read, GET /healthz for anyone.
func newHandler(v *verify.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware("orders:read")(http.HandlerFunc(listOrders)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	return mux
}

// ordersResponse is the body of GET /orders: who is calling, with what.
type ordersResponse struct {
	Subject  string   `json:"subject"`   // the user id, or the client id of a service
	ClientID string   `json:"client_id"` // the client the token was issued to
	Scopes   []string `json:"scopes"`
}

// listOrders answers with the caller's identity, as the middleware
// verified it.
func listOrders(w http.ResponseWriter, r *http.Request) {
	c, ok := verify.ClaimsFromContext(r.Context())
	if !ok {
		// Only reachable if the route lost its middleware.
		http.Error(w, "no verified token", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(ordersResponse{Subject: c.Subject, ClientID: c.ClientID, Scopes: c.Scopes})
}

// withCORS lets the pages of origins call h with a bearer token: it
// answers their preflight and marks their responses readable. Other
// origins get no CORS headers, so browsers keep the answers from them.
func withCORS(h http.Handler, origins []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !slices.Contains(origins, origin) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		h.ServeHTTP(w, r)
	})
}
