# Pleiades build and test entry points. `make test` is what CI runs (through .ci/run).
GO ?= go
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION ?= v0.8.2
BIN := bin/pleiades
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/pleiades-pbx/pleiades/internal/core.Version=$(VERSION)

.PHONY: all build run test vet staticcheck unit nocgo fuzz bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/pleiades

# Run a server with the built-in defaults (state under ./var/pleiades) and a console.
run: build
	./$(BIN) -cvvv

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# Unit, driver and integration tests (the integration suites under test/ start real
# pleiades processes).
unit:
	$(GO) test -race -count=1 -timeout 30m ./...

# The ODBC driver's tests again as the cgo-free build runs them (unixODBC loaded at run time;
# -race needs cgo, so `unit` runs them with cgo).
nocgo:
	CGO_ENABLED=0 $(GO) test -count=1 ./internal/realtime/odbc/...

test: vet staticcheck unit nocgo

# Short fuzz runs of every fuzz target (the corpus lives in testdata/fuzz).
# every fuzz target for FUZZTIME each (new inputs that fail are added to testdata/fuzz)
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | cut -c6-); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin var
