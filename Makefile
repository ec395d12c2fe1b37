# authserver — see README.md.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         ?= bin/authserver
FUZZTIME    ?= 30s
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

IMAGE       ?= authserver:latest

.PHONY: build build-openssl run test test-image lint bench fuzz clean loadtest loadtest-node chart image chaos

build: ## build bin/authserver (pure Go, static; see build-openssl)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/authserver

build-openssl: ## bin/authserver-openssl: RS256 via OpenSSL libcrypto (cgo; build: libssl-dev, run: libssl3)
	CGO_ENABLED=1 $(GO) build -tags openssl -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN)-openssl ./cmd/authserver

image: ## container image $(IMAGE) FROM scratch, binary built here (static, OpenSSL signer); podman or docker; pulls nothing
	IMAGE=$(IMAGE) VERSION=$(VERSION) GO=$(GO) deploy/image.sh

run: ## run the server in development mode: embedded store under ./data, demo client and user
	$(GO) run ./cmd/authserver serve --dev

test: ## the whole suite under the race detector; again with -tags openssl, only the tests the tag changes (.ci/openssl-tests); keys on BoringCrypto; the allocation ceilings without -race
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run TestAllocationCeilings ./authserver/
	@runs=$$(.ci/openssl-tests) || exit 1; \
	echo "$$runs" | while read -r pkg run; do \
		echo "CGO_ENABLED=1 $(GO) test -race -count=1 -tags openssl -run '$$run' $$pkg"; \
		CGO_ENABLED=1 $(GO) test -race -count=1 -tags openssl -run "$$run" $$pkg || exit 1; \
	done
	GOEXPERIMENT=boringcrypto $(GO) test -count=1 ./keys/
	$(MAKE) test-image

test-image: ## build the image and run containers of it (podman; skipped with a reason where podman is absent)
	$(GO) test -count=1 -timeout 30m -tags image ./internal/imagetest/

lint: ## gofmt, go mod tidy (no diff), go vet, staticcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) vet -tags openssl ./keys/... ./cmd/authserver/
	$(GO) run $(STATICCHECK) ./...
	CGO_ENABLED=1 $(GO) run $(STATICCHECK) -tags openssl ./keys/...

bench: ## benchmarks, each beside its baseline (raw signing / verification)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem -tags openssl ./keys/
	GOEXPERIMENT=boringcrypto $(GO) test -run '^$$' -bench 'Sign|RawRSA' -benchmem ./keys/

fuzz: ## every fuzz target (as go test -list finds them), one after the other, FUZZTIME each (default 30s)
	@list=$$($(GO) test -list '^Fuzz' ./...) || { echo "$$list"; exit 1; }; \
	targets=$$(echo "$$list" | awk '/^Fuzz/ { f[n++] = $$1; next } /^ok/ { for (i = 0; i < n; i++) print $$2, f[i]; n = 0 }'); \
	if [ -z "$$targets" ]; then echo "make fuzz: no fuzz targets found" >&2; exit 1; fi; \
	echo "$$targets" | while read -r pkg target; do \
		echo "== $$target ($$pkg), $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

CHAOS_DURATION     ?= 2m
CHAOS_CLIENTS      ?= 50
CHAOS_MIN_REPLICAS ?= 2

chaos: ## the chaos run (docs/operations.md): Redis Sentinel, 3 replicas, faults at random, one table; CHAOS_DURATION, CHAOS_CLIENTS, CHAOS_MIN_REPLICAS
	CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_CLIENTS=$(CHAOS_CLIENTS) CHAOS_MIN_REPLICAS=$(CHAOS_MIN_REPLICAS) AUTHSERVER_REQUIRE_REDIS=1 \
		$(GO) test -count=1 -timeout 0 -run '^TestChaos$$' -v ./cmd/authserver/

loadtest: build ## load-test bin/authserver with cmd/authbench (embedded store); e.g. LOADTEST_FLAGS="-store redis -d 20s"
	$(GO) run ./cmd/authbench -start $(BIN) $(LOADTEST_FLAGS)

loadtest-node: ## authserver beside node-oidc-provider, same machine, same run (installs it with npm into a temp dir)
	bash bench/compare.sh

CHART_FLAGS ?= -d 5s -warmup 2s -sign-d 1s

chart: ## docs/performance-sweep.svg: client_credentials tokens/s and p99 against 1-64 connections, authserver (both signers, both stores) beside node-oidc-provider
	SWEEP="1 2 4 8 16 32 64" AUTHBENCH_FLAGS="$(CHART_FLAGS)" bash bench/compare.sh

clean:
	rm -rf bin
