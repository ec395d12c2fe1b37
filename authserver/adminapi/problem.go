package adminapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// ProblemBase prefixes the type of every problem the APIs answer: the
// type is the stable identity of an error (RFC 9457 §3.1.1); the title
// and detail are for people.
const ProblemBase = "https://github.com/oauthkit/authserver/blob/main/docs/admin-api.md#problem-"

// Problem is an RFC 9457 problem detail: a fixed type and title per kind
// of error, a safe detail, the status, and the cause for the log only.
type Problem struct {
	Kind       string // the last part of the type
	Title      string
	Status     int
	Detail     string
	RetryAfter time.Duration
	Cause      error // logged, never sent
}

// Error returns the kind and detail, and the cause when there is one.
func (p *Problem) Error() string {
	s := p.Kind + ": " + p.Detail
	if p.Cause != nil {
		s += ": " + p.Cause.Error()
	}
	return s
}

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.Cause }

// The kinds of problem, with their status and title. docs/admin-api.md
// lists them; a client tests the type, never the title or detail.
var kinds = map[string]struct {
	status int
	title  string
}{
	"malformed-request":       {http.StatusBadRequest, "The request is malformed"},
	"invalid-user":            {http.StatusUnprocessableEntity, "The user is invalid"},
	"invalid-cursor":          {http.StatusBadRequest, "The cursor is invalid"},
	"unauthorized":            {http.StatusUnauthorized, "A valid access token is required"},
	"insufficient-scope":      {http.StatusForbidden, "The access token lacks the scope this route requires"},
	"wrong-token-kind":        {http.StatusForbidden, "This API takes another kind of access token"},
	"not-found":               {http.StatusNotFound, "No such resource"},
	"method-not-allowed":      {http.StatusMethodNotAllowed, "The method is not allowed on this resource"},
	"already-exists":          {http.StatusConflict, "The resource already exists"},
	"precondition-failed":     {http.StatusPreconditionFailed, "The resource changed since it was read"},
	"precondition-required":   {http.StatusPreconditionRequired, "This change requires If-Match"},
	"body-too-large":          {http.StatusRequestEntityTooLarge, "The request body is too large"},
	"unsupported-media-type":  {http.StatusUnsupportedMediaType, "The request body must be application/json"},
	"idempotency-key-reused":  {http.StatusUnprocessableEntity, "The Idempotency-Key was used for another request"},
	"idempotency-in-flight":   {http.StatusConflict, "A request with this Idempotency-Key is under way"},
	"invalid-idempotency-key": {http.StatusBadRequest, "The Idempotency-Key is invalid"},
	"key-transition":          {http.StatusConflict, "The signing key cannot make this transition"},
	"wrong-password":          {http.StatusForbidden, "The current password is wrong"},
	"locked-out":              {http.StatusTooManyRequests, "Too many failed attempts, retry later"},
	"unavailable":             {http.StatusServiceUnavailable, "The service is temporarily unavailable"},
	"internal":                {http.StatusInternalServerError, "Internal error"},
}

// problem returns a Problem of kind with detail.
func problem(kind, detail string) *Problem {
	k, ok := kinds[kind]
	if !ok {
		panic("adminapi: unknown problem kind " + kind)
	}
	return &Problem{Kind: kind, Title: k.title, Status: k.status, Detail: detail}
}

func (p *Problem) withCause(err error) *Problem {
	p.Cause = err
	return p
}

// storeProblem maps a failed call that has no answer of its own: an
// unreachable store is 503 with Retry-After, anything else a fault.
func storeProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return problem("not-found", "no such resource").withCause(err)
	case errors.Is(err, store.ErrUnavailable):
		p := problem("unavailable", "the store cannot be reached, retry later").withCause(err)
		p.RetryAfter = time.Second
		return p
	}
	return problem("internal", "internal error").withCause(err)
}

// writeProblem answers err as application/problem+json; faults (5xx) are
// logged with their cause, which the client never sees.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := storeProblem(err)
	if p.Status >= 500 {
		log.Error("admin api request failed", "method", r.Method, "path", r.URL.Path, "problem", p.Kind, "error", p.Cause)
	}
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.RetryAfter+time.Second-1)/time.Second)))
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if p.Kind == "insufficient-scope" {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail,omitempty"`
	}{ProblemBase + p.Kind, p.Title, p.Status, p.Detail})
}
