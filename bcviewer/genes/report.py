"""Markdown and JSON training reports, and the index of a task's architectures.

``write_report`` renders a model's card as ``report.md`` and ``report.json``. ``update_index``
writes ``index.json`` (default architecture = highest mean CV AUC; the external cohort is not
used to choose) and ``summary.md`` for a task folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bcviewer.genes.evaluation import METRICS
from bcviewer.safety import atomic_write_text

CARD_NAME = "card.json"


def _pm(summary: dict[str, dict[str, float]], metric: str) -> str:
    value = summary[metric]
    return f"{value['mean']:.3f} ± {value['sd']:.3f}"


def cv_table(card: dict[str, Any]) -> list[str]:
    """Markdown rows: one per model, mean ± sd of each metric over the folds."""
    rows = ["| model | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for model, summary in card["cv"]["summary"].items():
        rows.append(f"| {model} | " + " | ".join(_pm(summary, m) for m in METRICS) + " |")
    return rows


def _metric_row(name: str, metrics: dict[str, float]) -> str:
    return f"| {name} | " + " | ".join("n/a" if metrics[m] is None else f"{metrics[m]:.3f}" for m in METRICS) + " |"


def render_report(card: dict[str, Any]) -> str:
    """The markdown report of one trained model."""
    cohort = card["cohort"]
    lines = [f"# {card['name']}", "", f"Task: {card['task']}.", "",
             f"Cohort: `{cohort['file']}` ({cohort.get('citation') or 'source in the data README'}), "
             f"{cohort['n_samples']} samples, label `{cohort['label_column']}`: "
             + ", ".join(f"{k} {v}" for k, v in cohort["class_counts"].items()) + ".",
             f"Genes: {card['n_genes']}. Classes: {', '.join(card['classes'])}"
             + (f" (positive: {card['positive_class']})." if card.get("positive_class") else "."), ""]
    lines += ["Preprocessing (fitted on training folds only): "
              + " → ".join(step["type"] for step in card["preprocessing"]) + ".", ""]
    lines += ["## Cross-validation", "", card["cv"]["scheme"] + ".", ""] + cv_table(card) + [""]
    lines += ["Per-fold AUC: " + "; ".join(
        f"{m}: " + ", ".join(f"{f['metrics'][m]['auc']:.3f}" for f in card["cv"]["folds"])
        for m in card["cv"]["summary"]), ""]
    noise = card["cv"].get("noise", {})
    if noise:
        levels = [k for k in next(iter(noise.values())) if k.startswith("auc_at_")]
        lines += ["## Noise robustness", "",
                  "Gaussian noise with sd = level × each gene's training-fold sd added to the test fold "
                  "(mean over folds; variance over all noisy draws of a fold, averaged).", "",
                  "| model | " + " | ".join(f"AUC @ {lv[7:]}" for lv in levels) + " | AUC variance |",
                  "|---" * (len(levels) + 2) + "|"]
        for model, values in noise.items():
            lines.append(f"| {model} | " + " | ".join(f"{values[lv]:.3f}" for lv in levels)
                         + f" | {values['auc_variance_mean']:.2e} |")
        lines.append("")
    external = card.get("external")
    if external:
        cov = external["gene_coverage"]
        lines += ["## External cohort", "",
                  f"`{external['file']}` ({external.get('citation') or ''}), {external['n_samples']} samples, label "
                  f"`{external['label_column']}` (positive: {external['positive_class']}). Genes: "
                  f"{cov['shared_genes']} of {cov['training_genes']} training genes shared ({cov['fraction']:.0%}); "
                  f"all models use the shared genes. Standardisation: {external['standardisation']}.", "",
                  "| model | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
        lines += [_metric_row(name, metrics) for name, metrics in external["metrics"].items()]
        for name, metrics in external.get("metrics_with_training_standardisation", {}).items():
            lines.append(_metric_row(f"{name}, training-cohort z-scores", metrics))
        lines.append("")
    if card.get("limitations"):
        lines += ["## Limitations", ""] + [f"- {item}" for item in card["limitations"]] + [""]
    lines += [f"Reproduce: `{card.get('training_command', '')}`", ""]
    return "\n".join(lines)


def write_report(model_dir: Path) -> None:
    """``report.md`` and ``report.json`` next to a model's card."""
    card = json.loads((model_dir / CARD_NAME).read_text())
    (model_dir / "report.md").write_text(render_report(card))
    keys = ("name", "task", "cohort", "classes", "positive_class", "n_genes", "cv", "external", "limitations")
    (model_dir / "report.json").write_text(json.dumps({k: card.get(k) for k in keys}, indent=1) + "\n")


def update_index(task_dir: Path) -> dict[str, Any]:
    """Write ``index.json`` and ``summary.md`` for every architecture trained in ``task_dir``."""
    cards = {p.parent.name: json.loads(p.read_text()) for p in sorted(task_dir.glob(f"*/{CARD_NAME}"))}
    if not cards:
        return {}
    cv_auc = {arch: card["cv"]["summary"][card["architecture"]]["auc"]["mean"] for arch, card in cards.items()}
    default = max(cv_auc, key=lambda arch: cv_auc[arch])
    index = {"name": task_dir.name, "default": default, "architectures": sorted(cards),
             "selection": "default = highest mean cross-validated AUC on the training cohort", "cv_auc": cv_auc}
    atomic_write_text(task_dir / "index.json", json.dumps(index, indent=1) + "\n")  # models are found by it
    lines = [f"# {task_dir.name}", "", f"Default architecture: **{default}** (highest mean CV AUC).", "",
             "| model | CV AUC | external AUC |", "|---|---|---|"]
    for arch, card in cards.items():
        ext = card.get("external", {}).get("metrics", {}).get(arch, {}).get("auc")
        lines.append(f"| {arch} | {_pm(card['cv']['summary'][arch], 'auc')} | {'' if ext is None else f'{ext:.3f}'} |")
    # Baselines ran on the same folds for every architecture; list them once.
    first = next(iter(cards.values()))
    external = first.get("external", {}).get("metrics", {})
    for model, summary in first["cv"]["summary"].items():
        if model in cards:
            continue
        ext = external.get(model, {}).get("auc")
        lines.append(f"| {model} (baseline) | {_pm(summary, 'auc')} | {'' if ext is None else f'{ext:.3f}'} |")
    (task_dir / "summary.md").write_text("\n".join(lines) + "\n")
    return index
