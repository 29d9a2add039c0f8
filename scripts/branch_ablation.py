"""Does each branch of a shipped hybrid carry information? Mean replacement and shuffles (issue 20).

    python3 scripts/branch_ablation.py [--model idc-wsi] [--data ../shared/data]

Zeroing a branch feeds the head an input it never saw; replacing the branch's vector by its mean
over the training patients' tiles, or shuffling it across the test tiles, removes its information
and keeps the input in range. Each member of the shipped ensemble is ablated in turn (the others
untouched), on the card's test patients, and the image accuracy and AUC are written to the card's
``branch_information`` with the shipped model's own mean attention. These are held-out figures of
the shipped weights, not a cross-validation (retraining the from-scratch CV takes hours on CPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.nets import load_model, preprocess, update_card  # noqa: E402
from bcviewer.training import load_tileset  # noqa: E402
from bcviewer.training.metrics import binary_metrics  # noqa: E402


def member_vectors(member: Any, tiles: np.ndarray, spec: Any, batch: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Both branch vectors of every tile for one member, in eval mode."""
    member.eval()
    cnn, lstm = [], []
    with torch.no_grad():
        for start in range(0, len(tiles), batch):
            x = preprocess(tiles[start:start + batch], spec)
            c, l_ = member.branch_vectors(member.cnn(x), x)
            cnn.append(c)
            lstm.append(l_)
    return torch.cat(cnn), torch.cat(lstm)


def member_probs(member: Any, temperature: float, cnn: torch.Tensor, lstm: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        logits, attention = member.fuse(cnn, lstm)
    return torch.softmax(logits / temperature, dim=1)[:, 1].double().numpy(), attention.double().numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="idc-wsi")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.model)
    card, spec, ensemble = model.card, model.spec, model.ensemble
    folder = args.data / card["data"]["folder"]
    parts = card["training"]["patients"]
    train = load_tileset(folder, spec.size, card["data"]["kind"], patients=parts["train"])
    test = load_tileset(folder, spec.size, card["data"]["kind"], patients=parts["test"])
    weights = ensemble.member_weights.double().numpy()
    temps = [float(t) for t in ensemble.temperatures]
    vectors = [(member_vectors(m, train.tiles, spec), member_vectors(m, test.tiles, spec)) for m in ensemble.members]
    base = [member_probs(m, t, *held) for m, t, (_, held) in zip(ensemble.members, temps, vectors)]
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))

    def image_metrics(member_p: list[np.ndarray]) -> dict[str, float]:
        p = np.stack(member_p, axis=1) @ weights
        m = binary_metrics(test.labels, p)  # IDC: a patch is an image
        return {"accuracy": round(m["accuracy"], 4), "roc_auc": round(m["roc_auc"], 4)}

    result: dict[str, Any] = {"patients": "test", "n_patches": len(test), "shipped": image_metrics([b[0] for b in base]),
                              "mean_attention_cnn_lstm": [b[1].mean(0).round(3).tolist() for b in base]}
    for k, (member, temp) in enumerate(zip(ensemble.members, temps)):
        (train_cnn, train_lstm), (cnn, lstm) = vectors[k]
        for name, (c, l_) in {"cnn_mean": (train_cnn.mean(0).expand_as(cnn), lstm),
                              "lstm_mean": (cnn, train_lstm.mean(0).expand_as(lstm)),
                              "cnn_shuffle": (cnn[order], lstm), "lstm_shuffle": (cnn, lstm[order])}.items():
            ablated = [b[0] for b in base]
            ablated[k] = member_probs(member, temp, c, l_)[0]
            result[f"member{k}_{name}"] = image_metrics(ablated)
    for both in ("cnn", "lstm"):  # the branch removed from every member at once
        ablated = []
        for (train_v, held_v), member, temp in zip(vectors, ensemble.members, temps):
            c, l_ = held_v
            if both == "cnn":
                c = train_v[0].mean(0).expand_as(c)
            else:
                l_ = train_v[1].mean(0).expand_as(l_)
            ablated.append(member_probs(member, temp, c, l_)[0])
        result[f"all_{both}_mean"] = image_metrics(ablated)
    shipped = result["shipped"]["accuracy"]
    result["verdict"] = {branch: ("carries information (>= 2 points lost when replaced by its mean)"
                                  if shipped - result[f"all_{branch}_mean"]["accuracy"] >= 0.02
                                  else "not shown to carry information (< 2 points lost when replaced by its mean)")
                         for branch in ("cnn", "lstm")}
    for key, value in result.items():
        print(f"{key}: {value}")
    update_card(model.directory, {"branch_information": result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
