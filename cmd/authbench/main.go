// Command authbench is the load-test harness of authserver. It drives a
// server on 127.0.0.1 with concurrent clients, one scenario after another
// (client_credentials, refresh chains, password logins, JWKS), and reports
// per scenario the throughput, the latency percentiles, the errors by
// status and the server's CPU per token. In the same run it measures the
// machine's raw RSA-2048 signing rate, so that the figures that matter are
// ratios, which survive a shared and noisy machine.
//
// It starts the server itself:
//
//	authbench -start ./bin/authserver -store embedded
//
// or drives one that runs already (any OAuth2 server with RFC 8414 or
// OpenID discovery, such as node-oidc-provider for a comparison):
//
//	authbench -url http://127.0.0.1:8080 -pid PID -client-id ID -client-secret SECRET -password PW
//
// Every loop is bounded by -d (and -n), and the harness refuses any target
// other than a loopback address. See docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], runtime.GOMAXPROCS(0), os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authbench: "+err.Error())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if rep != nil {
		err = errors.Join(err, output(rep, cfg))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authbench: "+err.Error())
		os.Exit(1)
	}
}

// run sets up the target, then runs the scenarios, measuring the raw
// signing baseline (while the server is idle) before the first and after
// each token scenario. Progress goes to logw. A
// partial report comes back with an error that stopped the run midway.
func run(ctx context.Context, cfg config, logw io.Writer) (rep *report, err error) {
	b := &bench{cfg: cfg, hc: newHTTPClient(cfg.concurrency, cfg.timeout)}
	base := cfg.url
	if cfg.start != "" {
		srv, err := startServer(ctx, cfg, logw)
		defer func() {
			if serr := srv.stop(logw); serr != nil {
				err = errors.Join(err, serr)
			}
		}()
		if err != nil {
			return nil, err
		}
		base, b.serverPID = srv.baseURL, srv.pid()
		b.svc, b.login = srv.svc, srv.login
		b.username, b.password = benchUser, srv.password
	} else {
		b.serverPID = cfg.pid
		b.svc = creds{id: cfg.clientID, secret: cfg.clientSecret}
		b.login = creds{id: cfg.loginClientID, secret: cfg.loginClientSecret}
		b.username, b.password = cfg.username, cfg.password
		if cfg.pid != 0 {
			if _, err := procCPU(cfg.pid); err != nil {
				return nil, fmt.Errorf("-pid: %w", err)
			}
		}
	}
	if b.ep, err = discover(ctx, b.hc, base, cfg.wait); err != nil {
		return nil, err
	}
	rep = &report{
		Target: cfg.label, URL: base, Date: time.Now().UTC().Truncate(time.Second),
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Concurrency: cfg.concurrency, Duration: cfg.duration, ServerPID: b.serverPID,
		LoadBefore: loadAvg(),
	}
	defer func() { rep.LoadAfter = loadAvg() }()
	var last *signResult // the baseline run just before the next scenario
	baseline := func() error {
		if cfg.signDuration <= 0 {
			return nil
		}
		fmt.Fprintf(logw, "authbench: raw RSA-2048 signing, %d goroutines, %s\n", runtime.GOMAXPROCS(0), cfg.signDuration)
		sr, err := rawSignRate(ctx, cfg.signDuration, runtime.GOMAXPROCS(0))
		if err != nil {
			return err
		}
		rep.RawSign = append(rep.RawSign, sr)
		last = &sr
		return nil
	}
	if err := baseline(); err != nil {
		return rep, err
	}
	for _, name := range cfg.scenarios {
		fmt.Fprintf(logw, "authbench: %s, %d clients, %s (+%s warm-up)\n", name, cfg.concurrency, cfg.duration, cfg.warmup)
		res, err := b.runScenario(ctx, name)
		if err != nil {
			return rep, err
		}
		if res.Tokens && res.Skipped == "" {
			before := last
			if err := baseline(); err != nil {
				return rep, err
			}
			res.RawSign = meanSign(before, last)
		}
		rep.Scenarios = append(rep.Scenarios, res)
	}
	return rep, nil
}

// output prints the report, and writes it to -json-out.
func output(rep *report, cfg config) error {
	var err error
	if cfg.json {
		err = rep.writeJSON(os.Stdout)
	} else {
		err = rep.writeTable(os.Stdout)
	}
	if cfg.jsonOut == "" {
		return err
	}
	f, ferr := os.Create(cfg.jsonOut)
	if ferr != nil {
		return errors.Join(err, ferr)
	}
	return errors.Join(err, rep.writeJSON(f), f.Close())
}
