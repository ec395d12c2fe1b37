package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/oauthkit/authserver/authserver"
)

// nativeApp is what a CLI or desktop app does (RFC 8252): listen on a
// loopback port the system picks, send the browser to the authorization
// endpoint, take the code at the redirect and redeem it with the PKCE
// verifier, here with golang.org/x/oauth2 as docs/browser-and-mobile-apps.md
// shows.
type nativeApp struct {
	conf     *oauth2.Config
	issuer   string
	state    string
	verifier string
	tokens   chan *oauth2.Token
	errs     chan error
}

func startNativeApp(t *testing.T, issuer string) *nativeApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &nativeApp{
		conf: &oauth2.Config{
			ClientID: "cli",
			Endpoint: oauth2.Endpoint{
				AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams,
			},
			// Registered as http://127.0.0.1/callback: the port may vary.
			RedirectURL: "http://" + ln.Addr().String() + "/callback",
			Scopes:      []string{"profile"},
		},
		issuer: issuer, state: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier(),
		tokens: make(chan *oauth2.Token, 1), errs: make(chan error, 1),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", app.callback)
	serveOn(t, ln, mux)
	return app
}

func (a *nativeApp) authCodeURL() string {
	return a.conf.AuthCodeURL(a.state, oauth2.S256ChallengeOption(a.verifier))
}

func (a *nativeApp) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("state") != a.state || q.Get("iss") != a.issuer || q.Get("code") == "" {
		a.errs <- errors.New("bad authorization response: " + r.URL.RawQuery)
		http.Error(w, "sign-in failed", http.StatusBadRequest)
		return
	}
	tok, err := a.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		a.errs <- err
		http.Error(w, "sign-in failed", http.StatusBadGateway)
		return
	}
	a.tokens <- tok
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(`<!doctype html><title>Signed in</title><p id="done">You are signed in. Return to the app.</p>`))
}

// TestBrowserNativeApp: a native app signs in through the system browser
// with a loopback redirect on a port of its own, and its tokens refresh.
func TestBrowserNativeApp(t *testing.T) {
	ctx := newBrowser(t)
	asLn, issuer := listen(t, "127.0.0.1")
	var forms atomic.Int32
	startAuthserver(t, asLn, issuer, nil, &forms, authserver.Client{
		ID: "cli", Public: true, Grants: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"profile"}, RedirectURIs: []string{"http://127.0.0.1/callback"},
	})
	app := startNativeApp(t, issuer)
	err := chromedp.Run(ctx,
		chromedp.Navigate(app.authCodeURL()),
		chromedp.WaitVisible("#username"),
		chromedp.SendKeys("#username", "alice"),
		chromedp.SendKeys("#password", alicePassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#done"),
	)
	if err != nil {
		t.Fatalf("sign in: %v\n%s", err, pageText(ctx))
	}
	var tok *oauth2.Token
	select {
	case tok = <-app.tokens:
	case err := <-app.errs:
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || !strings.Contains(tok.Extra("scope").(string), "profile") {
		t.Fatalf("token %+v", tok)
	}
	// The token source refreshes an expired token with the refresh token.
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := app.conf.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatal("the refresh did not rotate the tokens")
	}
}
