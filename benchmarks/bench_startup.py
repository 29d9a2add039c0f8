"""How long the command line takes to answer when it needs no model: ``--help``, ``--version``,
sub-commands' help and refusals, each as a whole ``python -m bcviewer`` process (issue 22).

Usage: python benchmarks/bench_startup.py [--runs 7] [--checkout DIR] [--top 12]

Each command runs ``--runs`` times after one warm-up run; the median, min and max wall time are
printed, then the packages that take longest to import under ``python -X importtime`` for
``--help`` and for the refusals (cumulative time of each top-level import). ``--checkout DIR``
times another source tree of bcviewer instead of this one (e.g. an older commit, made with
``git worktree add /tmp/old <commit>``), for before/after figures from the same machine.

The refusals: ``predict missing.png`` (a path that does not exist), ``predict`` of a two-level
pyramid that records no pixel size (written here with tests/pyramid_fixture.py) and
``predict x.png --batch-size 0`` (a bad option value). The first two are refused per input, after
``predict`` has checked the device (which imports PyTorch), so they are far from 1 s; the third
is refused before anything heavy is imported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 1.0


def commands(work: Path, no_mpp: Path) -> dict[str, list[str]]:
    """Label -> arguments of ``python -m bcviewer``."""
    return {
        "--help": ["--help"],
        "--version": ["--version"],
        "predict --help": ["predict", "--help"],
        "info --help": ["info", "--help"],
        "predict x.png --batch-size 0 (refused)": ["predict", "x.png", "--batch-size", "0"],
        "predict missing.png (refused)": ["predict", str(work / "missing.png"), "--out", str(work / "out-missing")],
        "predict <pyramid without mpp> (refused)": ["predict", str(no_mpp), "--out", str(work / "out-no-mpp")],
    }


def run_once(tree: Path, args: list[str], *extra: str) -> tuple[float, str]:
    """Wall seconds of one ``python -m bcviewer ARGS`` in ``tree``, and its stderr."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *extra, "-m", "bcviewer", *args], cwd=tree, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    return time.perf_counter() - start, done.stderr


def top_imports(stderr: str, count: int) -> list[tuple[str, float]]:
    """The top-level imports of an ``-X importtime`` report, by cumulative seconds, largest first."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):  # deeper imports are indented under their importer
            found.append((name.strip(), int(cumulative) / 1e6))
    return sorted(found, key=lambda item: -item[1])[:count]


def write_no_mpp_pyramid(path: Path) -> Path:
    """A two-level tiled TIFF with no resolution tags (the TCGA-like case of the tests)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests"))
    from pyramid_fixture import write_pyramid_tiff

    rgb = np.full((2048, 2048, 3), 200, np.uint8)
    rgb[512:1536, 512:1536] = (170, 90, 160)  # a block of pink "tissue"
    return write_pyramid_tiff(path, rgb, levels=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="source tree to time (default: this one)")
    parser.add_argument("--top", type=int, default=10, help="imports listed per command (default 10)")
    opts = parser.parse_args()
    tree = opts.checkout.resolve()
    print(f"tree: {tree}\npython: {sys.version.split()[0]}, cores: {os.cpu_count()}, "
          f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = commands(work, write_no_mpp_pyramid(work / "no-mpp.tif"))
        print(f"\n| command | median s | min s | max s | under {GOAL_S:g} s |")
        print("|---|---|---|---|---|")
        for label, args in table.items():
            run_once(tree, args)  # warm-up: file system cache, byte code
            times = [run_once(tree, args)[0] for _ in range(opts.runs)]
            median = statistics.median(times)
            print(f"| `bcviewer {label}` | {median:.2f} | {min(times):.2f} | {max(times):.2f} | "
                  f"{'yes' if median < GOAL_S else 'no'} |", flush=True)
        for label in ("--help", "predict x.png --batch-size 0 (refused)", "predict missing.png (refused)"):
            _, stderr = run_once(tree, table[label], "-X", "importtime")
            listed = ", ".join(f"{name} {seconds:.2f}" for name, seconds in top_imports(stderr, opts.top))
            print(f"\nslowest top-level imports of `bcviewer {label}` (cumulative s): {listed}")
    print(f"load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
