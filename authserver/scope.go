package authserver

import (
	"slices"
	"strings"
)

// parseScope splits a scope parameter (RFC 6749 §3.3: space-delimited
// tokens of printable ASCII without '"' and '\'). Duplicates are dropped.
func parseScope(s string) ([]string, error) {
	var out []string
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
				return nil, invalidScope("malformed scope")
			}
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, nil
}

// grantScope returns the scope granted for requested out of allowed: all
// of allowed when nothing is requested, else requested if it is a subset.
func grantScope(requested, allowed []string) ([]string, error) {
	if len(requested) == 0 {
		return allowed, nil
	}
	for _, s := range requested {
		if !slices.Contains(allowed, s) {
			return nil, invalidScope("requested scope exceeds the scope granted to the client")
		}
	}
	return requested, nil
}

func joinScope(scope []string) string { return strings.Join(scope, " ") }

// requestScope is the scope granted for a request's scope parameter out of
// allowed.
func requestScope(p params, allowed []string) ([]string, error) {
	requested, err := parseScope(p["scope"])
	if err != nil {
		return nil, err
	}
	return grantScope(requested, allowed)
}
