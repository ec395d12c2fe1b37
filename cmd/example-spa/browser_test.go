package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store/embedded"
	"github.com/oauthkit/authserver/keys"
)

var screenshot = flag.String("screenshot", "", "write the login page's screenshot to this PNG file (docs/images/login-page.png)")

const alicePassword = "correct horse battery staple"

// chromiumPath is the browser the test drives: Debian's chromium, or
// $CHROMIUM.
func chromiumPath(t *testing.T) string {
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("AUTHSERVER_REQUIRE_BROWSER") != "" {
			t.Fatalf("no browser at %s (AUTHSERVER_REQUIRE_BROWSER is set): apt-get install chromium", path)
		}
		t.Skipf("no browser at %s: apt-get install chromium, or set CHROMIUM", path)
	}
	return path
}

// listen opens a loopback listener and returns it with the URL the browser
// uses: host names it by, so that pages on "localhost" and the authserver
// on "127.0.0.1" are different sites, as in production.
func listen(t *testing.T, host string) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return ln, "http://" + host + ":" + port
}

func serveOn(t *testing.T, ln net.Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// startAuthserver runs authserver on ln with an embedded store, user alice
// and the two example apps as clients. It counts submitted login forms.
func startAuthserver(t *testing.T, ln net.Listener, issuer string, apps []string, forms *atomic.Int32, extra ...authserver.Client) string {
	t.Helper()
	ctx := context.Background()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "authserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek := []byte("browser-test-kek-0123456789abcde")
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	km := keys.NewManager(st, sealer, keys.Options{Logger: quiet})
	if err := km.Init(ctx); err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	refreshKey, err := authserver.DeriveRefreshKey(kek)
	if err != nil {
		t.Fatal(err)
	}
	var clients []authserver.Client
	for i, app := range apps {
		clients = append(clients, authserver.Client{
			ID: fmt.Sprintf("spa-%d", i+1), Public: true, Grants: []string{"authorization_code", "refresh_token"},
			Scopes: []string{"profile", "orders:read"}, RedirectURIs: []string{app + "/"}, AllowedOrigins: []string{app},
		})
	}
	clients = append(clients, extra...)
	srv, err := authserver.New(authserver.Options{
		Issuer: issuer, AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshMaxTTL: 24 * time.Hour,
		RefreshReuseGrace: 10 * time.Second, Audience: []string{"api"}, Clients: clients,
		Lockout: authserver.Lockout{MaxFailures: 5, MaxFailuresPerIP: 100, Window: 15 * time.Minute},
		Login:   authserver.LoginOptions{ProductName: "Example Accounts"},
		Store:   st, Signer: km, Hasher: hasher, RefreshKey: refreshKey, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.Users().Add(ctx, "alice", alicePassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	serveOn(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/oauth2/authorize" {
			forms.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	return u.ID
}

// startExampleAPI builds and runs cmd/example-api against issuer, letting
// origins call it, and returns its URL once it serves.
func startExampleAPI(t *testing.T, issuer string, origins []string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example-api")
	build := exec.Command("go", "build", "-o", bin, "../example-api")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build example-api: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-issuer", issuer, "-addr", "127.0.0.1:0", "-allow-origins", strings.Join(origins, ","))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		line := lines.Text()
		if _, after, ok := strings.Cut(line, " addr="); ok && strings.Contains(line, "serving") {
			go io.Copy(io.Discard, stderr)
			return "http://" + strings.Fields(after)[0] + "/"
		}
	}
	t.Fatal("example-api exited before serving")
	return ""
}

// evilPage is a site no client lists: it frames the login page and posts
// to the token endpoint.
func evilPage(authorizeURL string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>evil</title><iframe id="f" src="%s" width="400" height="400"></iframe>`, authorizeURL)
	})
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	// Not t.TempDir: Chromium's helper processes may still write to the
	// profile for a moment after the browser has exited.
	profile, err := os.MkdirTemp("", "example-spa-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(800, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		chromedp.Cancel(ctx) // closes the browser
		cancelCtx()
		cancelAlloc() // waits for the browser process to exit
		removeProfile(t, profile)
	})
	return ctx
}

// removeProfile deletes the browser profile, retrying while the last of
// Chromium's helper processes finish writing to it.
func removeProfile(t *testing.T, dir string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("remove browser profile: %v", err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor awaits a JavaScript condition on the current page.
func waitFor(expr string) chromedp.Action {
	return chromedp.Poll(expr, nil, chromedp.WithPollingInterval(50*time.Millisecond))
}

// signedIn waits, across navigations, for the app to say it is signed
// in.
var signedIn = chromedp.WaitVisible(`//p[@id="status" and starts-with(., "Signed in")]`, chromedp.BySearch)

// apiAnswered waits for a 200 from example-api on the page.
var apiAnswered = chromedp.WaitVisible(`//pre[@id="api" and starts-with(., "200 ")]`, chromedp.BySearch)

// TestBrowser drives headless Chromium through the example SPA: sign in
// on the login page by keyboard, call example-api, refresh, sign in to a
// second app without the form; then, from a site no client lists, the
// login page cannot be framed and the token endpoint cannot be fetched.
func TestBrowser(t *testing.T) {
	ctx := newBrowser(t)
	asLn, issuer := listen(t, "127.0.0.1")
	appA, urlA := listen(t, "localhost")
	appB, urlB := listen(t, "localhost")
	evilLn, evilURL := listen(t, "localhost")
	var forms atomic.Int32
	aliceID := startAuthserver(t, asLn, issuer, []string{urlA, urlB}, &forms)
	api := startExampleAPI(t, issuer, []string{urlA, urlB})
	serveOn(t, appA, newHandler(config{Issuer: issuer, ClientID: "spa-1", API: api, Scope: "profile orders:read"}))
	serveOn(t, appB, newHandler(config{Issuer: issuer, ClientID: "spa-2", API: api, Scope: "profile"}))

	var loginPNG []byte
	var apiOut, location string
	var fitsPhone bool
	err := chromedp.Run(ctx,
		chromedp.Navigate(urlA+"/"),
		chromedp.WaitVisible("#signin"),
		chromedp.Click("#signin"),
		loaded(issuer+"/oauth2/authorize?"),
		chromedp.WaitVisible("#username"),
		chromedp.Location(&location),
		chromedp.FullScreenshot(&loginPNG, 100),
		// Readable on a phone: nothing wider than a 360-pixel screen.
		chromedp.EmulateViewport(360, 640),
		chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth && document.getElementById('password').getBoundingClientRect().right <= window.innerWidth`, &fitsPhone),
		chromedp.EmulateViewport(800, 900),
		// Keyboard only: the username field has the focus, Tab reaches
		// the password, Enter submits.
		chromedp.KeyEvent("alice"),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(alicePassword),
		chromedp.KeyEvent("\r"),
		signedIn,
		chromedp.Click("#call-api"),
		apiAnswered,
		chromedp.Text("#api", &apiOut),
	)
	if err != nil {
		t.Fatalf("sign in to app A: %v\n%s", err, pageText(ctx))
	}
	if !fitsPhone {
		t.Error("the login page is wider than a phone's screen")
	}
	if !strings.HasPrefix(location, issuer+"/oauth2/authorize?") {
		t.Fatalf("the login page was at %s", location)
	}
	if !strings.Contains(apiOut, `"subject":"`+aliceID+`"`) || !strings.Contains(apiOut, `"client_id":"spa-1"`) {
		t.Fatalf("example-api answered %s", apiOut)
	}
	if *screenshot != "" {
		if err := os.WriteFile(*screenshot, loginPNG, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	err = chromedp.Run(ctx,
		chromedp.Click("#refresh"),
		chromedp.WaitVisible(`//span[@id="refreshes" and .="1"]`, chromedp.BySearch),
		chromedp.Evaluate(`document.getElementById('api').textContent = ''`, nil),
		chromedp.Click("#call-api"),
		apiAnswered,
		chromedp.Text("#api", &apiOut),
	)
	if err != nil || !strings.Contains(apiOut, aliceID) || strings.Contains(apiOut, "Error") {
		t.Fatalf("refresh and call again: %v %s", err, apiOut)
	}

	// App B: the session cookie signs alice in without the form.
	before := forms.Load()
	var status string
	err = chromedp.Run(ctx,
		chromedp.Navigate(urlB+"/"),
		chromedp.WaitVisible("#signin"),
		chromedp.Click("#signin"),
		signedIn,
		chromedp.Text("#status", &status),
		chromedp.Location(&location),
	)
	if err != nil {
		t.Fatalf("sign in to app B: %v\n%s", err, pageText(ctx))
	}
	if forms.Load() != before {
		t.Fatal("app B's sign-in submitted a form: the session did not carry over")
	}
	if location != urlB+"/" {
		t.Fatalf("the code was left in the address bar: %s", location)
	}

	// Signing out of app B revokes its tokens and ends the session, after
	// the logout page's confirmation; the next sign-in needs the form.
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	err = chromedp.Run(sctx,
		chromedp.Click("#signout"),
		loaded(issuer+"/oauth2/logout?"),
		chromedp.WaitVisible(`//button[.="Sign out"]`, chromedp.BySearch),
		// Submit, not Click: the button may still move while the
		// stylesheet loads.
		chromedp.Submit(`//button[.="Sign out"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//p[@id="status" and .="Signed out"]`, chromedp.BySearch),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#username"),
	)
	if err != nil {
		t.Fatalf("sign out of app B: %v\n%s", err, pageText(ctx))
	}

	// An unlisted origin: no framing, no readable token response.
	authorizeURL := issuer + "/oauth2/authorize?client_id=spa-1&response_type=code&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&redirect_uri=" + urlA + "/&prompt=login"
	serveOn(t, evilLn, evilPage(authorizeURL))
	var fetched string
	err = chromedp.Run(ctx,
		chromedp.Navigate(evilURL+"/"),
		chromedp.WaitReady("#f"),
		chromedp.Evaluate(fmt.Sprintf(`fetch(%s + '/oauth2/token', {method: 'POST', body: new URLSearchParams({grant_type: 'refresh_token', client_id: 'spa-1', refresh_token: 'x'})}).then(r => 'read ' + r.status, e => 'blocked ' + e.name)`, jsString(issuer)), &fetched, awaitPromise),
	)
	if err != nil {
		t.Fatalf("evil page: %v", err)
	}
	if fetched != "blocked TypeError" {
		t.Fatalf("cross-origin fetch from an unlisted origin: %s, want blocked", fetched)
	}
	// frame-ancestors 'none': Chromium replaces the frame with its error
	// page.
	href, form, err := framedLogin(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	if form || href != "chrome-error://chromewebdata/" {
		t.Fatalf("the login page in another site's frame: at %q, form shown: %t", href, form)
	}
}

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// framedLogin inspects the evil page's frame of the login page: the URL
// its document ended at and whether it shows the login form.
func framedLogin(ctx context.Context, issuer string) (href string, form bool, err error) {
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		return "", false, err
	}
	for _, ti := range infos {
		if ti.Type != "iframe" || !strings.HasPrefix(ti.URL, issuer+"/oauth2/authorize") {
			continue
		}
		fctx, _ := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID)) // closed with the browser
		err = chromedp.Run(fctx,
			waitFor(`document.readyState === 'complete'`),
			chromedp.Evaluate(`location.href`, &href),
			chromedp.Evaluate(`document.querySelector('#username') !== null`, &form),
		)
		return href, form, err
	}
	return "", false, fmt.Errorf("no frame of %s/oauth2/authorize among %d targets", issuer, len(infos))
}

// loaded waits until the tab shows a document under prefix, completely
// loaded, so that the next step cannot act on the page it left.
func loaded(prefix string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var loc, state string
			err := chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate(`document.readyState`, &state))
			if err == nil && strings.HasPrefix(loc, prefix) && state == "complete" {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", prefix, ctx.Err())
			case <-tick.C:
			}
		}
	})
}

// pageText describes the current page for a failure message.
func pageText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var loc, text string
	chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate(`document.body ? document.body.innerText : ''`, &text))
	return "page " + loc + ":\n" + text
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
