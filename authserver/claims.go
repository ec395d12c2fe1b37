package authserver

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// reservedClaims may not be set as user claims: they are the access
// token's own (RFC 7519, RFC 9068) or would confuse a verifier.
var reservedClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope",
	"typ", "auth_time", "acr", "amr", "azp", "cnf", "act", "may_act",
}

// IsReservedClaim reports whether name is a registered claim of the access
// token that user claims may not override. The match ignores case: a
// verifier that decodes claims with encoding/json's case-insensitive
// field matching would otherwise read a user claim "Scope" as the scope.
func IsReservedClaim(name string) bool {
	return slices.ContainsFunc(reservedClaims, func(r string) bool { return strings.EqualFold(r, name) })
}

// accessClaims are the RFC 9068 claims of an access token.
type accessClaims struct {
	Issuer   string
	Subject  string
	Audience []string
	IssuedAt int64
	Expiry   int64
	JTI      string
	ClientID string
	Scope    []string
	Extra    map[string]string // user claims; reserved names never reach here
	Profile  string            // the client's TokenProfile
}

// appendJSON appends the claims as a JSON object. The output is a pure
// function of the claims (extra claims in sorted order), so that a retried
// refresh within the grace gets the same claims it got the first time;
// with a deterministic signature (RS256, EdDSA) and the same key, the very
// same token.
func (c *accessClaims) appendJSON(b []byte) []byte {
	b = append(b, `{"iss":`...)
	b = appendString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendString(b, c.Subject)
	b = append(b, `,"aud":`...)
	if len(c.Audience) == 1 {
		b = appendString(b, c.Audience[0])
	} else {
		b = append(b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a)
		}
		b = append(b, ']')
	}
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = appendString(b, c.JTI)
	b = append(b, `,"client_id":`...)
	b = appendString(b, c.ClientID)
	if len(c.Scope) > 0 {
		b = append(b, `,"scope":`...)
		b = appendString(b, strings.Join(c.Scope, " "))
	}
	if c.Profile == TokenProfileSimpleJWT {
		b = appendSimpleJWT(b, c.Extra)
	}
	if len(c.Extra) > 0 {
		_, imported := c.Extra[DjangoUserIDClaim]
		names := make([]string, 0, len(c.Extra))
		for k := range c.Extra {
			if c.carries(k, imported) {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		for _, k := range names {
			b = append(b, ',')
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, c.Extra[k])
		}
	}
	return append(b, '}')
}

// Scopes that name the sets of claims that users import maps from Django
// fields, as OpenID Connect Core §5.4 names profile and email.
const (
	ScopeProfile = "profile" // username, first_name, last_name
	ScopeEmail   = "email"   // email
	ScopeStaff   = "staff"   // is_staff
)

// djangoClaimScopes maps each claim that DjangoUser takes from a Django
// field (other than the pk) to the scope a token needs to carry it.
// is_staff has a scope of its own: it is what an API authorizes on
// (DRF's IsAdminUser, simplejwt's TokenUser.is_staff), not profile data,
// and a client that asks for a name must not carry staff rights with it.
var djangoClaimScopes = map[string]string{
	"username": ScopeProfile, "first_name": ScopeProfile, "last_name": ScopeProfile,
	"email": ScopeEmail, "is_staff": ScopeStaff,
}

// carries reports whether the user claim name goes into the token. Never
// a reserved name, nor one that the token profile sets itself. For a user
// imported from Django (imported: it has a user_id claim, the mark by
// which users import tells its own users), a claim of a Django field only
// when the token's scope holds the claim's scope: the client asked for
// it. This one check serves every grant, so that a refresh carries the
// claims of the login it continues, less those of a scope it narrows
// away. Claims of other users, from users add --claim or the admin API,
// go into every token, as they always did.
func (c *accessClaims) carries(name string, imported bool) bool {
	if IsReservedClaim(name) {
		return false
	}
	if c.Profile == TokenProfileSimpleJWT && (name == "token_type" || name == simpleJWTUserID) {
		return false
	}
	if scope := djangoClaimScopes[name]; imported && scope != "" {
		return slices.Contains(c.Scope, scope)
	}
	return true
}

// simpleJWTUserID is simplejwt's default USER_ID_CLAIM.
const simpleJWTUserID = "user_id"

// appendSimpleJWT appends the claims of TokenProfileSimpleJWT: token_type,
// and user_id when the user has one (a client_credentials token has no
// user), as a number when it is a decimal integer, as Django's pk is.
func appendSimpleJWT(b []byte, extra map[string]string) []byte {
	b = append(b, `,"token_type":"access"`...)
	id, ok := extra[simpleJWTUserID]
	if !ok {
		return b
	}
	b = append(b, `,"user_id":`...)
	if n, err := strconv.ParseInt(id, 10, 64); err == nil && strconv.FormatInt(n, 10) == id {
		return strconv.AppendInt(b, n, 10)
	}
	return appendString(b, id)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does; <, > and & are left alone (no HTML here).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
