# withauth: `make test` is the test command (CI runs it), `make demo` the local demo.
SHELL := /bin/bash
MODULE := github.com/seed0ec25cca/withauth
YAEGI_VERSION := v0.16.1
BIN := $(CURDIR)/.bin
# WITHAUTH_CACHE is the one cache directory of builds, logs and staged copies (scripts read it too).
export WITHAUTH_CACHE ?= $(HOME)/.cache/withauth
CACHE := $(WITHAUTH_CACHE)
YAEGI := $(BIN)/yaegi-$(YAEGI_VERSION)
# staticcheck, pinned by its module version (the module proxy refuses the 2025.1.1 tag).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)

.PHONY: test fmt-check vet lint unit checker withauth-check yaegi-test fuzz e2e demo bench traefik hydra kubernetes redis

# make test runs every stage below quietly (scripts/test.sh), then prints a summary table and
# "N passed, M failed, K skipped"; each stage's output is in $(WITHAUTH_CACHE)/test-logs/.
test:
	@bash scripts/test.sh

fmt-check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

vet:
	go vet ./...
	cd e2e && go vet ./...
	cd cmd/withauth-check && go vet ./...

$(STATICCHECK):
	mkdir -p $(BIN)
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $(STATICCHECK)

# lint: staticcheck over the plugin, and the constructs Yaegi v0.16.1 cannot run (or runs
# wrongly) in every root Go file, tests included (yaegi test interprets them).
lint: $(STATICCHECK)
	$(STATICCHECK) ./...
	cd cmd/withauth-check && $(STATICCHECK) ./...
	cd e2e && go run ./cmd/yaegilint .. ../internal/jose

unit:
	go test -race -count=1 -v ./...

# withauth-check (cmd/withauth-check, a module of its own: it needs Traefik's decoders), its
# tests (the examples, the newcomer review's mistakes, labels, Kubernetes), and the binary.
checker: withauth-check
	cd cmd/withauth-check && go test -count=1 -v ./...

withauth-check:
	cd cmd/withauth-check && CGO_ENABLED=0 go build -trimpath -o $(BIN)/withauth-check .

$(YAEGI):
	mkdir -p $(BIN)
	GOBIN=$(BIN) go install github.com/traefik/yaegi/cmd/yaegi@$(YAEGI_VERSION)
	mv $(BIN)/yaegi $(YAEGI)

# yaegi test needs a GOPATH layout: the plugin staged as Traefik's local plugins are laid out,
# with its tests (e2e/cmd/stageplugin, which the e2e suite and make bench use too); the root
# package, then the token core.
yaegi-test: $(YAEGI)
	cd e2e && go run ./cmd/stageplugin -tests .. $(CACHE)/yaegi-gopath
	cd $(CACHE)/yaegi-gopath/src/$(MODULE) && { GOPATH=$(CACHE)/yaegi-gopath GO111MODULE=off $(YAEGI) test -v . && cd internal/jose && GOPATH=$(CACHE)/yaegi-gopath GO111MODULE=off $(YAEGI) test -v .; } > $(CACHE)/yaegi-test.log 2>&1; rc=$$?; grep -E '^(--- FAIL|FAIL|ok|PASS)' $(CACHE)/yaegi-test.log; [ $$rc -eq 0 ] || tail -n 60 $(CACHE)/yaegi-test.log; echo "yaegi: $$(grep -c -- '--- PASS' $(CACHE)/yaegi-test.log) passed, $$(grep -c -- '--- FAIL' $(CACHE)/yaegi-test.log) failed"; exit $$rc

# Fuzzing (fuzz_test.go): each target for a fixed number of executions (seconds printed; a
# count, not a duration, since a -fuzztime duration can end in a spurious "context deadline
# exceeded" in Go 1.26: go.dev/issue/75804). A failing input lands in testdata/fuzz/<target>/,
# which `make unit` replays from then on. Longer runs: make fuzz FUZZTIME=10m (every target), or
# one target: go test -run='^$$' -fuzz='^FuzzToken$$' -fuzztime=1h -fuzzminimizetime=60s .
# New-coverage inputs are not minimized in short runs (minimizing them stalls a short run).
FUZZTIME ?=
FUZZMINIMIZETIME ?= 0
FUZZ_TARGETS := .:FuzzToken:40000x .:FuzzSignedClaims:4000x .:FuzzBearerToken:40000x .:FuzzParseJWKS:30000x .:FuzzParsePublicKeyPEM:30000x \
	.:FuzzDPoPProof:20000x .:FuzzClaimConditions:20000x ./internal/jose:FuzzParse:40000x ./internal/jose:FuzzRS256Shortcut:20000x \
	./internal/jose:FuzzParseJWKS:30000x ./internal/jose:FuzzParseProofHeader:30000x
fuzz:
	@mkdir -p $(CACHE)
	@for spec in $(FUZZ_TARGETS); do \
		pkg=$${spec%%:*}; rest=$${spec#*:}; target=$${rest%%:*}; budget="$(FUZZTIME)"; [ -n "$$budget" ] || budget=$${rest#*:}; \
		log=$(CACHE)/fuzz-$$(basename $$pkg)-$$target.log; start=$$(date +%s); \
		if ! go test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$$budget -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg > $$log 2>&1; then \
			tail -n 40 $$log; echo "fuzz: $$target failed; the input is in $$pkg/testdata/fuzz/$$target/"; exit 1; \
		fi; \
		echo "fuzz: $$pkg $$target: $$(grep -o 'execs: [0-9]*' $$log | tail -n 1 | cut -d' ' -f2) executions (budget $$budget) in $$(( $$(date +%s) - start )) s"; \
	done

traefik:
	@e2e/scripts/build-traefik.sh >/dev/null

# Ory Hydra, the e2e suite's real OpenID provider (built once, cached like Traefik).
hydra:
	@e2e/scripts/build-hydra.sh >/dev/null

# etcd, kube-apiserver and kubectl, the e2e suite's real Kubernetes API server (cached too).
kubernetes:
	@e2e/scripts/build-kubernetes.sh >/dev/null

# redis-server, the replay store two Traefik replicas share in e2e (Debian's package, installed
# if missing; the tests start their own on loopback).
redis:
	@e2e/scripts/install-redis.sh >/dev/null

# End-to-end: the plugin in a real Traefik (file provider, examples/, Docker labels through
# docker-compose). Docker tests skip without an engine, except under CI=true.
# Docker-label tests need a Docker engine and docker-compose (Debian: apt-get install
# docker.io docker-compose); without them they skip, and fail under CI=true.
e2e: traefik hydra kubernetes redis
	cd e2e && go test -count=1 -timeout 15m -v ./cmd/... ./internal/... ./bench/internal/... .

# The local demo: Traefik with withauth on 127.0.0.1, a demo IdP and backend; DEMO_EXIT=1 exits after the table.
demo: traefik
	cd e2e && go build -o $(BIN)/withauth-demo ./cmd/demo
	$(BIN)/withauth-demo

# Performance figures (see BENCHMARKS.md): in-process under Yaegi, token cache memory, real Traefik.
# Prints BENCHMARKS.md-ready markdown; knobs BENCH_COUNT, BENCH_TIME, BENCH_ROUNDS, BENCH_DURATION, BENCH_SKIP.
bench: $(YAEGI) redis
	@YAEGI=$(YAEGI) bash e2e/bench/run.sh
