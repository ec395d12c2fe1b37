package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleReport() *report {
	raw := &signResult{Goroutines: 2, PerSec: 1000, CPUPerSig: 2 * time.Millisecond}
	return &report{
		Target: "authserver (embedded store)", URL: "http://127.0.0.1:1", CPUs: 2, GOMAXPROCS: 2, Concurrency: 4,
		Duration: 10 * time.Second, RawSign: []signResult{*raw},
		Scenarios: []scenarioResult{
			{Name: scenarioClientCredentials, Tokens: true, Requests: 5001, OK: 5000, OKPerSec: 500, ReqPerSec: 500.1,
				Errors: errorCounts{"503": 1}, ServerCPUPerOK: 3 * time.Millisecond, RawSign: raw},
			{Name: scenarioPassword, Tokens: true, Skipped: "no -password"},
			{Name: scenarioJWKS, Requests: 9000, OK: 9000, OKPerSec: 900, ServerCPUPerOK: 50 * time.Microsecond},
		},
	}
}

func TestRatios(t *testing.T) {
	r := sampleReport()
	cc, jwks := r.Scenarios[0], r.Scenarios[2]
	if got := r.signRatio(cc); got != 0.5 {
		t.Errorf("signRatio = %v, want 500/1000", got)
	}
	if got := r.cpuRatio(cc); got != 1.5 {
		t.Errorf("cpuRatio = %v, want 3ms/2ms", got)
	}
	if r.signRatio(jwks) != 0 || r.cpuRatio(jwks) != 0 {
		t.Error("jwks issues no token: want no ratio")
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().writeTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"503:1", "0.50", "1.50", "3.00ms", "skipped password: no -password"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().writeJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Target    string `json:"target"`
		Scenarios []struct {
			Name      string         `json:"name"`
			Errors    map[string]int `json:"errors"`
			SignRatio float64        `json:"ok_per_sec_over_raw_sign_per_sec"`
			CPURatio  float64        `json:"server_cpu_per_ok_over_raw_cpu_per_sign"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Target != "authserver (embedded store)" || len(got.Scenarios) != 3 {
		t.Fatalf("decoded %+v", got)
	}
	cc := got.Scenarios[0]
	if cc.Name != scenarioClientCredentials || cc.Errors["503"] != 1 || cc.SignRatio != 0.5 || cc.CPURatio != 1.5 {
		t.Errorf("client_credentials = %+v", cc)
	}
}
