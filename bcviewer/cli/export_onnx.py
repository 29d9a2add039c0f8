"""``bcviewer export-onnx MODEL``: write the ONNX file a torch-free install runs, and vouch for it.

For a model's maker (it needs PyTorch): the ensemble is exported to ``weights.fp32.onnx`` in the
model folder and the card's ``onnx.fp32`` entry records its sha256, the weights it came from and the
card it was traced for. Installs without PyTorch (the CPU bundle) run that file; they refuse it
when the card or the weights change afterwards, until it is exported again.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export-onnx", help="write the ONNX file installs without PyTorch run (needs PyTorch)")
    p.add_argument("model", help="model folder or shipped model name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bcviewer.nets.onnx_export import ship_fp32
    from bcviewer.nets.store import load_model

    model = load_model(args.model)
    entry = ship_fp32(model)
    print(f"{model.directory / entry['file']}: {entry['bytes']} bytes, sha256 {entry['sha256'][:12]}…, "
          f"recorded in {model.directory / 'card.json'}", file=sys.stderr)
    return 0
