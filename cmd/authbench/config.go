package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Scenario names, in the order they run.
const (
	scenarioClientCredentials = "client_credentials"
	scenarioRefresh           = "refresh"
	scenarioPassword          = "password"
	scenarioJWKS              = "jwks"
)

var allScenarios = []string{scenarioClientCredentials, scenarioRefresh, scenarioPassword, scenarioJWKS}

// config is the parsed command line.
type config struct {
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	maxRequests int // per scenario; 0: bounded by duration only
	timeout     time.Duration
	scenarios   []string

	// Exactly one of start (a binary to run) and url (a running server).
	start     string
	store     string // with start: embedded or redis
	alg       string // with start: keys.algorithm
	signer    string // with start: keys.signer
	redisAddr string
	adminAddr string // with start: http.admin_addr (metrics, pprof)
	url       string
	pid       int // with url: the server process whose CPU is measured
	wait      time.Duration

	clientID, clientSecret string // confidential client: client_credentials
	loginClientID          string // client of the password and refresh grants
	loginClientSecret      string // empty: a public client
	username, password     string
	extraForm              url.Values // added to every token request

	signDuration time.Duration
	label        string
	json         bool
	jsonOut      string // also write the JSON report to this file
}

// parseConfig parses the arguments (without the program name). cpus is
// the GOMAXPROCS the defaults are derived from.
func parseConfig(args []string, cpus int, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("authbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  authbench -start ./bin/authserver [-store embedded|redis] [flags]\n  authbench -url http://127.0.0.1:8080 [-pid PID] [-client-id ID -client-secret S] [-password PW] [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	scenarios := strings.Join(allScenarios, ",")
	extra := formFlag{}
	fs.IntVar(&c.concurrency, "c", defaultConcurrency(cpus), "concurrent clients (workers)")
	fs.DurationVar(&c.duration, "d", 10*time.Second, "measured duration of each scenario")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured warm-up before each scenario")
	fs.IntVar(&c.maxRequests, "n", 0, "at most this many measured requests per scenario (0: no limit but -d)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "timeout of one request")
	fs.StringVar(&scenarios, "scenarios", scenarios, "comma-separated scenarios to run, among "+strings.Join(allScenarios, ","))
	fs.StringVar(&c.start, "start", "", "authserver binary to start on a free port of 127.0.0.1 (and stop at the end)")
	fs.StringVar(&c.store, "store", "embedded", "with -start: the store, embedded or redis")
	fs.StringVar(&c.alg, "alg", "RS256", "with -start: the signing algorithm (keys.algorithm): RS256, ES256 or EdDSA")
	fs.StringVar(&c.signer, "signer", "go", "with -start: the signing backend (keys.signer): go, or openssl for a binary built with -tags openssl")
	fs.StringVar(&c.redisAddr, "redis-addr", "127.0.0.1:6379", "with -start -store redis: the Redis server")
	fs.StringVar(&c.adminAddr, "admin-addr", "", "with -start: http.admin_addr of the server, a loopback host:port for /debug/pprof/ (profile it under load: docs/performance.md)")
	fs.StringVar(&c.url, "url", "", "base URL of a running server on 127.0.0.1 (its metadata gives the endpoints)")
	fs.IntVar(&c.pid, "pid", 0, "with -url: the server's process id, for its CPU per token (children included)")
	fs.DurationVar(&c.wait, "wait", 30*time.Second, "how long to wait for the server to answer")
	fs.StringVar(&c.clientID, "client-id", "", "with -url: confidential client for client_credentials")
	fs.StringVar(&c.clientSecret, "client-secret", "", "with -url: its secret (sent with HTTP Basic)")
	fs.StringVar(&c.loginClientID, "login-client-id", "demo-app", "with -url: client for the password and refresh scenarios")
	fs.StringVar(&c.loginClientSecret, "login-client-secret", "", "with -url: its secret, if it is confidential")
	fs.StringVar(&c.username, "username", "demo", "with -url: user of the password and refresh scenarios")
	fs.StringVar(&c.password, "password", "", "with -url: that user's password (without it those scenarios are skipped)")
	fs.Var(extra, "extra-form", "k=v added to every token request, e.g. resource=urn:x (repeatable)")
	fs.DurationVar(&c.signDuration, "sign-d", 3*time.Second, "duration of the raw RSA signing baseline (0: skip it)")
	fs.StringVar(&c.label, "label", "", "name of the target in the report (default: from the mode)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&c.jsonOut, "json-out", "", "also write the JSON report to this file")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.extraForm = url.Values(extra)
	list, err := parseScenarios(scenarios)
	if err != nil {
		return config{}, err
	}
	c.scenarios = list
	if c.label == "" {
		c.label = defaultLabel(c)
	}
	return c, c.validate()
}

// defaultConcurrency keeps every core of a small machine busy while a
// request is on the wire, without queueing so deep that latency is all
// queue: two clients per CPU, at least four.
func defaultConcurrency(cpus int) int {
	return max(4, 2*cpus)
}

func defaultLabel(c config) string {
	if c.start != "" {
		label := "authserver (" + c.store + " store"
		if c.alg != "RS256" {
			label += ", " + c.alg
		}
		if c.signer != "go" {
			label += ", " + c.signer + " signer"
		}
		return label + ")"
	}
	return c.url
}

func (c config) validate() error {
	var errs []error
	switch {
	case (c.start == "") == (c.url == ""):
		errs = append(errs, errors.New("give exactly one of -start and -url"))
	case c.start != "" && c.store != "embedded" && c.store != "redis":
		errs = append(errs, fmt.Errorf("-store %q: want embedded or redis", c.store))
	case c.url != "":
		if err := checkLoopbackURL(c.url); err != nil {
			errs = append(errs, fmt.Errorf("-url: %w", err))
		}
	}
	if c.start != "" && !slices.Contains([]string{"RS256", "ES256", "EdDSA"}, c.alg) {
		errs = append(errs, fmt.Errorf("-alg %q: want RS256, ES256 or EdDSA", c.alg))
	}
	if c.start != "" && c.signer != "go" && c.signer != "openssl" {
		errs = append(errs, fmt.Errorf("-signer %q: want go or openssl", c.signer))
	}
	if c.adminAddr != "" {
		if c.start == "" {
			errs = append(errs, errors.New("-admin-addr is for -start"))
		} else if err := checkLoopbackURL("http://" + c.adminAddr); err != nil {
			errs = append(errs, fmt.Errorf("-admin-addr: %w", err))
		}
	}
	if c.start != "" && c.pid != 0 {
		errs = append(errs, errors.New("-pid is for -url: with -start the harness knows its server"))
	}
	if c.concurrency < 1 {
		errs = append(errs, fmt.Errorf("-c %d: want at least 1", c.concurrency))
	}
	if c.duration <= 0 {
		errs = append(errs, fmt.Errorf("-d %s: want more than 0", c.duration))
	}
	if c.warmup < 0 || c.signDuration < 0 {
		errs = append(errs, errors.New("-warmup and -sign-d must not be negative"))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout %s: want more than 0", c.timeout))
	}
	if c.maxRequests < 0 {
		errs = append(errs, fmt.Errorf("-n %d: must not be negative", c.maxRequests))
	}
	if (c.clientID == "") != (c.clientSecret == "") {
		errs = append(errs, errors.New("give -client-id and -client-secret together"))
	}
	return errors.Join(errs...)
}

// parseScenarios splits a comma-separated list, refusing unknown names and
// keeping the canonical order.
func parseScenarios(s string) ([]string, error) {
	want := map[string]bool{}
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(allScenarios, name) {
			return nil, fmt.Errorf("unknown scenario %q (want %s)", name, strings.Join(allScenarios, ", "))
		}
		want[name] = true
	}
	if len(want) == 0 {
		return nil, errors.New("no scenario selected")
	}
	var out []string
	for _, name := range allScenarios {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// checkLoopbackURL refuses anything but http(s) to a loopback address: the
// harness sends load, and load goes to this machine only.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http or https URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: load goes to a loopback address (127.0.0.1) only", raw)
}

// formFlag collects repeated -extra-form k=v flags.
type formFlag url.Values

func (f formFlag) String() string { return url.Values(f).Encode() }

func (f formFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want k=v", s)
	}
	url.Values(f).Add(k, v)
	return nil
}
