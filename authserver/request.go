package authserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"
)

// MaxBodyBytes is the largest request body the OAuth2 endpoints read;
// larger bodies are answered 413.
const MaxBodyBytes = 64 << 10

// params are the single-valued parameters of an OAuth2 request.
type params map[string]string

var errTooLarge = &Error{Code: oerrors.ErrInvalidRequest, Description: "request body exceeds 64 KiB", Status: http.StatusRequestEntityTooLarge}

// readParams decodes an OAuth2 request body, either
// application/x-www-form-urlencoded (RFC 6749) or a flat JSON object of
// strings. Parameters in the URL query are ignored: credentials belong in
// the body. A parameter given twice is invalid_request, and one sent
// without a value is treated as omitted (RFC 6749 §3.2), so that every
// handler asks only whether a parameter is there.
func readParams(w http.ResponseWriter, r *http.Request) (params, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errTooLarge
		}
		return nil, withCause(invalidRequest("unreadable request body"), err)
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil && len(body) > 0 {
		return nil, invalidRequest("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	switch mediaType {
	case "application/x-www-form-urlencoded", "":
		return parseForm(body)
	case "application/json":
		return parseJSON(body)
	}
	return nil, invalidRequest("Content-Type must be application/x-www-form-urlencoded or application/json")
}

func parseForm(body []byte) (params, error) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidRequest("malformed form body")
	}
	p := make(params, len(values))
	for k, vs := range values {
		for _, v := range vs {
			if v == "" {
				continue
			}
			if _, dup := p[k]; dup {
				return nil, invalidRequest("parameter " + safeName(k) + " given more than once")
			}
			p[k] = v
		}
	}
	return p, nil
}

func parseJSON(body []byte) (params, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	malformed := invalidRequest("malformed JSON body: want one object of string values")
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed
	}
	p := params{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed
		}
		k := tok.(string) // object keys are always strings
		var v string
		if err := dec.Decode(&v); err != nil {
			return nil, invalidRequest("parameter " + safeName(k) + " must be a string")
		}
		if v == "" {
			continue
		}
		if _, dup := p[k]; dup {
			return nil, invalidRequest("parameter " + safeName(k) + " given more than once")
		}
		p[k] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalidRequest("malformed JSON body: trailing data")
	}
	return p, nil
}

// safeName returns a parameter name fit to echo in an error description:
// short and printable ASCII, or a placeholder.
func safeName(name string) string {
	if len(name) > 40 {
		return "(name too long)"
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7e {
			return "(unprintable name)"
		}
	}
	return strings.ReplaceAll(name, `"`, "")
}

func basicUsed(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	return len(auth) >= 6 && strings.EqualFold(auth[:6], "basic ")
}
