package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// signResult is the baseline: what the machine's cores do with nothing but
// RSA-2048 PKCS#1 v1.5 signatures (Go crypto/rsa). It is measured in the
// same run as the load, right before and right after each token scenario,
// so that the ratio cancels most of a shared machine's noise.
type signResult struct {
	Goroutines int           `json:"goroutines"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Signatures int64         `json:"signatures"`
	PerSec     float64       `json:"per_sec"`
	CPUPerSig  time.Duration `json:"cpu_per_signature_ns"` // 0 if /proc is unreadable
}

// rawSignRate signs a token-sized input from n goroutines for d.
func rawSignRate(ctx context.Context, d time.Duration, n int) (signResult, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signResult{}, fmt.Errorf("generate RSA key: %w", err)
	}
	// About the size of the signing input of one of our access tokens.
	input := []byte(strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 20))
	cpu0, cpuErr := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	var count atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				sum := sha256.Sum256(input)
				if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
					errs[i] = err
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	r := signResult{Goroutines: n, Elapsed: time.Since(start), Signatures: count.Load()}
	for _, err := range errs {
		if err != nil {
			return r, fmt.Errorf("sign: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.PerSec = float64(r.Signatures) / r.Elapsed.Seconds()
	if cpu1, err := selfCPU(); err == nil && cpuErr == nil && r.Signatures > 0 {
		r.CPUPerSig = (cpu1 - cpu0) / time.Duration(r.Signatures)
	}
	return r, nil
}

// meanSign averages two baseline runs (either may be nil).
func meanSign(a, b *signResult) *signResult {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	m := signResult{
		Goroutines: a.Goroutines,
		Elapsed:    a.Elapsed + b.Elapsed,
		Signatures: a.Signatures + b.Signatures,
		PerSec:     (a.PerSec + b.PerSec) / 2,
	}
	if a.CPUPerSig != 0 && b.CPUPerSig != 0 {
		m.CPUPerSig = (a.CPUPerSig + b.CPUPerSig) / 2
	}
	return &m
}
