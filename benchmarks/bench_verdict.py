"""Time of one verdict (the rule and its 500-resample tile bootstrap) by the number of scored tiles.

``PYTHONPATH=. python3 benchmarks/bench_verdict.py [--repeats 3]``: best of N per rule and size,
on synthetic tile p (the cost depends on the count, not on the values).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bcviewer.inference.rules import VerdictRule
from bcviewer.inference.verdict import RESAMPLES

RULES = (VerdictRule("mean"), VerdictRule("top_k_mean", top_share=0.1), VerdictRule("tissue_share"))
SIZES = (9, 1_000, 10_000, 100_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| tiles | " + " | ".join(r.base_title for r in RULES) + " |")
    print("|---|" + "---|" * len(RULES))
    for n in SIZES:
        p, w = rng.random(n), rng.random(n)
        cells = []
        for rule in RULES:
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                rule.aggregate(p, w)
                rule.bootstrap(p, w, 0.5, RESAMPLES)
                best = min(best, time.perf_counter() - start)
            cells.append(f"{best * 1000:.0f} ms")
        print(f"| {n:,} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
