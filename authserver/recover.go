package authserver

import (
	"fmt"
	"net/http"
)

// recoverPanics turns a panic in h into a 500 server_error and one log
// line naming the route and the panic value, so that a parser bug costs
// one failed request rather than a dropped connection and a stack trace
// per request. The request body is never logged: it holds credentials.
func (s *Server) recoverPanics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackedWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // net/http's own signal to abort the response
				panic(v)
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.log.Error("panic in handler", "route", route, "method", r.Method, "panic", fmt.Sprint(v))
			if tw.wrote {
				// Too late for an error body: abort, so that the client
				// sees a broken response rather than a truncated one
				// (net/http logs nothing for this value).
				panic(http.ErrAbortHandler)
			}
			s.sendError(tw, r, serverError())
		}()
		h.ServeHTTP(tw, r)
	})
}

// trackedWriter remembers whether the response has started, so that a
// recovered panic writes an error only when it still can.
type trackedWriter struct {
	http.ResponseWriter
	wrote bool
}

// WriteHeader records that the response has started.
func (t *trackedWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

// Write records that the response has started.
func (t *trackedWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *trackedWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
