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
	$(GO) test -race -count=1 $(TESTFLAGS) ./...
	$(GO) test -tags matprofile -count=1 ./pkg/...
	$(GO) test -tags matprofile -count=1 -run TestViewerClosesEveryMat ./test/hostile

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

# The end-to-end benchmark (docs/BENCHMARKS.md): builds server, client and the OpenCV floor into a temporary
# directory, makes its clip with ffmpeg, runs every scenario (ours and the seed's protocol), prints the table and the
# path of its results.json. 5 to 8 minutes; BENCH_* variables (bench/run.py) tune it.
bench:
	GO=$(GO) /usr/bin/python3 bench/run.py

# The soak (outside CI): a server, 10 viewers at 30 fps and one reconnecting every few seconds for SOAK_DURATION
# (default 10m); prints the server's memory, goroutines and descriptors and each viewer's fps every 30 s, and fails
# if they grow. SOAK_VIEWERS, SOAK_SIZE, SOAK_REPORT and SOAK_RECONNECT tune it (test/soak).
soak:
	$(GO) test -tags soak -run Soak -count=1 -v -timeout $${SOAK_TIMEOUT:-20m} ./test/soak

fuzz:
	@for f in $$($(GO) test -list 'Fuzz.*' ./pkg/wire | grep ^Fuzz); do $(GO) test -run=^$$ -fuzz=^$$f$$ -fuzztime=$${FUZZTIME:-60s} -fuzzminimizetime=5s ./pkg/wire || exit 1; done
	@for f in $$($(GO) test -list 'Fuzz.*' ./pkg/jpeg | grep ^Fuzz); do $(GO) test -run=^$$ -fuzz=^$$f$$ -fuzztime=$${FUZZTIME:-60s} -fuzzminimizetime=5s ./pkg/jpeg || exit 1; done
	@for f in $$($(GO) test -list 'Fuzz.*' ./pkg/envconfig | grep ^Fuzz); do $(GO) test -run=^$$ -fuzz=^$$f$$ -fuzztime=$${FUZZTIME:-60s} -fuzzminimizetime=5s ./pkg/envconfig || exit 1; done

images:
	docker-compose build || docker compose build

clean:
	rm -rf $(BIN)
