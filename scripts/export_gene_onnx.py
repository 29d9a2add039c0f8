"""Export every shipped gene model (models/genes/<task>/<architecture>) to model.onnx and record it
in its card: what ``bcviewer genes export-onnx`` does, for all of them. Run after retraining.

    PYTHONPATH=. python3 scripts/export_gene_onnx.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from bcviewer.genes.onnx_export import export_gene_onnx

MODELS = Path(__file__).resolve().parent.parent / "models" / "genes"


def main() -> int:
    torch.set_num_threads(1)
    for card in sorted(MODELS.glob("*/*/card.json")):
        path = export_gene_onnx(card.parent)
        print(f"{card.parent.relative_to(MODELS)}: {path.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
