#!/usr/bin/env bash
# Side by side: padding (static batching), cellular (BatchMaker) and ebatch (E-BATCH, steps=auto)
# on both presets, for speech and translation traces of an L=2 LSTM (hidden 512) at several
# Poisson loads, as a Markdown table. Load is the arrival rate over the capacity of cellular
# batching (its throughput on the same requests all arriving at once, measured first).
#   scripts/packing-table.sh [INSTANCES] [SEED]        (default 64 requests, seed 1)
# CONFIG=release uses a release build (default: debug, which is already built by `swift build`).
set -euo pipefail
cd "$(dirname "$0")/.."
instances="${1:-64}"
seed="${2:-1}"
config="${CONFIG:-debug}"
swift build -c "$config" -q
bin="$(swift build -c "$config" --show-bin-path)/optimizer"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$bin" "$work" "$instances" "$seed" <<'PY'
import json, subprocess, sys
bin, work, instances, seed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def generate(lengths, rate):
    path = f"{work}/t.dg"
    subprocess.run([bin, "generate", "rnn-serving", "--instances", instances, "--seed", seed,
                    "--hidden", "512", "--layers", "2", "--lengths", lengths, "--rate", str(rate),
                    "-o", path], check=True)
    return path

def run(path, preset, strategy):
    options = f"strategy={strategy},accelerator={preset}"
    subprocess.run([bin, path, "--passes", f"ebatch-pack{{{options}}}", "--accelerator", preset,
                    "--stats-json", f"{work}/s.json", "-q"], check=True)
    stats = json.load(open(f"{work}/s.json"))
    return stats["ebatch-pack"], stats["simulate"]

print("| preset | lengths | load | rate (req/s) | strategy | N | req/s | µJ/request | p99 latency (ms) "
      "| padding | throughput vs cellular | energy efficiency vs cellular |")
print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for preset in ["epur", "tpu-v1"]:
    for lengths in ["speech", "translation"]:
        _, saturated = run(generate(lengths, 1e9), preset, "cellular")
        capacity = saturated["requests_per_s"]
        for load in [0.3, 0.6, 0.9, 1.5]:
            rate = load * capacity
            path = generate(lengths, rate)
            rows = {s: run(path, preset, s) for s in ["padding", "cellular", "ebatch"]}
            base = rows["cellular"][1]
            for strategy, (pack, sim) in rows.items():
                n = "-" if strategy == "padding" else int(pack["steps_per_chunk"])
                thr = sim["requests_per_s"] / base["requests_per_s"]
                eff = base["energy_per_request_pj"] / sim["energy_per_request_pj"]
                print(f"| {preset} | {lengths} | {load:.1f} | {rate:,.0f} | {strategy} | {n} | "
                      f"{sim['requests_per_s']:,.1f} | {sim['energy_per_request_pj'] / 1e6:,.1f} | "
                      f"{sim['latency_p99_s'] * 1e3:,.2f} | {sim['padding_fraction']:.1%} | "
                      f"{thr:.2f}× | {eff:.2f}× |")
PY
