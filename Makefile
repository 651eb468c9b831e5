# The two set-up commands of the README, and a few helpers.
SWIFT ?= swift

.PHONY: deps run test build release format

deps:
	@scripts/ensure-deps.sh

# Run the default pipeline on a sample; pictures land in out/.
run: deps
	$(SWIFT) run optimizer samples/tree-lstm.dg --dump-dir out --stats-json out/stats.json --emit-ir out/final.dg

# Unit, property and golden tests, then end-to-end checks of the command.
test: deps
	$(SWIFT) test
	scripts/cli-check.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift Benchmarks/Package.swift Benchmarks/Benchmarks
