package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig([]string{"-start", "./bin/authserver"}, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.concurrency != 4 || c.duration != 10*time.Second || c.maxRequests != 0 || c.store != "embedded" {
		t.Errorf("defaults: c=%d d=%s n=%d store=%s", c.concurrency, c.duration, c.maxRequests, c.store)
	}
	if !slices.Equal(c.scenarios, allScenarios) {
		t.Errorf("scenarios = %v, want all", c.scenarios)
	}
	if c.label != "authserver (embedded store)" {
		t.Errorf("label = %q", c.label)
	}
	if got, _ := parseConfig([]string{"-start", "x", "-alg", "EdDSA", "-store", "redis"}, 8, io.Discard); got.label != "authserver (redis store, EdDSA)" {
		t.Errorf("label = %q", got.label)
	}
	if got, _ := parseConfig([]string{"-start", "x"}, 8, io.Discard); got.concurrency != 16 {
		t.Errorf("8 CPUs: -c defaults to %d, want 16", got.concurrency)
	}
}

func TestParseConfigURLMode(t *testing.T) {
	c, err := parseConfig([]string{
		"-url", "http://127.0.0.1:3000", "-pid", "77", "-client-id", "svc", "-client-secret", "s3cret",
		"-extra-form", "resource=urn:authbench:api", "-extra-form", "scope=a=b",
		"-scenarios", "jwks, client_credentials", "-c", "8", "-d", "2s", "-n", "500", "-json",
	}, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.pid != 77 || c.concurrency != 8 || c.duration != 2*time.Second || c.maxRequests != 500 || !c.json {
		t.Errorf("parsed %+v", c)
	}
	// Canonical order, whatever the order given.
	if !slices.Equal(c.scenarios, []string{scenarioClientCredentials, scenarioJWKS}) {
		t.Errorf("scenarios = %v", c.scenarios)
	}
	if got := c.extraForm.Get("resource"); got != "urn:authbench:api" {
		t.Errorf("extra resource = %q", got)
	}
	if got := c.extraForm.Get("scope"); got != "a=b" {
		t.Errorf("extra scope = %q: only the first = splits", got)
	}
	if c.label != "http://127.0.0.1:3000" {
		t.Errorf("label = %q", c.label)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no-target", nil, "exactly one of -start and -url"},
		{"both-targets", []string{"-start", "x", "-url", "http://127.0.0.1:1"}, "exactly one"},
		{"remote-url", []string{"-url", "http://example.com:8080"}, "loopback"},
		{"remote-ip", []string{"-url", "http://10.0.0.5:8080"}, "loopback"},
		{"not-http", []string{"-url", "ftp://127.0.0.1"}, "http or https"},
		{"bad-store", []string{"-start", "x", "-store", "etcd"}, `-store "etcd"`},
		{"bad-alg", []string{"-start", "x", "-alg", "HS256"}, `-alg "HS256"`},
		{"bad-signer", []string{"-start", "x", "-signer", "hsm"}, `-signer "hsm"`},
		{"pid-with-start", []string{"-start", "x", "-pid", "5"}, "-pid is for -url"},
		{"zero-clients", []string{"-start", "x", "-c", "0"}, "-c 0"},
		{"zero-duration", []string{"-start", "x", "-d", "0s"}, "-d 0s"},
		{"negative-n", []string{"-start", "x", "-n", "-1"}, "-n -1"},
		{"secret-without-id", []string{"-url", "http://127.0.0.1:1", "-client-secret", "s"}, "together"},
		{"unknown-scenario", []string{"-start", "x", "-scenarios", "implicit"}, `unknown scenario "implicit"`},
		{"no-scenario", []string{"-start", "x", "-scenarios", ","}, "no scenario"},
		{"bad-extra-form", []string{"-start", "x", "-extra-form", "resource"}, "want k=v"},
		{"stray-argument", []string{"-start", "x", "extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, 2, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseConfig(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestCheckLoopbackURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "https://localhost/x", "http://[::1]:3000", "http://127.0.0.2"} {
		if err := checkLoopbackURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://0.0.0.0:80", "http://192.168.1.1", "http://localhost.example.com", "/relative", "%zz"} {
		if err := checkLoopbackURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
