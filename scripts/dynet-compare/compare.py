#!/usr/bin/env python3
"""Binary Tree-LSTMs in DyNet against `optimizer --execute cpu` on the very same trees.

Builds 64 random binary trees of 16 leaves (seeded), runs a forward pass of a binary Tree-LSTM
over all of them as one mini-batch in DyNet with autobatching off, agenda-based (1) and
depth-based (2), writes the same trees as a .dg file with the same shapes, runs
`optimizer FILE.dg --passes P --execute cpu` on it, and prints ms per mini-batch side by side.

Not part of CI. Needs DyNet 2.x for Python (`pip install dyNET38`, Python 3.11) and a release
build of the optimizer. See README.md beside this file.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

VOCABULARY = 20000


def random_trees(count, leaves, seed):
    """Each tree: a list of (left, right) merges; leaves are -1-i, merge k is k (post-order)."""
    trees = []
    for t in range(count):
        rng = random.Random(seed * 1_000_003 + t)
        roots = [-1 - i for i in range(leaves)]
        merges = []
        while len(roots) > 1:
            i = rng.randrange(len(roots) - 1)  # merge two neighbours, as a parse tree would
            merges.append((roots[i], roots[i + 1]))
            roots[i:i + 2] = [len(merges) - 1]
        words = [rng.randrange(VOCABULARY) for _ in range(leaves)]
        trees.append((words, merges))
    return trees


def write_dg(trees, hidden, path):
    h = hidden
    lines = [
        "dg 1",
        f"# {len(trees)} binary Tree-LSTMs, hidden {h}, written by scripts/dynet-compare/compare.py",
        f"type embed = lookup(i32[1]) -> f32[{h}] weights(E: f32[{VOCABULARY}x{h}])",
        # leaf: i, o, u = W·x + b; c = σ(i)⊙tanh(u); h = σ(o)⊙tanh(c)
        f"type leaf = lstm(f32[{h}]) -> f32[{h}] weights(W_leaf: f32[{3 * h}x{h}], b_leaf: f32[{3 * h}])",
        # node: i, o, u, f_l, f_r = W·[h_l; h_r] + b
        f"type node = lstm(f32[{h}], f32[{h}]) -> f32[{h}] "
        f"weights(W_node: f32[{5 * h}x{2 * h}], b_node: f32[{5 * h}])",
    ]
    for t, (words, merges) in enumerate(trees):
        lines.append(f"instance t{t} {{")
        for i in range(len(words)):
            lines.append(f"  %x{i} = embed(_)")
            lines.append(f"  %l{i} = leaf(%x{i})")
        name = lambda r: f"%l{-1 - r}" if r < 0 else f"%n{r}"
        for k, (a, b) in enumerate(merges):
            lines.append(f"  %n{k} = node({name(a)}, {name(b)})")
        lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def dynet_child(args):
    """Runs in a subprocess: DyNet reads its autobatch setting once, at import."""
    import dynet_config
    dynet_config.set(mem=1024, random_seed=args.seed, autobatch=args.autobatch)
    import dynet as dy

    h = args.hidden
    trees = random_trees(args.trees, args.leaves, args.seed)
    pc = dy.ParameterCollection()
    E = pc.add_lookup_parameters((VOCABULARY, h))
    W_leaf, b_leaf = pc.add_parameters((3 * h, h)), pc.add_parameters(3 * h)
    W_node, b_node = pc.add_parameters((5 * h, 2 * h)), pc.add_parameters(5 * h)

    def build():
        dy.renew_cg()
        wl, bl, wn, bn = W_leaf, b_leaf, W_node, b_node
        roots = []
        for words, merges in trees:
            hs, cs = [], []
            for w in words:
                g = dy.affine_transform([bl, wl, dy.lookup(E, w)])
                i = dy.logistic(dy.pick_range(g, 0, h))
                o = dy.logistic(dy.pick_range(g, h, 2 * h))
                u = dy.tanh(dy.pick_range(g, 2 * h, 3 * h))
                c = dy.cmult(i, u)
                hs.append(dy.cmult(o, dy.tanh(c)))
                cs.append(c)
            nh, nc = [], []
            get = lambda lst_leaf, lst_node, r: lst_leaf[-1 - r] if r < 0 else lst_node[r]
            for a, b in merges:
                hl, hr = get(hs, nh, a), get(hs, nh, b)
                cl, cr = get(cs, nc, a), get(cs, nc, b)
                g = dy.affine_transform([bn, wn, dy.concatenate([hl, hr])])
                i = dy.logistic(dy.pick_range(g, 0, h))
                o = dy.logistic(dy.pick_range(g, h, 2 * h))
                u = dy.tanh(dy.pick_range(g, 2 * h, 3 * h))
                fl = dy.logistic(dy.pick_range(g, 3 * h, 4 * h))
                fr = dy.logistic(dy.pick_range(g, 4 * h, 5 * h))
                c = dy.cmult(i, u) + dy.cmult(fl, cl) + dy.cmult(fr, cr)
                nh.append(dy.cmult(o, dy.tanh(c)))
                nc.append(c)
            roots.append(nh[-1] if nh else hs[0])
        return dy.esum(roots)

    build_ms, forward_ms = [], []
    for r in range(args.repeat + 1):
        start = time.perf_counter()
        total = build()
        middle = time.perf_counter()
        total.forward()
        end = time.perf_counter()
        if r > 0:  # the first run warms up
            build_ms.append((middle - start) * 1e3)
            forward_ms.append((end - middle) * 1e3)
    print(json.dumps({"build_ms": statistics.median(build_ms),
                      "forward_ms": statistics.median(forward_ms)}))


def run_dynet(args, hidden, autobatch):
    command = [sys.executable, __file__, "--child", "--hidden", str(hidden), "--autobatch",
               str(autobatch), "--trees", str(args.trees), "--leaves", str(args.leaves),
               "--seed", str(args.seed), "--repeat", str(args.repeat)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_optimizer(args, dg, pipeline):
    with tempfile.NamedTemporaryFile(suffix=".json") as stats:
        subprocess.run([args.optimizer, dg, "-q", "--passes", pipeline, "--execute", "cpu",
                        "--execute-repeat", str(args.repeat), "--stats-json", stats.name],
                       check=True)
        with open(stats.name) as f:
            return json.load(f)["execute"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", type=int, default=64)
    parser.add_argument("--leaves", type=int, default=16)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--optimizer", default=".build/release/optimizer")
    parser.add_argument("--keep", help="write the .dg files into this folder")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--autobatch", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.hidden = args.hidden[0]
        return dynet_child(args)

    folder = args.keep or tempfile.mkdtemp()
    os.makedirs(folder, exist_ok=True)
    trees = random_trees(args.trees, args.leaves, args.seed)
    print(f"{args.trees} trees of {args.leaves} leaves, seed {args.seed}; forward only; "
          f"median of {args.repeat} runs after a warm-up; ms per mini-batch; one thread")
    header = ("hidden", "DyNet off", "DyNet agenda", "DyNet depth", "ours unbatched",
              "ours agenda", "ours depth", "ours fsm+pq", "ours compile", "max error")
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    for hidden in args.hidden:
        dg = os.path.join(folder, f"treelstm-t{args.trees}-l{args.leaves}-h{hidden}.dg")
        write_dg(trees, hidden, dg)
        dynet = [run_dynet(args, hidden, a) for a in (0, 1, 2)]
        ours = {name: run_optimizer(args, dg, pipeline) for name, pipeline in (
            ("agenda", "fsm-batch{policy=agenda}"), ("depth", "fsm-batch{policy=depth}"),
            ("fsm", "fsm-batch,pq-layout"))}
        error = max(run["max_abs_error"] for run in ours.values())
        row = [str(hidden)] + [f"{d['forward_ms']:.2f}" for d in dynet] + [
            f"{ours['agenda']['unbatched_ms']:.2f}", f"{ours['agenda']['batched_ms']:.2f}",
            f"{ours['depth']['batched_ms']:.2f}", f"{ours['fsm']['batched_ms']:.2f}",
            f"{ours['fsm']['compile_ms']:.2f}", f"{error:.1e}"]
        print("| " + " | ".join(row) + " |")
        print("  DyNet graph construction (not in the forward times): "
              + ", ".join(f"{n} {d['build_ms']:.2f} ms" for n, d in zip(("off", "agenda", "depth"), dynet)),
              file=sys.stderr)


if __name__ == "__main__":
    main()
