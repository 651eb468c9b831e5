# The two set-up commands of the README, and a few helpers.
SWIFT ?= swift

.PHONY: deps run test build release format results guard

# OpenBLAS picks its kernels from a table of CPU models and falls back to its generic, several
# times slower ones on a model newer than the table (docs/cpu-backend.md). Unless it is set,
# name the kernels the CPU's vector extensions allow, as the optimizer's warning suggests.
OPENBLAS_CORETYPE ?= $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo SkylakeX || { grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo Haswell; })
ifneq ($(OPENBLAS_CORETYPE),)
export OPENBLAS_CORETYPE
endif

deps:
	@scripts/ensure-deps.sh

# Run the default pipeline on a sample; pictures land in out/.
run: deps
	$(SWIFT) run optimizer samples/tree-lstm.dg --dump-dir out --stats-json out/stats.json --emit-ir out/final.dg

# Unit, property and golden tests, end-to-end checks of the command, and the regression guard.
test: deps
	$(SWIFT) test
	scripts/cli-check.sh
	$(SWIFT) run -c release -q optimizer report --check scripts/results-baseline.txt -q

# The regression guard alone: corpus G0 batch counts and bytes copied against the baseline
# (release build: it trains the FSM on every corpus G0 with the default options).
guard: deps
	$(SWIFT) run -c release -q optimizer report --check scripts/results-baseline.txt -q

# Regenerates docs/results.md and its charts (release build; a few minutes).
results: deps
	$(SWIFT) run -c release optimizer report -o docs/results.md

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift Benchmarks/Package.swift Benchmarks/Benchmarks
