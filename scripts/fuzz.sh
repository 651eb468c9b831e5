#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer, for a fixed time each, of: the .dg parser + verifier
# (+ printer round trip), the ED-Batch importer, and the pipeline text (parser + pass options).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [dg|edbatch|pipeline|both|all]  (default 60, both = dg
#   and edbatch; all = the three)
# Corpora start from samples/, passes/ and ../shared/corpus and grow in .build-fuzz/corpus-*;
# crashes and hangs land in .build-fuzz/artifacts/. Each run prints libFuzzer's final stats
# (number of executions, execs/s). Inputs are capped at FUZZ_MAX_LEN bytes (default 8192).
# Every crasher becomes a test in Tests/BatchIRTests/DiagnosticTests.swift (none found so far).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
which="${2:-both}"
out=.build-fuzz
mkdir -p "$out/artifacts" "$out/corpus-dg" "$out/corpus-edbatch"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g)

build() { # NAME EXTRA_FLAGS...   (ld.gold's ASan "Cannot export local symbol" warnings are noise)
  local name=$1; shift
  build_quietly "$name" "$@" 2>&1 | { grep -v "Cannot export local symbol" || true; } >&2
  return "${PIPESTATUS[0]}"
}

build_quietly() {
  local name=$1; shift
  local dir="$out/$name"
  mkdir -p "$dir"
  swiftc "${flags[@]}" "$@" -module-name BatchIR -emit-module -emit-module-path "$dir/BatchIR.swiftmodule" \
    -emit-library -static -o "$dir/libBatchIR.a" Sources/BatchIR/*.swift
  swiftc "${flags[@]}" "$@" -I "$dir" -module-name Workloads -emit-module \
    -emit-module-path "$dir/Workloads.swiftmodule" -emit-library -static -o "$dir/libWorkloads.a" \
    Sources/Workloads/*.swift
  swiftc "${flags[@]}" "$@" -I "$dir" -L "$dir" -lWorkloads -lBatchIR scripts/fuzz/FuzzTarget.swift \
    -o "$dir/fuzz-$name"
}

# The pipeline target needs the passes: BatchIR, PQTree, AccelSim and BatchPasses are built with
# the fuzzer's instrumentation; swift-collections' HeapModule comes from the package's debug build.
build_pipeline() {
  local dir="$out/pipeline" modules=.build/debug/Modules
  mkdir -p "$dir"
  swift build --product optimizer >&2
  local module
  for module in BatchIR PQTree AccelSim BatchPasses; do
    swiftc "${flags[@]}" -I "$dir" -I "$modules" -module-name "$module" -emit-module \
      -emit-module-path "$dir/$module.swiftmodule" -emit-library -static -o "$dir/lib$module.a" \
      $(find "Sources/$module" -name '*.swift') 2>&1 | { grep -v "Cannot export local symbol" || true; } >&2
  done
  swiftc "${flags[@]}" -I "$dir" -I "$modules" -L "$dir" -lBatchPasses -lAccelSim -lPQTree -lBatchIR \
    "$modules/HeapModule.o" "$modules/InternalCollectionsUtilities.o" \
    scripts/fuzz/PipelineFuzzTarget.swift -o "$dir/fuzz-pipeline" 2>&1 \
    | { grep -v "Cannot export local symbol" || true; } >&2
}

run() { # NAME CORPUS SEEDS...
  local name=$1 corpus=$2; shift 2
  echo "== fuzz-$name for ${seconds}s" >&2
  "$out/$name/fuzz-$name" "$corpus" "$@" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -max_len="${FUZZ_MAX_LEN:-8192}" -artifact_prefix="$out/artifacts/$name-" -print_final_stats=1 2>"$out/$name.log" || {
    tail -40 "$out/$name.log" >&2
    exit 1
  }
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" "$out/$name.log"
}

if [ "$which" = dg ] || [ "$which" = both ] || [ "$which" = all ]; then
  build dg
  run dg "$out/corpus-dg" samples passes/*/
fi
if [ "$which" = edbatch ] || [ "$which" = both ] || [ "$which" = all ]; then
  build edbatch -D FUZZ_EDBATCH
  mkdir -p "$out/seed-edbatch"
  printf '4\n1 0\n1 0\n2 2 0 1\n0 1 2\n' >"$out/seed-edbatch/tiny.txt"
  seeds=("$out/seed-edbatch")
  [ -d ../shared/corpus/edbatch ] && seeds+=(../shared/corpus/edbatch/*/)
  run edbatch "$out/corpus-edbatch" "${seeds[@]}"
fi
if [ "$which" = pipeline ] || [ "$which" = all ]; then
  build_pipeline
  mkdir -p "$out/seed-pipeline" "$out/corpus-pipeline"
  i=0
  for text in "fsm-batch,pq-layout,ebatch-pack" "fsm-batch{policy=agenda, seed=3}" \
    "fsm-batch {policy=fsm,encoding=frontier,episodes=20}, pq-layout{align=64}" \
    "ebatch-pack{strategy=ebatch,steps=auto,accelerator=tpu-v1}" "pq-layout{}" ""; do
    printf '%s' "$text" >"$out/seed-pipeline/$i.txt"
    i=$((i + 1))
  done
  run pipeline "$out/corpus-pipeline" "$out/seed-pipeline"
fi
