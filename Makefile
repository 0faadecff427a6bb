# The commands the README names. `make ci` is what CI runs (.ci/run).
.PHONY: run test lint test-postgres test-sdk test-console console bench fuzz build dist ci

PG_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
FUZZTIME ?= 60s

run:
	go run ./cmd/webhookd serve

build:
	go build -o bin/webhookd ./cmd/webhookd

# Static release binaries (linux, darwin × amd64, arm64) in dist/, with
# SHA256SUMS; VERSION and COMMIT default to git describe and git rev-parse.
dist:
	bash scripts/dist.sh

test:
	go test -race ./...

# The pinned golangci-lint (.golangci.yml), installed from the module proxy when missing.
lint:
	PATH="$$(go env GOPATH)/bin:$$PATH"; golangci-lint version 2>/dev/null | grep -q 'version 2.15.0 ' || \
		go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0; \
		PATH="$$(go env GOPATH)/bin:$$PATH" golangci-lint run ./...

test-postgres:
	WEBHOOKD_TEST_POSTGRES_URL='$(PG_URL)' go test -race -count=1 ./postgres/... ./cmd/webhookd/... ./api/integration/... ./internal/maintenance/...

# The SDK suite runs every call through bin/openapiproxy, which fails it on
# any exchange that api/openapi.yaml does not describe.
test-sdk: build
	go build -o bin/openapiproxy ./internal/openapitest/openapiproxy
	cd sdktest && npm ci --no-audit --no-fund && WEBHOOKD_BIN=$$PWD/../bin/webhookd OPENAPIPROXY_BIN=$$PWD/../bin/openapiproxy npm test

# The console: rebuild console/dist from console/web (commit the result).
console:
	cd console/web && npm ci --no-audit --no-fund && npm run build

# The console's end-to-end suite: Playwright driving /usr/bin/chromium
# (Debian's chromium package), against a real binary.
test-console: build
	cd console/web && npm ci --no-audit --no-fund && npm run check && WEBHOOKD_BIN=$$PWD/../../bin/webhookd npm test

bench: build
	./bin/webhookd bench

# Every fuzz target of a parser of outside input, FUZZTIME each.
FUZZ_TARGETS = api:FuzzDecodeObject api:FuzzDecodeObjectAgrees api:FuzzPageToken api:FuzzParseBatchPublish \
	api:FuzzParseBatchGenerateContent api:FuzzParseBatchCreate api:FuzzParseInteraction \
	api:FuzzParseVideo api:FuzzParseUploadStart api:FuzzParseUploadCommand \
	receiver:FuzzSignatureHeader receiver:FuzzJWT receiver:FuzzParseJWKS receiver:FuzzVerifyBody receiver:FuzzCacheMaxAge \
	signing:FuzzParseSecret netguard:FuzzClassify internal/tracing:FuzzNormalize lro:FuzzBatchInputFile .:FuzzSameJSON sqlite:FuzzDecodeEvents

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; echo "== $$fn ($$pkg)"; \
		go test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg/; \
	done

ci:
	bash .ci/run
