"""Start-up of the Linux bundles (installer/linux/build.sh cpu|full): time to the first window and
to the first ``predict`` result, for each bundle given, in one run (issue 24).

Usage: python3 benchmarks/bench_bundle_startup.py [--cpu dist/bcviewer-cpu] [--full dist/bcviewer]
       [--runs 5] [--json FILE]

Each measurement is a whole process of the bundle's executable, started from a scratch folder with
``QT_QPA_PLATFORM=offscreen`` and an empty per-user data and cache folder (a new user):

- **first window**: ``bcviewer open`` (the bundled sample) with ``BCVIEWER_QUIT_AFTER_FIRST_PAINT=1``:
  the viewer prints the wall-clock time of its main window's first paint event and quits
  (bcviewer/gui/app.py). The figure is that time minus the moment the process was started.
- **first predict**: ``bcviewer predict <bundled sample> --out ... --quiet`` (default runtime), from
  start to exit: the moment its result (summary.csv, tiles, heatmaps) is complete. Both bundles
  run the ONNX file the model ships (nothing is exported at run time).

The first run of each is reported apart ("first run": the bundle's files were read from disk or
the page cache for the first time in this process tree; caches are not dropped, which needs a
privilege CI lacks), then the median, min and max of ``--runs`` further runs. The bundles take
turns (cpu, full, cpu, full, ...) so that a change in the machine's load hits both alike. The
load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path("_internal/bcviewer/_data/resources/sample/SOB_M_MC-14-13413-100-003.png")
PAINT = re.compile(r"bcviewer: first paint at ([0-9.]+)")


def environment(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCVIEWER_") and k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(scratch / "data"), XDG_CACHE_HOME=str(scratch / "cache"),
               XDG_CONFIG_HOME=str(scratch / "config"))
    return env


def first_window(bundle: Path) -> float:
    """Seconds from starting ``bcviewer open`` to its main window's first paint."""
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        env = {**environment(Path(tmp)), "BCVIEWER_QUIT_AFTER_FIRST_PAINT": "1"}
        start = time.time()
        done = subprocess.run([str(bundle / "bcviewer"), "open"], cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        found = PAINT.search(done.stderr)
        if done.returncode != 0 or not found:
            raise RuntimeError(f"{bundle}: open exited {done.returncode} without a first paint: {done.stderr[-2000:]}")
        return float(found.group(1)) - start


def first_predict(bundle: Path) -> float:
    """Seconds from starting ``bcviewer predict`` on the bundled sample to its exit with a result."""
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        start = time.perf_counter()
        done = subprocess.run([str(bundle / "bcviewer"), "predict", str(bundle / SAMPLE), "--out", "out", "--quiet"],
                              cwd=tmp, env=environment(Path(tmp)), capture_output=True, text=True, timeout=600,
                              check=False)
        took = time.perf_counter() - start
        if done.returncode != 0 or not list(Path(tmp, "out").glob("*/tiles.csv")):
            raise RuntimeError(f"{bundle}: predict exited {done.returncode}: {done.stderr[-2000:]}")
        return took


MEASURES = {"first window": first_window, "first predict": first_predict}


def measure(bundle: Path, what: str) -> float | str:
    try:
        return MEASURES[what](bundle)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        lines = str(exc).strip().splitlines()
        errors = [line for line in lines if re.match(r"\w+(Error|Exception)\b", line) or line.startswith("bcviewer")]
        return f"failed: {(errors or lines)[-1][:200]}"


def size_mb(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) // 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=Path, default=ROOT / "dist" / "bcviewer-cpu", help="the CPU bundle's folder")
    parser.add_argument("--full", type=Path, default=ROOT / "dist" / "bcviewer", help="the full bundle's folder")
    parser.add_argument("--runs", type=int, default=5, help="runs after the first one (default 5)")
    parser.add_argument("--json", type=Path, help="write every figure as JSON")
    args = parser.parse_args()
    bundles = {name: path.resolve() for name, path in (("cpu", args.cpu), ("full", args.full))
               if (path / "bcviewer").is_file()}
    if not bundles:
        raise SystemExit("no bundle found (build one with installer/linux/build.sh cpu|full)")
    print(f"{os.cpu_count()} cores; load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for name, path in bundles.items():
        print(f"{name}: {path} ({size_mb(path)} MB)")
    results: dict[str, dict[str, list[float | str]]] = {n: {w: [] for w in MEASURES} for n in bundles}
    for _ in range(1 + args.runs):
        for what in MEASURES:
            for name, path in bundles.items():
                results[name][what].append(measure(path, what))
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print()
    print("| bundle | measure | first run | median of the next | min | max |")
    print("|---|---|---|---|---|---|")
    for name in bundles:
        for what in MEASURES:
            first, *rest = results[name][what]
            numbers = [v for v in rest if isinstance(v, float)]
            cells = [f"{first:.2f} s" if isinstance(first, float) else str(first)]
            if numbers:
                cells += [f"{statistics.median(numbers):.2f} s ({len(numbers)} runs)", f"{min(numbers):.2f} s",
                          f"{max(numbers):.2f} s"]
            else:
                cells += ["-", "-", "-"]
            print(f"| {name} | {what} | {' | '.join(cells)} |")
    if args.json:
        args.json.write_text(json.dumps({"bundles": {n: str(p) for n, p in bundles.items()}, "results": results},
                                        indent=1))


if __name__ == "__main__":
    main()
