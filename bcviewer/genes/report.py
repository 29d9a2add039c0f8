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


ONNX_NOTE = ("Runtime: a model folder's `model.onnx` (exported from its `model.safetensors`, vouched for "
             "by `card.json`) is what runs it without PyTorch; a folder without one needs PyTorch. After "
             "retraining, `bcviewer genes export-onnx TASK/ARCH` (or `scripts/export_gene_onnx.py`) writes it.")


def _pm(summary: dict[str, dict[str, float]], metric: str) -> str:
    value = summary[metric]
    return f"{value['mean']:.3f} ± {value['sd']:.3f}"


def cv_table(card: dict[str, Any]) -> list[str]:
    """Markdown rows: one per model, mean ± sd of each metric over the folds (those measured)."""
    metrics = [m for m in METRICS if all(m in s for s in card["cv"]["summary"].values())]
    rows = ["| model | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for model, summary in card["cv"]["summary"].items():
        rows.append(f"| {model} | " + " | ".join(_pm(summary, m) for m in metrics) + " |")
    return rows


def _interval(pair: Any) -> str:
    return f"{pair[0]:.3f}–{pair[1]:.3f}" if pair else ""


def task_comparison_lines(card: dict[str, Any]) -> list[str]:
    """The task's models against the single-gene baseline: nested-CV AUC with CIs, the gain, the
    external cohorts under ``auto`` scaling, and the default with its reason."""
    section = card.get("task_comparison")
    if not section:
        return []
    external = section.get("external_auto") or {}
    cohorts = list(external)
    lines = ["## The task's models against the single gene", "",
             f"Default: **{section['default']}**: {section['default_reason']}. Rule: {section['rule']}.", "",
             "| model | CV AUC, 5 folds seed 0 (mean ± sd) | gain over the single gene (95% CI) | beats it | "
             "5 x 5-fold nested CV: pooled AUC (95% CI) |" + "".join(f" {c} AUC (auto) |" for c in cohorts),
             "|---|---|---|---|---|" + "---|" * len(cohorts)]
    for name, e in section["models"].items():
        repeated = "repeated_mean" in e
        first = f"{e['mean']:.3f} ± {e['sd']:.3f}" + ("" if repeated or not e.get("ci95") else
                                                      f" (95% CI {_interval(e['ci95'])})")
        gain = "baseline" if name == section["baseline"] else f"{e['gain']:+.3f} ({e['gain_ci95'][0]:+.3f} to " \
                                                              f"{e['gain_ci95'][1]:+.3f})"
        beats = "" if name == section["baseline"] else ("yes" if e.get("beats_baseline") else "no")
        pooled = f"{e['pooled_auc']:.3f} ({_interval(e['ci95'])})" if repeated else "not repeated"
        cells = []
        for cohort in cohorts:
            found = external[cohort].get(name)
            cells.append("" if found is None else f"{found['auc']:.3f} ({found['scaling']})")
        lines.append(f"| {name} | {first} | {gain} | {beats} | {pooled} |" + "".join(f" {c} |" for c in cells))
    methods = sorted({e.get("method", "") for e in section["models"].values()} - {""})
    lines += [""] + [f"- {m}" for m in methods] + [""]
    return lines


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
    members = card.get("classifier", {}).get("members")
    if isinstance(members, list):  # an ensemble: each member has its own chain
        lines += ["Mean of the class probabilities of: " + "; ".join(
            f"{m['architecture']} (" + " → ".join(step["type"] for step in m["preprocessing"]) + ")"
            for m in members) + ". Preprocessing is fitted on training folds only.", ""]
    else:
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
    lines += single_gene_lines(card)
    lines += task_comparison_lines(card)
    for external in card.get("externals") or ([card["external"]] if card.get("external") else []):
        lines += external_lines(external)
    if card.get("scaling_choice"):
        choice = card["scaling_choice"]
        lines += ["## Choice of scaling", "", f"Rule: {choice['rule']}. Mean AUC over all models and cohorts: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in choice["mean_auc_by_scaling"].items())
                  + f". Default for new cohorts: **{choice['default']}**.", ""]
    if card.get("limitations"):
        lines += ["## Limitations", ""] + [f"- {item}" for item in card["limitations"]] + [""]
    lines += [f"Reproduce: `{card.get('training_command', '')}`", ""]
    return "\n".join(lines)


SCALING_NAMES = {"model": "training z-scores", "cohort": "cohort z-scores", "quantile": "quantile to training",
                 "rank": "rank normalisation"}


def single_gene_lines(card: dict[str, Any]) -> list[str]:
    """Which gene the single-gene baseline uses, and where it was chosen."""
    single = card.get("single_gene")
    if not single:
        return []
    folds = ", ".join(str(g) for g in single.get("chosen_in_cv_folds", []))
    return ["## Single-gene baseline", "",
            f"`single gene` = {single['gene']} alone (training AUC {single['training_auc']:.3f}), chosen as the gene "
            f"with the best AUC on the training samples only; the CV training folds chose: {folds}.", ""]


def external_lines(external: dict[str, Any]) -> list[str]:
    """One external cohort: AUC of every model under every scaling; the reported scaling in bold."""
    cov = external["gene_coverage"]
    by_scaling = external.get("metrics_by_scaling")
    chosen = external.get("scaling")
    lines = ["## External cohort: " + external["file"], "",
             f"`{external['file']}` ({external.get('citation') or ''}), {external['n_samples']} samples, label "
             f"`{external['label_column']}` (positive: {external['positive_class']}"
             + (f"; {external['label_rule']}" if external.get("label_rule") else "") + "): "
             + ", ".join(f"{k} {v}" for k, v in external["class_counts"].items())
             + f". Genes: {cov['shared_genes']} of "
             f"{cov['training_genes']} training genes measured ({cov['fraction']:.0%}); "
             f"{external.get('model_used', 'all models use the shared genes')}.", ""]
    if not by_scaling:  # cards written before scalings were compared
        return lines + ["| model | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"] + [
            _metric_row(name, metrics) for name, metrics in external["metrics"].items()] + [""]
    scalings = list(by_scaling)
    lines += [f"AUC under each scaling; reported: **{SCALING_NAMES.get(str(chosen), chosen)}** (chosen on "
              f"{', '.join(external.get('scaling_chosen_on', []))}).", "",
              "| model | " + " | ".join(SCALING_NAMES.get(s, s) for s in scalings) + " | accuracy | F1 |",
              "|---" * (len(scalings) + 3) + "|"]
    for name in by_scaling[scalings[0]]:
        aucs = [by_scaling[s][name]["auc"] for s in scalings]
        cells = [("n/a" if a is None else (f"**{a:.3f}**" if s == chosen else f"{a:.3f}"))
                 for s, a in zip(scalings, aucs)]
        reported = external["metrics"][name]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {reported['accuracy']:.3f} | {reported['f1']:.3f} |")
    return lines + [""]


def write_report(model_dir: Path) -> None:
    """``report.md`` and ``report.json`` next to a model's card."""
    card = json.loads((model_dir / CARD_NAME).read_text())
    (model_dir / "report.md").write_text(render_report(card))
    keys = ("name", "task", "cohort", "classes", "positive_class", "n_genes", "cv", "single_gene", "external",
            "externals", "scaling_choice", "limitations", "task_comparison")
    (model_dir / "report.json").write_text(json.dumps({k: card.get(k) for k in keys}, indent=1) + "\n")


def update_index(task_dir: Path, default: str | None = None, reason: str | None = None,
                 rule: str | None = None) -> dict[str, Any]:
    """Write ``index.json`` and ``summary.md`` for every architecture trained in ``task_dir``.

    ``default`` / ``reason`` / ``rule``: a default chosen against the single-gene baseline
    (``scripts/train_gene_linear.py``); without them, the highest mean CV AUC."""
    cards = {p.parent.name: json.loads(p.read_text()) for p in sorted(task_dir.glob(f"*/{CARD_NAME}"))}
    if not cards:
        return {}
    cv_auc = {arch: card["cv"]["summary"][card["architecture"]]["auc"]["mean"] for arch, card in cards.items()}
    default = default or max(cv_auc, key=lambda arch: cv_auc[arch])
    index = {"name": task_dir.name, "default": default, "architectures": sorted(cards),
             "selection": rule or "default = highest mean cross-validated AUC on the training cohort", "cv_auc": cv_auc}
    if reason:
        index["default_reason"] = reason
    choice = cards[default].get("scaling_choice")
    if choice:
        index["scaling"] = choice["default"]
    atomic_write_text(task_dir / "index.json", json.dumps(index, indent=1) + "\n")  # models are found by it
    # The networks' cards carry the baselines' CV and the external cohorts; a logistic card does not.
    first = next((c for c in cards.values() if len(c["cv"]["summary"]) > 1), next(iter(cards.values())))
    cohorts = [e["file"] for e in first.get("externals") or ([first["external"]] if first.get("external") else [])]

    def external_cells(card: dict[str, Any], model: str) -> str:
        by_file = {e["file"]: e for e in card.get("externals") or ([card["external"]] if card.get("external") else [])}
        cells = []
        for cohort in cohorts:
            auc = by_file.get(cohort, {}).get("metrics", {}).get(model, {}).get("auc")
            cells.append("" if auc is None else f"{auc:.3f}")
        return "".join(f" {c} |" for c in cells)

    lines = [f"# {task_dir.name}", "", f"Default architecture: **{default}** ({reason or 'highest mean CV AUC'}).", "",
             "| model | CV AUC |" + "".join(f" {c} AUC |" for c in cohorts), "|---|---|" + "---|" * len(cohorts)]
    for arch, card in cards.items():
        lines.append(f"| {arch} | {_pm(card['cv']['summary'][arch], 'auc')} |" + external_cells(card, arch))
    # Baselines ran on the same folds for every architecture; list them once.
    for model, summary in first["cv"]["summary"].items():
        if model in cards:
            continue
        lines.append(f"| {model} (baseline) | {_pm(summary, 'auc')} |" + external_cells(first, model))
    if cohorts and first.get("externals"):
        lines += ["", "External AUCs under each cohort's scaling, chosen on the other cohorts: "
                  + ", ".join(f"{e['file']}: {e['scaling']}" for e in first["externals"]) + "."]
    lines += [""] + task_comparison_lines(cards[default])
    lines += ["", ONNX_NOTE]
    (task_dir / "summary.md").write_text("\n".join(lines) + "\n")
    return index
