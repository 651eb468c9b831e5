#!/usr/bin/env python3
"""Cross-checks our PQ-tree (Sources/PQTree) against an independent implementation: the PQ-tree
of passagemath-graphs (`pip install passagemath-graphs`), on random small cases.

    python3 scripts/pqtree-crosscheck/crosscheck.py [CASES] [SEED]     (default 10000 cases, seed 1)

Our problem: order n leaves so that every constraint set is consecutive. passagemath's
`reorder_sets` solves the dual (order sets so that the sets holding any element are
consecutive), so each leaf x becomes the set of the constraints holding it, plus a tag of its own
that keeps the sets distinct. For every case both must agree on feasibility, and every order
either returns must make every set consecutive. Half the cases are slices of a hidden permutation
(always feasible), half are random sets (often not).
"""
import os, random, subprocess, sys, tempfile

from sage.graphs.pq_trees import reorder_sets

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def build():
    out = os.path.join(tempfile.mkdtemp(), "pqtree-crosscheck")
    sources = [os.path.join(root, "Sources/PQTree", f)
               for f in sorted(os.listdir(os.path.join(root, "Sources/PQTree")))
               if f.endswith(".swift")]
    subprocess.run(["swiftc", "-O", "-module-name", "main", *sources,
                    os.path.join(here, "main.swift"), "-o", out], check=True)
    return out


def consecutive(order, s):
    positions = sorted(order.index(x) for x in s)
    return not positions or positions[-1] - positions[0] == len(positions) - 1


def case(rng):
    n = rng.randint(1, 8)
    sets = []
    if rng.random() < 0.5:
        hidden = list(range(n))
        rng.shuffle(hidden)
        for _ in range(rng.randint(1, 6)):
            a = rng.randint(0, n - 1)
            b = rng.randint(a, n - 1)
            sets.append(hidden[a:b + 1])
    else:
        for _ in range(rng.randint(1, 10)):
            sets.append(rng.sample(range(n), rng.randint(min(2, n), max(min(2, n), n - 1))))
    return n, sets


def oracle(n, sets):
    """passagemath's answer: an order of the leaves, or None when infeasible."""
    duals = [frozenset([("leaf", x)] + [j for j, s in enumerate(sets) if x in s]) for x in range(n)]
    if n <= 1:
        return list(range(n))
    try:
        ordered = reorder_sets(duals)
    except ValueError:
        return None
    return [next(tag[1] for tag in d if isinstance(tag, tuple)) for d in ordered]


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    cases = [case(rng) for _ in range(count)]
    binary = build()
    text = "".join(f"{n}|" + "|".join(" ".join(map(str, s)) for s in sets) + "\n" for n, sets in cases)
    ours = subprocess.run([binary], input=text, capture_output=True, text=True, check=True).stdout.splitlines()
    disagreements = 0
    feasible = 0
    for (n, sets), line in zip(cases, ours):
        theirs = oracle(n, sets)
        mine = None if line == "infeasible" else [int(x) for x in line.split()[1:]]
        problems = []
        if (mine is None) != (theirs is None):
            problems.append(f"feasibility: ours {mine is not None}, passagemath {theirs is not None}")
        for name, order in (("ours", mine), ("passagemath", theirs)):
            if order is not None and not all(consecutive(order, s) for s in sets):
                problems.append(f"{name} order {order} breaks a set")
        if problems:
            disagreements += 1
            print(f"n={n} sets={sets}: " + "; ".join(problems))
        feasible += theirs is not None
    print(f"pqtree-crosscheck: {count} cases ({feasible} feasible), {disagreements} disagreements")
    sys.exit(1 if disagreements else 0)


if __name__ == "__main__":
    main()
