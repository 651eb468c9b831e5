#!/usr/bin/env bash
# Prints, per ED-Batch corpus graph and per generated family (32 instances, seed 1), the gathers
# and bytes copied of `pq-layout` against the creation-order baseline, and the pass's wall time,
# as a Markdown table.
#   scripts/layout-table.sh [CORPUS_DIR]     (default ../shared/corpus/edbatch; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-../shared/corpus/edbatch}"
swift build -c release -q
bin="$(swift build -c release --show-bin-path)/optimizer"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "| graph | nodes | batches | gathers | bytes copied | baseline gathers | baseline bytes | bytes saved | pq-layout ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
row() { # NAME: lays out $work/g.dg and prints its row
  "$bin" "$work/g.dg" --passes fsm-batch,pq-layout --stats-json "$work/s.json" --time-passes -q \
    2>"$work/time.txt"
  python3 - "$work/s.json" "$work/time.txt" "$1" <<'PY'
import json, re, sys
stats = json.load(open(sys.argv[1]))
times = open(sys.argv[2]).read()
ms = re.search(r"([0-9.]+) ms +[0-9.]+%  pq-layout$", times, re.M)
layout, batch = stats["pq-layout"], stats["fsm-batch"]
saved = 1 - layout["bytes_copied"] / max(1, layout["baseline_creation_order_bytes_copied"])
print(f"| {sys.argv[3]} | {stats['input']['nodes']} | {batch['batches']} | {layout['gathers']} | "
      f"{layout['bytes_copied']:,} | {layout['baseline_creation_order_gathers']} | "
      f"{layout['baseline_creation_order_bytes_copied']:,} | {saved:.0%} | {ms.group(1) if ms else '?'} |")
PY
}
for dir in "$corpus"/*/; do
  for file in "$dir"G*.txt; do
    "$bin" import edbatch "$file" -o "$work/g.dg"
    row "$(basename "$dir")/$(basename "$file" .txt)"
  done
done
for family in tree-lstm tree-gru mv-rnn bilstm-tagger seq2seq lattice-lstm lattice-gru rnn-serving; do
  "$bin" generate "$family" --instances 32 --seed 1 -o "$work/g.dg"
  row "generated $family"
done
