#!/usr/bin/env bash
# End-to-end checks of the `optimizer` command: every sample runs with dumps, outputs round-trip,
# the corpus imports, and bad input exits 1 with a located error and writes nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
swift build -q 2>&1 | grep -v "^$" || true
bin=$(swift build --show-bin-path)/optimizer
corpus=../shared/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# Every sample: dumps for each stage, stats, IR that re-parses to the same bytes.
for sample in samples/*.dg; do
  name=$(basename "$sample" .dg)
  out="$work/$name"
  if "$bin" "$sample" -q --dump-dir "$out" --stats-json "$out/stats.json" --emit-ir "$out/final.dg" \
    && [ -s "$out/00-input.dot" ] && [ -s "$out/00-input.svg" ] && [ -s "$out/01-fsm-batch.svg" ] \
    && grep -q '<section id="stage-03-ebatch-pack"' "$out/index.html" \
    && "$bin" "$out/final.dg" -q --passes "" --emit-ir "$out/again.dg" && cmp -s "$out/final.dg" "$out/again.dg"; then
    pass
  else
    fail "sample $sample"
  fi
done

# The corpus converts and verifies.
for dump in "$corpus"/edbatch/*/G*.txt "$corpus"/dynet-treelstm-t64-l16.txt; do
  if "$bin" import edbatch "$dump" -o "$work/imported.dg" && "$bin" "$work/imported.dg" -q --passes ""; then
    pass
  else
    fail "import $dump"
  fi
done

# Bad input: exit 1, a file:line:col: error line, nothing written.
expect_error() { # name, content (printf format), expected headline prefix
  local file="$work/$1.dg"
  printf "$2" >"$file"
  local err
  err=$("$bin" "$file" --emit-ir "$work/$1.out" --stats-json "$work/$1.json" 2>&1 >/dev/null)
  local status=$?
  if [ $status -eq 1 ] && [[ "$err" == "$file:$3"* ]] && [ ! -e "$work/$1.out" ] && [ ! -e "$work/$1.json" ]; then
    pass
  else
    fail "$1: status $status, stderr: $err"
  fi
}
types='dg 1\ntype a = op(f32[4]) -> f32[4]\ntype b = op(f32[4], f32[4]) -> f32[4]\n'
expect_error empty '' '1:1: error: empty file'
expect_error random '\x89PNG\x0d\x0a\x1a\x0a\x00\x00\xff\xfe' '1:1: error: invalid UTF-8'
expect_error syntax 'dg 1\ntype a = op(f32[4] -> f32[4]\n' '2:20: error: expected'
expect_error cycle "${types}instance s {\n  %%x = b(%%y, _)\n  %%y = a(%%x)\n}\n" '5:3: error: the graph has a cycle'
expect_error undefined "${types}instance s {\n  %%x = a(%%nope)\n}\n" '5:10: error: use of undefined value'
expect_error arity "${types}instance s {\n  %%x = b(_)\n}\n" "5:3: error: '%x' in instance 's' has 1 operand"
expect_error truncated "${types}instance s {\n  %%x = b(_," '5:12: error: expected an operand'

# Determinism: the same input, options and seed give byte-identical dumps, IR, program and
# statistics (timing statistics aside), run after run.
for sample in samples/tree-lstm.dg samples/lattice-lstm.dg samples/rnn-serving.dg; do
  for run in 1 2; do
    "$bin" "$sample" -q --dump-dir "$work/det$run" --emit-ir "$work/det$run/final.dg" \
      --stats-json "$work/det$run/stats.json" --passes 'fsm-batch{seed=7},pq-layout,ebatch-pack' \
      --accelerator tpu-v1 --emit-program "$work/det$run/program.txt"
    sed -i 's/"train_ms" *: *[0-9.e+-]*/"train_ms": 0/' "$work/det$run/stats.json"
    sed -i 's|<td>train_ms</td><td class="v">[0-9.e+-]*</td>|<td>train_ms</td><td class="v">0</td>|' \
      "$work/det$run/index.html"
  done
  if diff -r "$work/det1" "$work/det2" >/dev/null; then
    pass
  else
    fail "determinism on $sample: $(diff -rq "$work/det1" "$work/det2" | head -3)"
  fi
  rm -rf "$work/det1" "$work/det2"
done
# Accelerator programs: emitted as JSON and text, simulated on both presets and a preset file;
# the figures land under "simulate" in --stats-json; a bad preset exits 1 and writes nothing.
if "$bin" samples/rnn-serving.dg -q --accelerator tpu-v1 --emit-program "$work/p.json" --stats-json "$work/sim-stats.json" \
  && grep -q '"simulate": {"cycles": ' "$work/sim-stats.json" \
  && "$bin" samples/rnn-serving.dg -q --emit-program "$work/p.txt" --accelerator tpu-v1 \
  && "$bin" simulate "$work/p.json" --accelerator tpu-v1 --json "$work/r-json.json" >/dev/null \
  && "$bin" simulate "$work/p.txt" --accelerator samples/accelerators/tpu-v1.json --json "$work/r-text.json" >/dev/null \
  && cmp -s "$work/r-json.json" "$work/r-text.json" && grep -q '"energy_per_request_pj": ' "$work/r-json.json"; then
  pass
else
  fail "emit and simulate a program"
fi
"$bin" samples/rnn-serving.dg -q --accelerator epur --emit-program "$work/pe.txt" \
  && "$bin" simulate "$work/pe.txt" | grep -q '^  latency_p99_s ' && pass || fail "simulate on the program's target, epur"
# One target: a program built for tpu-v1 is not simulated on epur; a file's target line and a
# different --accelerator are a located error (exit 1, nothing written); the target is printed back.
"$bin" simulate "$work/p.txt" --accelerator epur >/dev/null 2>&1; [ $? -eq 2 ] && pass || fail "two targets for simulate should exit 2"
printf 'dg 1\ntarget tpu-v1\ntype l = lstm(f32[4], f32[4]) -> f32[4] recurrent\ninstance a {\n  rnn(l) steps=2\n}\n' >"$work/targeted.dg"
err=$("$bin" "$work/targeted.dg" --accelerator epur --emit-ir "$work/t-out.dg" 2>&1 >/dev/null)
status=$?
if [ $status -eq 1 ] && [[ "$err" == "$work/targeted.dg:2:8: error: two targets"* ]] && [ ! -e "$work/t-out.dg" ]; then
  pass
else
  fail "two targets: status $status, stderr: $err"
fi
if "$bin" "$work/targeted.dg" --emit-ir "$work/t-out.dg" --stats-json "$work/t.json" | grep -q '^ebatch-pack: target=tpu-v1 target_source=module lanes=256 ' \
  && grep -q '^target tpu-v1$' "$work/t-out.dg" && grep -q '"target": "tpu-v1"' "$work/t.json"; then
  pass
else
  fail "the target line drives ebatch-pack and is printed back"
fi
"$bin" samples/hello.dg -q --no-verify-each --print-pipeline --passes ' fsm-batch {policy = agenda}' | grep -q '^pipeline: fsm-batch{policy=agenda}$' \
  && pass || fail "blanks in pipeline text, --print-pipeline"
grep -v '"clock_hz"' samples/accelerators/epur.json >"$work/no-clock.json"
err=$("$bin" samples/hello.dg --accelerator "$work/no-clock.json" --stats-json "$work/bad.json" 2>&1 >/dev/null)
status=$?
if [ $status -eq 1 ] && [[ "$err" == "$work/no-clock.json:1:1: error: missing field 'clock_hz'"* ]] && [ ! -e "$work/bad.json" ]; then
  pass
else
  fail "preset without clock_hz: status $status, stderr: $err"
fi
"$bin" simulate "$work/p.txt" --accelerator no-such-chip >/dev/null 2>&1; [ $? -eq 1 ] && pass || fail "unknown preset should exit 1"
printf 'accel-program 1\nlanes 4\nfly\n' >"$work/bad.txt"
err=$("$bin" simulate "$work/bad.txt" --accelerator epur --json "$work/bad-r.json" 2>&1 >/dev/null)
status=$?
if [ $status -eq 1 ] && [[ "$err" == "$work/bad.txt:3:1: error: unknown instruction 'fly'"* ]] && [ ! -e "$work/bad-r.json" ]; then
  pass
else
  fail "bad program: status $status, stderr: $err"
fi

# The dump after ebatch-pack on trees draws the instance slots over time, not the layout again.
if "$bin" samples/tree-lstm.dg -q --dump-dir "$work/slots" \
  && grep -q 'instance slots × time' "$work/slots/03-ebatch-pack.dot" \
  && ! grep -q 'arena:' "$work/slots/03-ebatch-pack.dot"; then
  pass
else
  fail "ebatch-pack dump of a tree sample"
fi

# ebatch-pack: the default pipeline packs the serving sample (refills in the program, the chart in
# the dump); the three strategies run on both presets; a mixed module is a located error.
if "$bin" samples/rnn-serving.dg -q --dump-dir "$work/pack" --emit-program "$work/pack.txt" --accelerator epur \
  && grep -q '^packing strategy=ebatch' "$work/pack/03-ebatch-pack.dg" && grep -q 'refill' "$work/pack.txt" \
  && grep -q 'packing: ebatch' "$work/pack/03-ebatch-pack.dot"; then
  pass
else
  fail "ebatch-pack in the default pipeline"
fi
for preset in epur tpu-v1; do
  for strategy in padding cellular 'ebatch,steps=8' 'ebatch,latency-slo=0.05'; do
    "$bin" samples/rnn-serving.dg -q --verify-each --passes "ebatch-pack{strategy=$strategy,accelerator=$preset}" \
      --accelerator "$preset" --stats-json "$work/pk.json" && grep -q '"packed_requests": ' "$work/pk.json" \
      && pass || fail "ebatch-pack strategy=$strategy on $preset"
  done
done
printf 'dg 1\ntype l = lstm(f32[4], f32[4]) -> f32[4] recurrent\ninstance a {\n  rnn(l) steps=2\n}\ninstance b {\n  %%x = l(_, _)\n}\n' >"$work/mixed.dg"
err=$("$bin" "$work/mixed.dg" --passes ebatch-pack --emit-ir "$work/mixed-out.dg" 2>&1 >/dev/null)
status=$?
if [ $status -eq 1 ] && [[ "$err" == *":6:10: error: ebatch-pack packs recurrent requests only; instance 'b'"* ]] && [ ! -e "$work/mixed-out.dg" ]; then
  pass
else
  fail "mixed module: status $status, stderr: $err"
fi

# --execute cpu (correctness only, not timing): batched matches the unbatched reference on every
# policy with and without pq-layout; "execute" lands in --stats-json; no schedule is an error.
# (A layout file whose offsets overlap is the verifier's error; Tests/CPUBackendTests corrupts
# an offset in memory and sees the node-by-node check fail.)
for pipeline in 'fsm-batch{policy=agenda}' 'fsm-batch{policy=depth},pq-layout' 'fsm-batch,pq-layout'; do
  for sample in samples/tree-lstm.dg samples/lattice-gru.dg; do
    "$bin" "$sample" -q --passes "$pipeline" --execute cpu --execute-repeat 1 --stats-json "$work/ex.json" \
      && grep -q '"execute": {"batched_ms": ' "$work/ex.json" && grep -q '"max_abs_error": ' "$work/ex.json" \
      && pass || fail "execute $sample with $pipeline"
  done
done
err=$("$bin" samples/hello.dg --passes "" --execute cpu 2>&1 >/dev/null)
[ $? -eq 1 ] && [[ "$err" == *"execute: the module has no schedule"* ]] && pass || fail "execute without a schedule: $err"

# --time-passes: parsing, the input's verification, each pass and the verification after it,
# then the total, in that order; --no-verify-each drops the verification after each pass.
steps=$("$bin" samples/tree-lstm.dg -q --time-passes 2>&1 >/dev/null | awk '$2 == "ms" {$1 = $2 = $3 = ""; sub(/^ +/, ""); printf "%s;", $0}')
[ "$steps" = "parse;verify input;fsm-batch;verify after fsm-batch;pq-layout;verify after pq-layout;ebatch-pack;verify after ebatch-pack;total;" ] \
  && pass || fail "--time-passes steps: $steps"
steps=$("$bin" samples/tree-lstm.dg -q --time-passes --no-verify-each --passes fsm-batch 2>&1 >/dev/null | awk '$2 == "ms" {$1 = $2 = $3 = ""; sub(/^ +/, ""); printf "%s;", $0}')
[ "$steps" = "parse;verify input;fsm-batch;total;" ] && pass || fail "--time-passes --no-verify-each steps: $steps"

# A bad pipeline is bad input (exit 1); usage errors exit 2.
"$bin" --passes 'fsm-batch{' samples/hello.dg >/dev/null 2>&1; [ $? -eq 1 ] && pass || fail "bad pipeline should exit 1"
"$bin" --no-such-flag >/dev/null 2>&1; [ $? -eq 2 ] && pass || fail "unknown flag should exit 2"
"$bin" generate no-such-model >/dev/null 2>&1; [ $? -eq 2 ] && pass || fail "bad generator should exit 2"
"$bin" --help >/dev/null 2>&1 && pass || fail "--help should exit 0"

echo "cli-check: $passed passed, $failed failed"
[ $failed -eq 0 ]
