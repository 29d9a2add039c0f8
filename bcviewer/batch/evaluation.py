"""``evaluate``'s core: score labelled images exactly as ``predict`` does, then measure them.

Every image goes through :func:`bcviewer.batch.work.scored_inputs`, the function ``predict`` and
its Dask workers score with: the same opening, tiling, scale matching (a BreakHis image at 200X
gets the scale-matched tiles ``predict`` gives it, not a 3x3 cut), image aggregation and trust
signals. So the numbers ``evaluate`` prints are the numbers a user of ``predict`` or the viewer
gets on those images.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bcviewer.batch.work import PredictOptions, one_line, scored_inputs
from bcviewer.datasets import DatasetError, index_breakhis, index_idc
from bcviewer.inference import NEEDS_REVIEW, Predictor, margin_uncertainty
from bcviewer.training.metrics import binary_metrics
from bcviewer.training.reliability import COVERAGES, risk_coverage

IMAGE_RULE = ("{rule} of the tiles' p_malignant as predict scores them (the model card's verdict rule, "
              "bcviewer.inference.rules); malignant when its value >= 0.5")


@dataclass(frozen=True)
class LabelledInput:
    """One image with its known label (1 = malignant) and what it is grouped by."""

    path: Path
    label: int
    patient: str
    subtype: str
    magnification: int | None


def labelled_inputs(folder: Path, kind: str = "auto", magnifications: Iterable[int] | None = None,
                    patients: Iterable[str] | None = None) -> tuple[str, list[LabelledInput]]:
    """The labelled images of a BreakHis or IDC folder, at any depth (``kind`` "auto" tells them
    apart by name); a BreakHis file name found twice counts once."""
    wanted = None if patients is None else set(patients)
    found: dict[str, Callable[[], list[LabelledInput]]] = {
        "breakhis": lambda: [LabelledInput(im.path, int(im.label == "malignant"), im.patient, im.subtype,
                                           im.magnification) for im in _once(index_breakhis(folder, None if magnifications is None else set(magnifications)))],
        "idc": lambda: [LabelledInput(p.path, int(p.label), p.patient, "idc" if p.label else "non-idc", None)
                        for p in index_idc(folder)],
    }
    kinds = list(found) if kind == "auto" else [kind]
    for name in kinds:
        if name not in found:
            raise DatasetError(f"unknown data kind '{name}'; use breakhis, idc or auto")
        try:
            inputs = found[name]()
        except DatasetError:
            if kind != "auto":
                raise
            continue
        chosen = [i for i in inputs if wanted is None or i.patient in wanted]
        if not chosen:
            raise DatasetError(f"none of the requested patients has images in {folder}")
        return name, chosen
    raise DatasetError(f"{folder} holds neither BreakHis images nor IDC patches "
                       "(names like SOB_B_A-14-22549AB-100-001.png or 10253_idx5_x1451_y1001_class0.png)")


def _once(images: list[Any]) -> list[Any]:
    """The first of images that share a file name (a data set copied into two folders counts once)."""
    seen: set[str] = set()
    kept = []
    for image in images:
        if image.path.name.lower() not in seen:
            seen.add(image.path.name.lower())
            kept.append(image)
    return kept


def evaluate_inputs(predictor: Predictor, inputs: Sequence[LabelledInput], options: PredictOptions,
                    on_tiles_done: Callable[[int], object] | None = None) -> dict[str, Any]:
    """Score ``inputs`` through ``predict``'s path and report image- and tile-level metrics, the
    breakdowns by magnification, subtype and patient, and the trust signals (risk-coverage by the
    app's uncertainty, prediction-set coverage, outside-training share)."""
    p_image, y_image, kept, tile_p, tile_y, failed = [], [], [], [], [], []
    sets, outside, per_image = [], [], []
    results = scored_inputs(predictor, [(i, item.path) for i, item in enumerate(inputs)], options, on_tiles_done)
    try:
        for result in results:
            item = inputs[result.key.index]
            scores = result.scores
            if result.error is not None or scores is None or not scores.n_done:
                failed.append({"path": str(item.path), "error": one_line(result.error or ValueError("no tile"))})
                continue
            kept.append(item)
            rule = scores.slide_verdict.rule  # the same card, so the same rule, for every image
            p_image.append(scores.image_p_malignant)
            y_image.append(item.label)
            tile_p.append(scores.p_malignant[scores.done])
            tile_y.append(np.full(scores.n_done, item.label))
            sets.append(scores.image_set)
            outside.append(scores.image_outside)
            per_image.append({"path": str(item.path), "label": item.label, "patient": item.patient,
                              "p_malignant": scores.image_p_malignant, "n_tiles": scores.n_done,
                              "prediction_set": scores.image_set, "outside_training": scores.image_outside})
    finally:
        results.close()
    if not kept:
        raise DatasetError("no image could be scored: " + "; ".join(f["error"] for f in failed[:3]))
    p, y = np.array(p_image), np.array(y_image)
    report: dict[str, Any] = {
        "image_aggregation": IMAGE_RULE.format(rule=rule), "n_images": len(kept), "failed": failed,
        "patients": sorted({i.patient for i in kept}),
        "image": binary_metrics(y, p), "tile": binary_metrics(np.concatenate(tile_y), np.concatenate(tile_p)),
        "per_subtype": _groups([i.subtype for i in kept], p, y),
        "per_patient": _groups([i.patient for i in kept], p, y),
        "trust": _trust(y, p, sets, outside), "per_image": per_image,
    }
    mags = [i.magnification for i in kept]
    if any(m is not None for m in mags):
        report["per_magnification"] = {f"{m}X": binary_metrics(y[idx], p[idx])
                                       for m in sorted({m for m in mags if m is not None})
                                       for idx in [np.array([k for k, v in enumerate(mags) if v == m])]}
    return report


def _groups(keys: list[str], p: np.ndarray, y: np.ndarray) -> dict[str, dict[str, Any]]:
    members: dict[str, list[int]] = defaultdict(list)
    for k, key in enumerate(keys):
        members[key].append(k)
    return {key: {"n_images": len(idx), "n_malignant": int(y[idx].sum()),
                  "accuracy": float(((p[idx] >= 0.5).astype(int) == y[idx]).mean()),
                  "mean_p_malignant": float(p[idx].mean())} for key, idx in sorted(members.items())}


def _trust(y: np.ndarray, p: np.ndarray, sets: list[str | None], outside: list[bool | None]) -> dict[str, Any]:
    out: dict[str, Any] = {"ranking": "calibrated margin 1 - |2p - 1| (the app's uncertainty)",
                           "risk_coverage": risk_coverage(y, p, margin_uncertainty(p), COVERAGES)}
    if all(s is not None for s in sets):
        truth = np.array([s == "review" or s == ("malignant" if label else "benign") for s, label in zip(sets, y)])
        review = np.array([s in NEEDS_REVIEW for s in sets])
        out.update({"set_coverage": float(truth.mean()), "review_share": float(review.mean()),
                    "accuracy_outside_review": float(((p[~review] >= 0.5).astype(int) == y[~review]).mean())
                    if (~review).any() else None})
    if all(o is not None for o in outside):
        out["outside_training_share"] = float(np.mean([bool(o) for o in outside]))
    return out
