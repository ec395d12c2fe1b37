package adminapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// maxIdempotencyKey bounds the length of an Idempotency-Key.
const maxIdempotencyKey = 255

// inFlightWait bounds how long a retry waits for the first request with
// its key to be answered before it is told to retry later.
const inFlightWait = 10 * time.Second

// recorder keeps what a handler answers, to store it for retries, and
// passes it on.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// idempotent runs handle for a POST with an Idempotency-Key once per key
// and client: the first request reserves the key, runs, and stores its
// answer for IdempotencyTTL; a retry with the same request gets that
// answer again (status, body, Location and ETag, with
// Idempotent-Replayed: true), one with another request a problem. Answers of 5xx are not kept, so that a retry runs again.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, c *caller, handle func(http.ResponseWriter, *http.Request, *caller) error) error {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey || !printable(key) {
		return problem("invalid-idempotency-key", "an Idempotency-Key is 1 to 255 printable ASCII characters")
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	sum := sha256.New()
	// If-Match is part of the request: a retry that names another version
	// is another request.
	for _, s := range []string{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("If-Match")} {
		sum.Write([]byte(strconv.Itoa(len(s)) + ":" + s))
	}
	sum.Write(body)
	now := a.opts.Now()
	rec := store.IdempotencyRecord{
		Key:         c.ClientID + "\x00" + key,
		Fingerprint: hex.EncodeToString(sum.Sum(nil)),
		Expires:     now.Add(IdempotencyTTL),
	}
	existing, reserved, err := a.reserve(r.Context(), rec)
	if err != nil {
		return err
	}
	if !reserved {
		if existing.Fingerprint != rec.Fingerprint {
			return problem("idempotency-key-reused", "this Idempotency-Key was sent with another request: use a new key per request")
		}
		if existing.Status == 0 {
			return problem("idempotency-in-flight", "the first request with this Idempotency-Key is still under way: retry later")
		}
		w.Header().Set("Idempotent-Replayed", "true")
		if existing.Location != "" {
			w.Header().Set("Location", existing.Location)
		}
		if existing.ETag != "" {
			w.Header().Set("ETag", existing.ETag)
		}
		w.Header().Set("Content-Type", existing.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(existing.Status)
		w.Write(existing.Body)
		return nil
	}
	rw := &recorder{ResponseWriter: w}
	err = handle(rw, r, c)
	if err != nil {
		writeProblem(rw, r, a.log, err)
	}
	// The request's own context may be gone (the client hung up): the
	// record is kept all the same, for the retry that follows.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.opts.StoreTimeout)
	defer cancel()
	if rw.status >= 500 || rw.status == 0 {
		if err := a.opts.Store.ReleaseIdempotencyKey(ctx, rec.Key); err != nil {
			a.log.Warn("release idempotency key", "error", err)
		}
		return nil
	}
	rec.Status, rec.Body = rw.status, rw.body.Bytes()
	rec.ContentType, rec.Location, rec.ETag = rw.Header().Get("Content-Type"), rw.Header().Get("Location"), rw.Header().Get("ETag")
	if err := a.opts.Store.CompleteIdempotencyKey(ctx, rec); err != nil {
		a.log.Error("store idempotency record", "error", err)
	}
	return nil
}

// reserve reserves rec's key, or returns the record there; a record under
// way is awaited for a while, so that a retry that overtakes its first
// attempt (a client timeout shorter than the request) gets the answer.
func (a *API) reserve(ctx context.Context, rec store.IdempotencyRecord) (store.IdempotencyRecord, bool, error) {
	deadline := time.Now().Add(inFlightWait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, a.opts.StoreTimeout)
		existing, reserved, err := a.opts.Store.ReserveIdempotencyKey(sctx, rec, a.opts.Now())
		cancel()
		if err != nil {
			return store.IdempotencyRecord{}, false, storeProblem(err)
		}
		if reserved || existing.Status != 0 || existing.Fingerprint != rec.Fingerprint || time.Now().After(deadline) {
			return existing, reserved, nil
		}
		select {
		case <-ctx.Done():
			return existing, false, nil
		case <-tick.C:
		}
	}
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
