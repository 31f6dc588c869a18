# sluice build, test, benchmark and fuzz entry points.
GO       ?= go
BIN      ?= bin
DATA     ?= ./data
FUZZTIME ?= 30s
BENCHTIME ?= 1s
PKGS     ?= ./...

.PHONY: all build run test vet bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Build and start the server on the embedded default data directory.
run: build
	./$(BIN)/sluiced --data-dir $(DATA)

# vet, every test under the race detector, and the committed fuzz seed corpora
# (go test runs each Fuzz target over testdata/fuzz as ordinary tests).
test: vet
	$(GO) test -race -count=1 -timeout 9m $(PKGS)

vet:
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# Run every fuzz target for FUZZTIME each.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

clean:
	rm -rf $(BIN)
