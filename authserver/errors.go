package authserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/oauthkit/authserver/authserver/store"
)

// Error is an OAuth2 error response (RFC 6749 §5.2): a fixed, safe code
// and description for the client, the HTTP status, and the cause for the
// log only.
type Error struct {
	Code        error  // one of the go-oauth2 RFC 6749 error values
	Description string // safe to show to the client
	Status      int
	RetryAfter  time.Duration // sets Retry-After when positive
	Cause       error         // logged, never sent
}

// Error returns the code and description, and the cause when there is one.
func (e *Error) Error() string {
	s := e.Code.Error() + ": " + e.Description
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// The status of each RFC 6749 code as our contract has it; go-oauth2's own
// table answers 401 for invalid_grant and unsupported_grant_type, which
// RFC 6749 §5.2 makes 400.
var statusOf = map[error]int{
	oerrors.ErrInvalidRequest:         http.StatusBadRequest,
	oerrors.ErrInvalidGrant:           http.StatusBadRequest,
	oerrors.ErrUnsupportedGrantType:   http.StatusBadRequest,
	oerrors.ErrInvalidScope:           http.StatusBadRequest,
	oerrors.ErrUnauthorizedClient:     http.StatusBadRequest,
	oerrors.ErrInvalidClient:          http.StatusUnauthorized,
	oerrors.ErrTemporarilyUnavailable: http.StatusServiceUnavailable,
	oerrors.ErrServerError:            http.StatusInternalServerError,
}

func oauthErr(code error, description string) *Error {
	return &Error{Code: code, Description: description, Status: statusOf[code]}
}

func invalidRequest(description string) *Error {
	return oauthErr(oerrors.ErrInvalidRequest, description)
}

func invalidGrant(description string) *Error {
	return oauthErr(oerrors.ErrInvalidGrant, description)
}

func invalidScope(description string) *Error {
	return oauthErr(oerrors.ErrInvalidScope, description)
}

// storeError is the one place that maps a failed store call to an
// answer: store.ErrUnavailable (the backend cannot serve now) is 503
// temporarily_unavailable with Retry-After, since a retry may succeed and
// nothing was issued; any other failure is a fault of ours, 500
// server_error, logged once by writeError. Callers handle the sentinel
// errors that are answers (ErrNotFound) before they call it.
func storeError(cause error) *Error {
	if errors.Is(cause, store.ErrUnavailable) {
		e := oauthErr(oerrors.ErrTemporarilyUnavailable, "the service is temporarily unavailable, retry later")
		e.RetryAfter = storeRetryAfter
		e.Cause = cause
		return e
	}
	return withCause(serverError(), cause)
}

// storeRetryAfter is the Retry-After of a 503 for an unreachable store:
// long enough not to hammer a backend that is failing over.
const storeRetryAfter = time.Second

// busy is the answer of a login that found no free password-hashing slot
// in time: nothing was checked, and a retry may succeed.
func busy() *Error {
	e := oauthErr(oerrors.ErrTemporarilyUnavailable, "the service is temporarily unavailable, retry later")
	e.RetryAfter = time.Second
	return e
}

func serverError() *Error {
	return oauthErr(oerrors.ErrServerError, "internal error")
}

func withCause(e *Error, cause error) *Error {
	e.Cause = cause
	return e
}

// writeError sends err as an RFC 6749 §5.2 JSON body and logs it once
// (at error level from 500 up). Any error that is not an *Error becomes a
// 500 server_error with a fixed description.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = withCause(serverError(), err)
	}
	level := s.log.Debug
	if e.Status >= 500 {
		level = s.log.Error
	}
	level("oauth2 error", "path", r.URL.Path, "error", e.Code.Error(), "status", e.Status, "cause", errString(e.Cause))
	s.sendError(w, r, e)
}

// sendError counts and sends e, without logging it.
func (s *Server) sendError(w http.ResponseWriter, r *http.Request, e *Error) {
	s.metrics.failures.WithLabelValues(endpointOf(r), e.Code.Error(), strconv.Itoa(e.Status)).Inc()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	noStore(w)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	if e.Status == http.StatusUnauthorized && basicUsed(r) {
		h.Set("WWW-Authenticate", `Basic realm="authserver", charset="UTF-8"`)
	}
	w.WriteHeader(e.Status)
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code.Error(), e.Description})
	w.Write(body)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// endpointOf names the endpoint of r for metric labels, from a fixed set.
func endpointOf(r *http.Request) string {
	switch r.URL.Path {
	case "/oauth2/token":
		return "token"
	case "/oauth2/revoke":
		return "revoke"
	case "/oauth2/introspect":
		return "introspect"
	}
	return "other"
}
