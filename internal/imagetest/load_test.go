//go:build image

package imagetest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type loadResult struct {
	ok, okAfterStop, failed int64
}

// loadThroughStop sends token requests from six clients until a balancer
// probing /readyz every 100ms takes the server out, calling stop once 100
// requests succeeded. stop returns when the server has exited.
func loadThroughStop(t *testing.T, base string, form url.Values, id, secret string, stop func()) loadResult {
	t.Helper()
	var routed, stopping atomic.Bool
	routed.Store(true)
	var ok, okAfter, failed atomic.Int64
	warm := make(chan struct{})
	var warmOnce, errOnce sync.Once
	var wg sync.WaitGroup
	body := form.Encode()
	for range 6 {
		wg.Go(func() {
			for routed.Load() {
				req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(id, secret)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					errOnce.Do(func() { t.Errorf("request failed: %v %v", err, resp) })
					continue
				}
				if stopping.Load() {
					okAfter.Add(1)
				}
				if ok.Add(1) >= 100 {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for routed.Load() {
			time.Sleep(100 * time.Millisecond) // the probe period of a balancer
			resp, err := http.Get(base + "/readyz")
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				routed.Store(false)
			}
		}
	}()
	select {
	case <-warm:
	case <-time.After(60 * time.Second):
		routed.Store(false)
		t.Fatal("no load: 100 requests did not succeed in 60s")
	}
	stopping.Store(true)
	stop()
	routed.Store(false)
	wg.Wait()
	<-probeDone
	return loadResult{ok: ok.Load(), okAfterStop: okAfter.Load(), failed: failed.Load()}
}
