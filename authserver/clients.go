package authserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/oauthkit/authserver/authserver/clientsecret"
)

// Grant types served by the token endpoint.
const (
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// Client is a registered OAuth2 client.
type Client struct {
	ID         string
	Public     bool   // no secret: authenticates with client_id alone
	SecretHash string // from package clientsecret; empty for public clients
	// SecretHashes are further live secrets, beside SecretHash: during a
	// rotation the client holds either the old secret or the new one, and
	// both authenticate until the old one is removed.
	SecretHashes []string
	Grants       []string // grant types it may use
	Scopes       []string // every scope it may be granted; the default grant
	Audience     []string // aud of its tokens; empty means the server default
	// Introspect lets a confidential client call the introspection
	// endpoint, for access tokens of every client and its own refresh
	// tokens.
	Introspect bool
	// TokenProfile adds the claims a kind of resource server expects:
	// TokenProfileSimpleJWT, or "" for none.
	TokenProfile string
	// RedirectURIs are where the authorization endpoint may send the
	// browser back: matched exactly, but for the port of a loopback
	// redirect (RFC 8252 §7.3).
	RedirectURIs []string
	// AllowedOrigins may call the token, revocation and JWKS endpoints
	// from a browser (CORS).
	AllowedOrigins []string
	// Consent marks a third-party client: the user confirms the scopes it
	// asks for on a consent screen.
	Consent bool
}

// TokenProfileSimpleJWT makes access tokens that djangorestframework-
// simplejwt accepts with its default claim settings: they carry
// token_type "access" and user_id, the user's "user_id" claim (the Django
// pk of an imported user), as a JSON number when it is an integer.
const TokenProfileSimpleJWT = "simplejwt"

// Allows reports whether the client may use grant.
func (c *Client) Allows(grant string) bool { return slices.Contains(c.Grants, grant) }

// registeredClient is a Client with its secret hashes decoded once.
type registeredClient struct {
	*Client
	secrets []liveSecret
}

// liveSecret is one secret a client may authenticate with: the SHA-256 of
// the secret and an id that names it in logs and metrics.
type liveSecret struct {
	sum []byte
	id  string
}

// clientRegistry authenticates clients from the configured set.
type clientRegistry map[string]registeredClient

func newClientRegistry(clients []Client) (clientRegistry, error) {
	reg := make(clientRegistry, len(clients))
	for i := range clients {
		c := &clients[i]
		if _, dup := reg[c.ID]; dup || c.ID == "" {
			return nil, fmt.Errorf("register client %q: empty or duplicate id", c.ID)
		}
		if c.Public && c.Allows(GrantClientCredentials) {
			// It has no secret: anyone who knows its id would get tokens.
			return nil, fmt.Errorf("register client %q: a public client cannot use client_credentials", c.ID)
		}
		if c.Public && c.Introspect {
			return nil, fmt.Errorf("register client %q: a public client cannot introspect", c.ID)
		}
		if c.Allows(GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("register client %q: the authorization_code grant needs redirect_uris", c.ID)
		}
		for _, u := range c.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				return nil, fmt.Errorf("register client %q: %w", c.ID, err)
			}
		}
		rc := registeredClient{Client: c}
		hashes := clientsecret.Live(c.SecretHash, c.SecretHashes)
		switch {
		case c.Public && len(hashes) > 0:
			return nil, fmt.Errorf("register client %q: a public client has no secret", c.ID)
		case !c.Public && len(hashes) == 0:
			return nil, fmt.Errorf("register client %q: a confidential client needs a secret hash", c.ID)
		}
		for _, h := range hashes {
			sum, err := clientsecret.Decode(h)
			if err != nil {
				return nil, fmt.Errorf("register client %q: %w", c.ID, err)
			}
			rc.secrets = append(rc.secrets, liveSecret{sum: sum, id: clientsecret.ID(h)})
		}
		reg[c.ID] = rc
	}
	return reg, nil
}

// dummySum is compared against when the client is unknown, so that an
// unknown client costs what a known one does.
var dummySum = make([]byte, sha256.Size)

func invalidClient(description string) *Error {
	return oauthErr(oerrors.ErrInvalidClient, description)
}

// authenticate identifies the client of a token, revocation or
// introspection request: HTTP Basic (client_secret_basic, RFC 6749
// §2.3.1, form-encoded id and secret), client_id and client_secret in the
// body (client_secret_post), or client_id alone for a public client. Using
// two methods at once is invalid_request. secretID names the secret that
// matched (empty for a public client).
func (reg clientRegistry) authenticate(r *http.Request, p params) (client *Client, secretID string, err error) {
	id, secret, basic := r.BasicAuth()
	bodySecret, hasBodySecret := p["client_secret"]
	switch {
	case basic:
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, "", invalidClient("malformed HTTP Basic credentials")
		}
		if hasBodySecret {
			return nil, "", invalidRequest("use one client authentication method, not both Basic and client_secret")
		}
		if bid, ok := p["client_id"]; ok && bid != id {
			return nil, "", invalidRequest("client_id does not match the authenticated client")
		}
	case basicUsed(r):
		return nil, "", invalidClient("malformed HTTP Basic credentials")
	case r.Header.Get("Authorization") != "":
		return nil, "", invalidClient("unsupported Authorization scheme; use Basic")
	default:
		id, secret = p["client_id"], bodySecret
		if id == "" {
			return nil, "", invalidClient("client authentication required")
		}
	}
	rc, known := reg[id]
	if !known {
		sum := sha256.Sum256([]byte(secret))
		subtle.ConstantTimeCompare(sum[:], dummySum)
		return nil, "", invalidClient("client authentication failed")
	}
	if rc.Public {
		if basic || hasBodySecret {
			return nil, "", invalidClient("client authentication failed")
		}
		return rc.Client, "", nil
	}
	// Every live secret is compared, whichever matches: the time taken
	// does not say which one the presented secret is.
	sum := sha256.Sum256([]byte(secret))
	matched := -1
	for i, ls := range rc.secrets {
		matched = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(sum[:], ls.sum), i, matched)
	}
	if secret == "" || matched < 0 {
		return nil, "", invalidClient("client authentication failed")
	}
	return rc.Client, rc.secrets[matched].id, nil
}
