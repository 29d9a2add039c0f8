"""The deletion check of docs/explanations.md: for each shipped model and method, explain real
malignant tiles of patients the model never trained on, delete the top-attributed 10% of each
tile's input pixels (set to the tile's mean colour) and a random 10% (5 draws), and compare the
drops of p_malignant.

Usage (from the repository root, with ../shared/data):

    PYTHONPATH=. python3 scripts/deletion_check.py [--data ../shared/data] [--figures docs/explanations]

prints one markdown table row per model, method and fold; with ``--figures`` also writes the
explain PNG of the first tile of each model (occlusion) there. Grad-CAM rows need PyTorch and captum.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

from bcviewer.export.explanation import write_explanation_png
from bcviewer.inference.explain import make_explainer
from bcviewer.inference.faithfulness import deletion_check
from bcviewer.inference.faithfulness_data import malignant_tiles
from bcviewer.nets.stored import open_model

ROOT = Path(__file__).resolve().parents[1]
RUNS = (("idc-wsi", "test", 5), ("breakhis-100x", "test", 27), ("breakhis-100x", "val", 18))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--figures", type=Path, help="folder for one example explain PNG per model")
    args = parser.parse_args()
    runtimes = ["onnx"] + (["torch"] if importlib.util.find_spec("captum") and importlib.util.find_spec("torch") else [])
    print("| model | method | fold | tiles | patients | mean p | drop, top 10% | drop, random 10% | difference "
          "(95% CI) | tiles where top > random |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, fold, per_patient in RUNS:
        model = open_model(name)
        tiles = malignant_tiles(model, args.data, (fold,), per_patient)
        for runtime in runtimes:
            explainer = make_explainer(model, runtime, threads=1)
            start = time.perf_counter()
            summary, results = deletion_check(explainer, [t.rgb for t in tiles])
            wins = float(np.mean([r.gain > 0 for r in results]))
            method = "occlusion" if runtime == "onnx" else "Grad-CAM"
            print(f"| {name} | {method} | {fold} | {summary.n} | {len({t.patient for t in tiles})} | "
                  f"{summary.mean_p:.3f} | {summary.mean_drop_top:+.4f} | {summary.mean_drop_random:+.4f} | "
                  f"{summary.mean_gain:+.4f} ({summary.gain_low:+.4f} to {summary.gain_high:+.4f}) | {wins:.0%} |",
                  flush=True)
            if args.figures and runtime == "onnx" and fold == "test":
                args.figures.mkdir(parents=True, exist_ok=True)
                first = explainer.explain(tiles[0].rgb)
                write_explanation_png(first, args.figures / f"{name}-occlusion.png")
                print(f"<!-- {name}: figure of {tiles[0].source} (patient {tiles[0].patient}); "
                      f"{time.perf_counter() - start:.0f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
