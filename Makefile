# authserver — see README.md.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         ?= bin/authserver
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build run test lint bench fuzz clean loadtest loadtest-node

build: ## build bin/authserver (pure Go, static)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/authserver

run: ## run the server in development mode: embedded store under ./data, demo client and user
	$(GO) run ./cmd/authserver serve --dev

test: ## the whole test suite, under the race detector
	$(GO) test -race -count=1 ./...

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: ## benchmarks, each beside its baseline (raw signing / verification)
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz: ## a short run of every fuzz target
	$(GO) test -run '^$$' -fuzz FuzzTokenRequest -fuzztime 60s ./authserver/

loadtest: build ## load-test bin/authserver with cmd/authbench (embedded store); e.g. LOADTEST_FLAGS="-store redis -d 20s"
	$(GO) run ./cmd/authbench -start $(BIN) $(LOADTEST_FLAGS)

loadtest-node: ## authserver beside node-oidc-provider, same machine, same run (installs it with npm into a temp dir)
	bash bench/compare.sh

clean:
	rm -rf bin
