package main

import (
	"encoding/json"
	"net/http"

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
