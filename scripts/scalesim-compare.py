#!/usr/bin/env python3
"""Cross-check AccelSim's GEMM cycles against SCALE-Sim on a 256x256 weight-stationary array.

Each GEMM is one LSTM step: M = batch, K = input + hidden, N = 4 x hidden. SCALE-Sim runs them
in GEMM mode (one topology, CALC bandwidth so memory never stalls); AccelSim runs a one-execution
program per GEMM on the tpu-v1 preset (`optimizer simulate --json`). Prints the cycles side by
side. Needs `pip install scalesim 'numpy<2.4'` (SCALE-Sim 3.0.0 fails on NumPy 2.4) and the
Swift build; see docs/simulator.md.

    python3 scripts/scalesim-compare.py
"""
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (hidden, batch): input = hidden.
CASES = [(h, m) for h in (128, 256, 512, 1024) for m in (1, 16, 64, 256)]

SCALESIM_CONFIG = """[general]
run_name = ws256

[architecture_presets]
ArrayHeight: 256
ArrayWidth: 256
IfmapSramSzkB: 12288
FilterSramSzkB: 12288
OfmapSramSzkB: 4096
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: ws
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def gemms():
    for hidden, batch in CASES:
        yield f"h{hidden}_b{batch}", batch, 2 * hidden, 4 * hidden  # name, M, K, N


def run_scalesim(work):
    from scalesim.scale_sim import scalesim

    config = os.path.join(work, "ws256.cfg")
    topology = os.path.join(work, "lstm_steps.csv")
    layout = os.path.join(work, "layout.csv")
    with open(config, "w") as f:
        f.write(SCALESIM_CONFIG)
    with open(topology, "w") as f:
        f.write("Layer, M, N, K,\n")
        for name, m, k, n in gemms():
            f.write(f"{name}, {m}, {n}, {k},\n")
    with open(layout, "w") as f:
        f.write("Layer,\n")
    sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology,
                   layout=layout, input_type_gemm=True)
    sim.run_scale(top_path=os.path.join(work, "scalesim"))
    report = glob.glob(os.path.join(work, "scalesim", "**", "COMPUTE_REPORT.csv"), recursive=True)[0]
    with open(report) as f:
        rows = list(csv.reader(f, skipinitialspace=True))
    column = rows[0].index("Total Cycles")
    return [int(row[column]) for row in rows[1:] if row]


def run_accelsim(work, binary):
    cycles = []
    for name, m, k, n in gemms():
        program = os.path.join(work, f"{name}.txt")
        with open(program, "w") as f:
            f.write("accel-program 1\n")
            f.write(f"lanes {m}\n")
            f.write(f"type {name} weight_bytes={k * n} macs_per_row={k * n} recurrent_columns=0 "
                    f"matrices={n}x{k} weights=W\n")
            f.write(f"exec {name} lanes={m} steps=1 rows={m} macs={m * k * n} "
                    f"read={m * k} written={m * n}\n")
        out = os.path.join(work, f"{name}.json")
        subprocess.run([binary, "simulate", program, "--accelerator", "tpu-v1", "--json", out],
                       check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            cycles.append(int(json.load(f)["cycles"]))
    return cycles


def main():
    subprocess.run(["swift", "build", "-q"], cwd=ROOT, check=True)
    bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    binary = os.path.join(bin_dir, "optimizer")
    with tempfile.TemporaryDirectory() as work:
        ours = run_accelsim(work, binary)
        theirs = run_scalesim(work)
    print("| GEMM | M | K | N | SCALE-Sim cycles | AccelSim cycles | AccelSim / SCALE-Sim |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for (name, m, k, n), a, s in zip(gemms(), ours, theirs):
        ratio = a / s
        worst = max(worst, abs(ratio - 1))
        print(f"| {name} | {m} | {k} | {n} | {s} | {a} | {ratio:.4f} |")
    print(f"\nlargest difference: {100 * worst:.2f}%")
    return 0 if worst <= 0.15 else 1


if __name__ == "__main__":
    sys.exit(main())
