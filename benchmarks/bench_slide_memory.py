"""Peak memory of ``bcviewer predict`` streaming a 100k x 100k px pyramidal slide to a heatmap.

Usage: python benchmarks/bench_slide_memory.py [--size 100000] [--model idc-wsi] [--runtime auto]
       [--keep]

Writes a synthetic tiled JPEG pyramidal TIFF (``synthetic_slide.py``: levels 1, 4, 16, 64; pixel
size 0.25 µm; pattern tiles), then runs ``python -m bcviewer predict`` on it in a child process
(``--min-tissue 0``: every tile of the model's grid is scored, ``--formats csv,png``: tile table,
heatmap and overlay) and reports the child's peak RSS. The slide is deleted afterwards unless
``--keep``. Goal: under 1.5 GB. Prints one table row; ``--json`` writes it for other benchmarks.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_slide import write_pyramid  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOAL_MB = 1500.0


def measure(size: int, model: str, runtime: str, batch_size: int, keep: bool) -> dict[str, object]:
    """Write the slide, run predict on it in a child process, and return what was measured."""
    with tempfile.TemporaryDirectory(prefix="bcviewer-bench-") as tmp:
        slide = Path(tmp) / f"synthetic-{size}.tif"
        start = time.perf_counter()
        write_pyramid(slide, size)
        write_s = time.perf_counter() - start
        file_mb = slide.stat().st_size / 1e6
        writer_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "bcviewer", "predict", str(slide), "--model", model, "--runtime", runtime,
               "--min-tissue", "0", "--formats", "csv,png", "--batch-size", str(batch_size), "--quiet",
               "--out", str(out)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        if proc.returncode != 0:
            raise SystemExit(f"predict failed ({proc.returncode}): {proc.stderr.strip()}")
        with open(out / "summary.csv", newline="") as fh:
            row = next(csv.DictReader(fh))
        if keep:
            kept = ROOT / slide.name
            os.replace(slide, kept)
            print(f"kept {kept}")
        return {"size": size, "file_mb": round(file_mb, 1),
                "write_s": round(write_s, 1), "writer_peak_mb": round(writer_mb), "tiles": int(row["n_tiles"]),
                "predict_s": round(seconds, 1), "tiles_per_s": round(int(row["n_tiles"]) / seconds, 1),
                "peak_rss_mb": round(child_mb), "goal_mb": GOAL_MB, "model": model, "runtime": runtime}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="slide side in pixels")
    parser.add_argument("--model", default="idc-wsi")
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic slide (moved next to the project)")
    parser.add_argument("--json", type=Path, help="also write the result as JSON")
    args = parser.parse_args()
    r = measure(args.size, args.model, args.runtime, args.batch_size, args.keep)
    print(f"{'slide':<16} {'tiles':>6} {'predict s':>9} {'tiles/s':>8} {'peak RSS MB':>11} {'goal MB':>8}  met")
    print(f"{r['size']}x{r['size']:<9} {r['tiles']:>6} {r['predict_s']:>9} {r['tiles_per_s']:>8} "
          f"{r['peak_rss_mb']:>11} {GOAL_MB:>8.0f}  {'yes' if float(r['peak_rss_mb']) < GOAL_MB else 'NO'}")
    print(f"(writing the slide took {r['write_s']} s with a peak RSS of {r['writer_peak_mb']} MB; "
          f"model {r['model']}, runtime {r['runtime']})")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
