"""Write ``models/<model>/trunk.onnx``: the frozen trunk self-learning runs, for torch-free installs.

    PYTHONPATH=. python3 scripts/export_trunk_onnx.py            # models/breakhis-100x
    PYTHONPATH=. python3 scripts/export_trunk_onnx.py --model models/breakhis-100x

Exports the trunk of the model's first member (EfficientNet-Lite0 cut after stage 4, frozen
ImageNet weights; what ``bcviewer.labels.lite_trainer`` reads sub-images with) with
:func:`bcviewer.nets.trunk_export.ship_trunk_onnx` and records the file in the card's
``onnx.trunk`` entry (sha256, bytes, the weights' sha256, opset). Then checks it against the torch
trunk on a batch of tiles and prints the largest difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from bcviewer.nets.trunk_export import ship_trunk_onnx, shipped_trunk
from bcviewer.nets.trunk_runtime import onnx_trunk


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(ROOT / "models" / "breakhis-100x"))
    args = p.parse_args()
    entry = ship_trunk_onnx(args.model)
    print(f"wrote {entry['file']}: {entry['bytes']} bytes, sha256 {entry['sha256'][:16]}..., output {entry['output']}")
    trunk, loaded = shipped_trunk(args.model)
    runner = onnx_trunk(args.model, threads=1)
    x = np.random.default_rng(0).normal(size=(5, 3, loaded.spec.height, loaded.spec.width)).astype(np.float32)
    with torch.no_grad():
        expected = trunk(torch.from_numpy(x)).numpy()
    print(f"largest |onnx - torch| on 5 random inputs: {np.abs(runner(x) - expected).max():.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
