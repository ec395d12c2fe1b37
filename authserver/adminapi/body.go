package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"
)

// readBody reads the body of r, at most MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, problem("body-too-large", "the body must be at most 64 KiB")
	}
	if err != nil {
		return nil, problem("malformed-request", "the body could not be read").withCause(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// decode reads a JSON body into dst strictly: application/json only, at
// most MaxBodyBytes, no unknown member, nothing after the value.
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return problem("unsupported-media-type", "send the body as application/json")
	}
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return problem("malformed-request", "the body is not the JSON object this route takes: "+jsonDetail(err)).withCause(err)
	}
	if dec.More() {
		return problem("malformed-request", "the body holds more than one JSON value")
	}
	return nil
}

// decodeOptional is decode for a body that may be left out: an empty one
// leaves dst as it is.
func decodeOptional(w http.ResponseWriter, r *http.Request, dst any) error {
	b, err := readBody(w, r)
	if err != nil || len(b) == 0 {
		return err
	}
	return decode(w, r, dst)
}

// jsonDetail says what is wrong with a body without quoting it.
func jsonDetail(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return "invalid JSON"
	case errors.As(err, &typ):
		return "member " + typ.Field + " has the wrong type"
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	if msg := err.Error(); len(msg) < 120 && bytes.HasPrefix([]byte(msg), []byte("json: unknown field ")) {
		return "unknown member " + msg[len("json: unknown field "):]
	}
	return "invalid JSON"
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// stamp formats a time for the APIs: RFC 3339 in UTC, or "" for zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
