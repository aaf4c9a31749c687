# camstream: the common tasks. `make test` is what CI runs.
GO        ?= go
BIN       := bin
TESTFLAGS ?= -timeout 40m

.PHONY: all build deps test test-quick vet run run-client bench soak fuzz images clean

all: build

build:
	$(GO) build -o $(BIN)/ ./services/...

deps:
	scripts/install-deps.sh

# Everything, as CI runs it on a fresh Debian 12 machine: installs what is missing, then vet, the race-enabled
# suite (unit, end-to-end, window, browser and container tests) and the Mat leak check of every gocv package.
test: deps vet
	$(GO) test -race $(TESTFLAGS) ./...
	$(GO) test -tags matprofile -count=1 ./pkg/...

# The Go tests alone, on a machine that already has the dependencies.
test-quick:
	$(GO) test ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# The pair on this machine with the moving test pattern: the server in the background, a viewer window in front.
run: build
	@CAPTURE_SOURCE=$${CAPTURE_SOURCE:-testpattern} $(BIN)/server & pid=$$!; trap "kill $$pid" EXIT; sleep 1; $(BIN)/client

run-client: build
	$(BIN)/client

fuzz:
	@for f in $$($(GO) test -list 'Fuzz.*' ./pkg/wire | grep ^Fuzz); do $(GO) test -run=^$$ -fuzz=^$$f$$ -fuzztime=$${FUZZTIME:-60s} -fuzzminimizetime=5s ./pkg/wire || exit 1; done
	@for f in $$($(GO) test -list 'Fuzz.*' ./pkg/jpeg | grep ^Fuzz); do $(GO) test -run=^$$ -fuzz=^$$f$$ -fuzztime=$${FUZZTIME:-60s} -fuzzminimizetime=5s ./pkg/jpeg || exit 1; done

images:
	docker-compose build || docker compose build

clean:
	rm -rf $(BIN)
