package authserver_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestMetrics drives each instrumented path once and scrapes /metrics.
func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.login(t).str("refresh_token")
	e.refresh(t, rt)
	e.refresh(t, rt) // a retry inside the grace: the same answer
	e.clock.Advance(time.Minute)
	e.refresh(t, rt) // replay outside the grace: reuse detected
	e.post(t, "/oauth2/token", form("grant_type", "client_credentials"), "svc:"+svcSecret)
	e.post(t, "/oauth2/token", form("grant_type", "client_credentials"), "svc:wrong")
	for range 6 {
		e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", "wrong-password"), "")
	}

	body := e.scrape(t)
	for _, want := range []string{
		`authserver_tokens_issued_total{client_id="app",grant="password"} 1`,
		`authserver_tokens_issued_total{client_id="app",grant="refresh_token"} 2`,
		`authserver_tokens_issued_total{client_id="svc",grant="client_credentials"} 1`,
		`authserver_request_errors_total{endpoint="token",error="invalid_client",status="401"} 1`,
		`authserver_request_errors_total{endpoint="token",error="invalid_grant",status="429"} 1`,
		`authserver_refresh_reuse_detected_total 1`,
		`authserver_refresh_outcomes_total{outcome="rotated"} 1`,
		`authserver_refresh_outcomes_total{outcome="replayed"} 1`,
		`authserver_refresh_outcomes_total{outcome="reused"} 1`,
		`authserver_refresh_outcomes_total{outcome="rejected"} 0`,
		`authserver_login_lockouts_total 1`,
		`authserver_http_request_duration_seconds_count{endpoint="token"} 12`,
		`authserver_store_operation_duration_seconds_count{op="redeem"} 3`,
		`authserver_signing_key_age_seconds`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func (e *env) scrape(t *testing.T) string {
	t.Helper()
	ms := httptest.NewServer(e.srv.MetricsHandler())
	defer ms.Close()
	resp, err := ms.Client().Get(ms.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
