"""Descriptive model-card sections (task, classes, citations, limitations) per data kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CITATIONS = {
    "breakhis": "BreakHis: Spanhol F.A., Oliveira L.S., Petitjean C., Heutte L. A dataset for breast cancer "
                "histopathological image classification. IEEE TBME 63(7):1455-1462, 2016.",
    "idc": "IDC: Janowczyk A., Madabhushi A. Deep learning for digital pathology image analysis: a comprehensive "
           "tutorial with selected use cases. J Pathol Inform 7:29, 2016.",
}
METHODS = [
    "Hybrid CNN+RNN with attention fusion after the BreakHis hybrid CNN+LSTM with self-learning (ResNet101+LSTM "
    "best there; 512 LSTM units; two-stage training, Adam 1e-4).",
    "CNN-LSTM over the CNN feature map as a sequence (IDC and BreakHis 400X; dropout 0.5/0.2, L2, batch norm, "
    "early stopping, rotation/flip/zoom augmentation).",
]
CLASSES = {"breakhis": ["benign", "malignant"], "idc": ["non-IDC", "IDC"]}
GENERIC_LIMITATIONS = [
    "Research software, not a medical device; not for diagnosis.",
    "Trained from scratch on a small public data set; held-out metrics come from few patients and have wide "
    "confidence intervals.",
    "Probabilities were calibrated with one temperature per member on validation patients only.",
]

# What each kind of model was trained on, for the card's ``trained_on`` section (read by
# bcviewer.inference.scale to explain model choice and to warn about a scale mismatch).
TRAINED_ON: dict[str, dict[str, Any]] = {
    "breakhis": {"kind": "image", "tissue": "breast tumour tissue, H&E (BreakHis microscopy images of biopsies)",
                 "magnification": None, "scale": "700 x 460 px microscopy fields, each cut into 3x3 sub-images"},
    "idc": {"kind": "whole-slide", "tissue": "breast cancer whole slides, H&E (Kaggle IDC patches)",
            "magnification": "2.5x", "mpp": 4.0, "tile_um": 200.0,
            "scale": "200 µm tiles read at about 4 µm/px (50 px patches)"},
}


def spec_extras_for(kind: str, magnifications: set[int] | None = None, tile_um: float | None = None,
                    mpp: float | None = None, tile_px: int | None = None) -> dict[str, Any]:
    """The physical description of a tile stored in the card's input section."""
    if kind == "breakhis":
        mags = sorted(magnifications or [])
        return {"magnification": "/".join(f"{m}X" for m in mags) or "any", "tile_scheme": "breakhis-3x3"}
    return {"tile_um": tile_um if tile_um is not None else 200.0, "mpp": mpp if mpp is not None else 4.0,
            "tile_px": tile_px if tile_px is not None else 50, "tile_scheme": "physical"}


def card_fields_for(kind: str, name: str, data_dir: Path, description: str | None = None) -> dict[str, Any]:
    """Name, task, classes, data description, citations and generic limitations."""
    task = ("benign vs malignant breast tumour, per 3x3 sub-image of a BreakHis microscopy image"
            if kind == "breakhis" else "invasive ductal carcinoma (IDC) vs non-IDC, per whole-slide tile")
    return {"name": name, "description": description or task, "task": task, "classes": CLASSES[kind],
            "positive_class": CLASSES[kind][1], "data": {"kind": kind, "folder": data_dir.name},
            "trained_on": dict(TRAINED_ON[kind]),
            "citations": [CITATIONS[kind]], "method_sources": METHODS, "limitations": list(GENERIC_LIMITATIONS)}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def held_out_summary(metrics: dict[str, Any]) -> str:
    """One sentence with the held-out test numbers, for the card's ``summary``."""
    test = metrics.get("test")
    if not test:
        return "No test patients were scored."
    image, tile = test["image"], test["tile"]
    auc = "n/a" if image["roc_auc"] is None else f"{image['roc_auc']:.3f}"
    return (f"On {len(test['patients'])} held-out test patients ({image['n']} images, {tile['n']} tiles): "
            f"image-level accuracy {_pct(image['accuracy'])}, AUC {auc}, sensitivity {_pct(image['sensitivity'])}, "
            f"specificity {_pct(image['specificity'])}; tile-level accuracy {_pct(tile['accuracy'])}.")


def crossval_summary(result: dict[str, Any]) -> str:
    """One sentence with the pooled cross-validation numbers."""
    image = result["pooled"]["image"]
    auc = "n/a" if image["roc_auc"] is None else f"{image['roc_auc']:.3f}"
    return (f"{result['k']}-fold patient cross-validation of the recipe ({image['n']} images, every patient held "
            f"out once): pooled image-level accuracy {_pct(image['accuracy'])}, AUC {auc}; per-fold accuracy "
            f"{_pct(result['fold_image_accuracy_mean'])} +/- {_pct(result['fold_image_accuracy_std'])}.")
