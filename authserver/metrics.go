package authserver

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oauthkit/authserver/authserver/store"
)

// metrics are the server's Prometheus instruments, registered on a
// registry of its own so that several servers (tests, replicas in one
// process) do not collide.
type metrics struct {
	reg           *prometheus.Registry
	issued        *prometheus.CounterVec
	failures      *prometheus.CounterVec
	reuse         prometheus.Counter
	refresh       *prometheus.CounterVec
	lockouts      prometheus.Counter
	requests      *prometheus.HistogramVec
	storeDuration *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
}

func newMetrics(keyAge func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_tokens_issued_total", Help: "Access tokens issued, by grant and client.",
		}, []string{"grant", "client_id"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_request_errors_total", Help: "OAuth2 error responses, by endpoint and error code.",
		}, []string{"endpoint", "error", "status"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authserver_refresh_reuse_detected_total", Help: "Refresh-token replays detected; each revoked a family.",
		}),
		refresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_refresh_outcomes_total",
			Help: "Refresh-token redemptions, by outcome: rotated, replayed (a retry inside the grace, same answer), reused (a replay that revoked the family), rejected.",
		}, []string{"outcome"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authserver_login_lockouts_total", Help: "Password-grant attempts refused with 429 by the lockout.",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authserver_http_request_duration_seconds", Help: "HTTP request latency, by endpoint.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authserver_store_operation_duration_seconds", Help: "Store call latency, by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1},
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_store_errors_total", Help: "Failed store calls (unreachable, timeouts), by operation.",
		}, []string{"op"}),
	}
	// Every outcome is exported from the start, so that a rate over it is
	// 0 rather than absent before the first of its kind.
	for _, o := range []store.Outcome{store.Rotated, store.Replayed, store.Reused, store.Rejected} {
		m.refresh.WithLabelValues(o.String())
	}
	m.reg.MustRegister(m.issued, m.failures, m.reuse, m.refresh, m.lockouts, m.requests, m.storeDuration, m.storeErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authserver_signing_key_age_seconds", Help: "Time since the active signing key became active.",
		}, keyAge),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// observeStore records one store call that started at start.
func (m *metrics) observeStore(op string, start time.Time, err error) {
	m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !isExpected(err) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// MetricsHandler serves the Prometheus metrics of this server.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

// instrument times an endpoint.
func (s *Server) instrument(endpoint string, h http.HandlerFunc) http.HandlerFunc {
	hist := s.metrics.requests.WithLabelValues(endpoint)
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h(w, r)
		hist.Observe(time.Since(start).Seconds())
	}
}

// isExpected reports whether err is an answer rather than a failure of
// the store.
func isExpected(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyExists) ||
		errors.Is(err, store.ErrStaleCredentials) || errors.Is(err, store.ErrCodeUsed)
}
