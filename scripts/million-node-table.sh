#!/bin/bash
# Issue 15's table: parse, each pass and the whole run on the three 1M-node graphs, for one or
# more release builds of `optimizer`, interleaved over ROUNDS rounds; prints the medians.
#   scripts/million-node-table.sh DIR BEFORE=path/to/optimizer AFTER=.build/release/optimizer
# DIR holds (or receives) tree-lstm.dg, bilstm-tagger.dg and lattice-lstm.dg (14,500 instances,
# seed 1). Every graph runs the default pipeline (fsm-batch trains on a sample of the instances).
# LATTICE_PIPELINE overrides the lattice's pipeline, e.g. for a build that trains on everything.
set -euo pipefail
dir=$1
shift
rounds=${ROUNDS:-3}
first=${1#*=}
for g in tree-lstm bilstm-tagger lattice-lstm; do
  [ -f "$dir/$g.dg" ] || "$first" generate $g --instances 14500 --seed 1 -o "$dir/$g.dg"
done
raw=$(mktemp)
for _ in $(seq 1 "$rounds"); do
  for g in tree-lstm bilstm-tagger lattice-lstm; do
    pipeline='fsm-batch,pq-layout,ebatch-pack'
    [ $g = lattice-lstm ] && pipeline=${LATTICE_PIPELINE:-$pipeline}
    for build in "$@"; do
      name=${build%%=*}
      bin=${build#*=}
      parse=$({ /usr/bin/time -f "%e" "$bin" "$dir/$g.dg" --passes '' -q >/dev/null; } 2>&1 | tail -1)
      out=$({ /usr/bin/time -f "TIME %e %U %S %M" "$bin" "$dir/$g.dg" --passes "$pipeline" -q \
        --time-passes >/dev/null; } 2>&1)
      passes=$(echo "$out" | awk '$2 == "ms" && $NF ~ /^(fsm-batch|pq-layout|ebatch-pack)$/ && $(NF - 1) != "after" {printf "%s ", $1 / 1000}')
      echo "$g $name $parse $passes $(echo "$out" | awk '/^TIME/ {print $2, $3 + $4, $5 / 1024}')" \
        >>"$raw"
    done
  done
done
python3 - "$raw" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    g, name, *values = line.split()
    runs.setdefault((g, name), []).append([float(v) for v in values])
print("| graph | build | parse | fsm-batch | pq-layout | ebatch-pack | total wall | total CPU | max RSS |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for (g, name), rows in runs.items():
    m = [statistics.median(column) for column in zip(*rows)]
    print(f"| {g} | {name} | " + " | ".join(f"{v:.2f} s" for v in m[:6]) + f" | {m[6]:.0f} MB |")
PY
rm -f "$raw"
