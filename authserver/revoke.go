package authserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// accessPayload is what revocation and introspection read back from an
// access token this server signed.
type accessPayload struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	Expiry   int64           `json:"exp"`
	IssuedAt int64           `json:"iat"`
	JTI      string          `json:"jti"`
	ClientID string          `json:"client_id"`
	Scope    string          `json:"scope"`
}

// readAccessToken verifies an access token of ours; ok is false for
// anything else (including tokens past exp).
func (s *Server) readAccessToken(token string) (accessPayload, bool) {
	if strings.Count(token, ".") != 2 || len(token) > MaxBodyBytes {
		return accessPayload{}, false
	}
	payload, _, err := s.opts.Signer.Verify([]byte(token))
	if err != nil {
		return accessPayload{}, false
	}
	var ap accessPayload
	if err := json.Unmarshal(payload, &ap); err != nil || ap.Issuer != s.opts.Issuer || ap.JTI == "" {
		return accessPayload{}, false
	}
	return ap, ap.Expiry > s.now().Unix()
}

// tokenRequest reads a revocation or introspection request: the
// authenticated client and the token it names.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (*Client, string, error) {
	p, err := readParams(w, r)
	if err != nil {
		return nil, "", err
	}
	client, err := s.clients.authenticate(r, p)
	if err != nil {
		return nil, "", err
	}
	token := p["token"]
	if token == "" {
		return nil, "", invalidRequest("missing token")
	}
	return client, token, nil
}

// handleRevoke implements RFC 7009. A refresh token revokes its whole
// family; an access token's jti is denied until it expires. Unknown,
// invalid and already revoked tokens, and tokens of other clients, all get
// 200 and change nothing: the answer reveals nothing.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	client, token, err := s.tokenRequest(w, r)
	if err != nil {
		return err
	}
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	// token_type_hint is not needed: a refresh token of ours is recognised
	// by its MAC, anything else is tried as an access token (RFC 7009 §2.1
	// lets the server ignore the hint when it can tell the type itself).
	if rt, err := s.refresh.parse(token); err == nil {
		fam, err := s.opts.Store.GetFamily(ctx, rt.familyID, s.now())
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return storeError(err)
		case fam.ClientID == client.ID:
			if err := s.opts.Store.RevokeFamily(ctx, fam.ID); err != nil {
				return storeError(err)
			}
			s.audit.Info("family revoked", "event", "family_revoked", "family", fam.ID, "client_id", client.ID, "user_id", fam.UserID)
		}
	} else if ap, ok := s.readAccessToken(token); ok && ap.ClientID == client.ID {
		if err := s.opts.Store.RevokeToken(ctx, ap.JTI, time.Unix(ap.Expiry, 0)); err != nil {
			return storeError(err)
		}
		s.audit.Info("access token revoked", "event", "access_token_revoked", "jti", ap.JTI, "client_id", client.ID)
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
	return nil
}

// inactive is the whole answer for anything not active (RFC 7662 §2.2).
var inactive = []byte(`{"active":false}` + "\n")

// handleIntrospect implements RFC 7662 for confidential clients with the
// introspect permission. Others get 401 invalid_client: RFC 7662 §2.3
// answers 401 both for bad credentials and for credentials without the
// privilege, and invalid_client is RFC 6749's only 401 code
// (unauthorized_client is about grant types, with 400). A permitted
// client learns about access tokens of every client (what a resource
// server needs) but about refresh tokens of its own only: anything else is
// inactive, so that no client can read another's sessions.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) error {
	client, token, err := s.tokenRequest(w, r)
	if err != nil {
		return err
	}
	if client.Public || !client.Introspect {
		return invalidClient("the client may not use the introspection endpoint")
	}
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	noStore(w)
	now := s.now()
	if rt, err := s.refresh.parse(token); err == nil {
		fam, err := s.opts.Store.GetFamily(ctx, rt.familyID, now)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return storeError(err)
		case fam.ClientID == client.ID && string(fam.CurrentHash) == string(rt.hash()):
			body, _ := json.Marshal(map[string]any{
				"active": true, "token_type": "refresh_token", "sub": fam.UserID, "client_id": fam.ClientID,
				"scope": joinScope(fam.Scope), "exp": fam.Expiry().Unix(), "iat": fam.LastUsed.Unix(), "iss": s.opts.Issuer,
			})
			w.Write(body)
			return nil
		}
		w.Write(inactive)
		return nil
	}
	ap, ok := s.readAccessToken(token)
	if ok {
		revoked, err := s.opts.Store.IsRevoked(ctx, ap.JTI, now)
		if err != nil {
			return storeError(err)
		}
		ok = !revoked
	}
	if !ok {
		w.Write(inactive)
		return nil
	}
	body, _ := json.Marshal(map[string]any{
		"active": true, "token_type": "Bearer", "sub": ap.Subject, "client_id": ap.ClientID, "scope": ap.Scope,
		"exp": ap.Expiry, "iat": ap.IssuedAt, "iss": ap.Issuer, "aud": ap.Audience, "jti": ap.JTI,
	})
	w.Write(body)
	return nil
}
