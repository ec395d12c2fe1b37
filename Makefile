# authserver — see README.md.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         ?= bin/authserver
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build build-openssl run test lint bench fuzz clean loadtest loadtest-node

build: ## build bin/authserver (pure Go, static; see build-openssl)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/authserver

build-openssl: ## bin/authserver-openssl: RS256 via OpenSSL libcrypto (cgo; build: libssl-dev, run: libssl3)
	CGO_ENABLED=1 $(GO) build -tags openssl -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN)-openssl ./cmd/authserver

run: ## run the server in development mode: embedded store under ./data, demo client and user
	$(GO) run ./cmd/authserver serve --dev

test: ## the whole test suite, under the race detector; the signing backends (OpenSSL, BoringCrypto) too
	$(GO) test -race -count=1 ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -tags openssl ./keys/... ./cmd/authserver/
	GOEXPERIMENT=boringcrypto $(GO) test -count=1 ./keys/

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) vet -tags openssl ./keys/...
	$(GO) run $(STATICCHECK) ./...
	CGO_ENABLED=1 $(GO) run $(STATICCHECK) -tags openssl ./keys/...

bench: ## benchmarks, each beside its baseline (raw signing / verification)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem -tags openssl ./keys/
	GOEXPERIMENT=boringcrypto $(GO) test -run '^$$' -bench 'Sign|RawRSA' -benchmem ./keys/

fuzz: ## a short run of every fuzz target
	$(GO) test -run '^$$' -fuzz FuzzTokenRequest -fuzztime 60s ./authserver/
	$(GO) test -run '^$$' -fuzz FuzzAuthorizeRequest -fuzztime 60s ./authserver/

loadtest: build ## load-test bin/authserver with cmd/authbench (embedded store); e.g. LOADTEST_FLAGS="-store redis -d 20s"
	$(GO) run ./cmd/authbench -start $(BIN) $(LOADTEST_FLAGS)

loadtest-node: ## authserver beside node-oidc-provider, same machine, same run (installs it with npm into a temp dir)
	bash bench/compare.sh

clean:
	rm -rf bin
