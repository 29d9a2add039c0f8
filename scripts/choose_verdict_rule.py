"""Choose a model's verdict rule on its development patients, then report it once on its test patients.

``python3 scripts/choose_verdict_rule.py [--model breakhis-100x] [--data ../shared/data] [--dry-run]``

1. The card's validation patients (never trained on) are scored through ``predict``'s own path
   (:func:`bcviewer.batch.work.scored_inputs`, the ONNX runtime on CPU) and each image keeps its
   scored tiles' p and tissue weights.
2. Each candidate of :data:`CANDIDATES` (fixed before any number was seen) is measured on those
   images: balanced accuracy at the card's threshold and ROC AUC, with 95% intervals from a
   bootstrap over patients, stratified by the patient's label (a BreakHis patient has one label,
   so an unstratified resample can hold one class only).
3. The choice rule, also fixed beforehand: the mean (today's rule) stays unless another candidate
   gains balanced accuracy over it with a paired patient-bootstrap 95% interval above zero; among
   those, the largest gain wins. Ten development patients are few, so a gain that could be chance
   does not change what users see.
4. When the choice is not the mean, the image-level conformal calibration is refitted on the
   development values of the chosen rule (the sets read the rule's value, not the mean).
5. Only then are the test patients read and scored, and the chosen rule (and, for reference, the
   mean) measured on them once. Everything goes into the card's ``verdict`` field.

The IDC model (``--model idc-wsi``) has no slide-level labels: its data are 50 px patches, one tile
each, so every rule gives the tile's own p and there is nothing to choose; ``--model idc-wsi``
writes that into its card, with the default rule, marked as not validated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.batch.evaluation import LabelledInput, labelled_inputs
from bcviewer.batch.work import PredictOptions, scored_inputs
from bcviewer.inference import Predictor
from bcviewer.inference.rules import DEFAULT_RULE, VerdictRule
from bcviewer.inference.trust import NEEDS_REVIEW, ConformalSets, calibrate_sets
from bcviewer.inference.verdict import tile_weights
from bcviewer.nets import load_model, resolve_model_dir
from bcviewer.nets.store import update_card

CANDIDATES = (DEFAULT_RULE, VerdictRule("top_k_mean", top_share=0.1), VerdictRule("top_k_mean", top_share=0.25),
              VerdictRule("top_k_mean", top_share=0.5), VerdictRule("tissue_share", share_cut=0.5),
              VerdictRule("tissue_share", share_cut=0.25))
BOOTSTRAP = 2000
THRESHOLD = 0.5
OPTIONS = PredictOptions(formats=(), runtime="onnx")


def rule_key(rule: VerdictRule) -> str:
    return rule.name + "".join(f" {k}={v}" for k, v in rule.parameters().items() if k != "min_tiles")


def score_images(predictor: Predictor, inputs: list[LabelledInput]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per input: its scored tiles' p and tissue weights, as ``predict`` scores them."""
    out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros(0))] * len(inputs)
    for result in scored_inputs(predictor, [(i, x.path) for i, x in enumerate(inputs)], OPTIONS):
        assert result.scores is not None, result.error
        s = result.scores
        out[result.key.index] = (np.asarray(s.p_malignant[s.done]), tile_weights(s)[s.done])
    return out


def values_of(rule: VerdictRule, tiles: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    return np.array([rule.aggregate(p, w, THRESHOLD) for p, w in tiles])


def balanced_accuracy(y: np.ndarray, v: np.ndarray) -> float:
    pred = v >= THRESHOLD
    return float((pred[y == 1].mean() + (~pred[y == 0]).mean()) / 2)


def patient_resamples(patients: list[str], y: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Image indices of :data:`BOOTSTRAP` resamples of patients, drawn within each patient label."""
    rng = np.random.default_rng(seed)
    members: dict[str, np.ndarray] = {p: np.flatnonzero(np.array(patients) == p) for p in dict.fromkeys(patients)}
    by_label = {c: [p for p in members if int(y[members[p][0]]) == c] for c in (0, 1)}
    draws = []
    for _ in range(BOOTSTRAP):
        chosen = [p for c in (0, 1) for p in rng.choice(by_label[c], len(by_label[c]), replace=True)]
        draws.append(np.concatenate([members[p] for p in chosen]))
    return draws


def ci(values: list[float]) -> list[float]:
    return [round(float(v), 4) for v in np.percentile(values, [2.5, 97.5])]


def measure(y: np.ndarray, v: np.ndarray, draws: list[np.ndarray], base: np.ndarray | None = None) -> dict[str, Any]:
    """Balanced accuracy, AUC, sensitivity, specificity with patient-bootstrap 95% intervals; with
    ``base`` also the paired gain in balanced accuracy over it."""
    out: dict[str, Any] = {"n_images": len(y), "balanced_accuracy": round(balanced_accuracy(y, v), 4),
                           "balanced_accuracy_95ci": ci([balanced_accuracy(y[d], v[d]) for d in draws]),
                           "roc_auc": round(float(roc_auc_score(y, v)), 4),
                           "roc_auc_95ci": ci([roc_auc_score(y[d], v[d]) for d in draws]),
                           "sensitivity": round(float((v[y == 1] >= THRESHOLD).mean()), 4),
                           "specificity": round(float((v[y == 0] < THRESHOLD).mean()), 4)}
    if base is not None:
        gains = [balanced_accuracy(y[d], v[d]) - balanced_accuracy(y[d], base[d]) for d in draws]
        out["gain_over_mean"] = round(balanced_accuracy(y, v) - balanced_accuracy(y, base), 4)
        out["gain_over_mean_95ci"] = ci(gains)
    return out


def set_measures(sets: ConformalSets, y: np.ndarray, v: np.ndarray) -> dict[str, Any]:
    """Conformal set coverage, the share sent for review and the accuracy of the rest."""
    names = sets.names(v)
    review = np.array([n in NEEDS_REVIEW for n in names])
    truth = np.array([n == "review" or n == ("malignant" if t else "benign") for n, t in zip(names, y)])
    rest = ~review
    return {"set_coverage": round(float(truth.mean()), 4), "review_share": round(float(review.mean()), 4),
            "accuracy_outside_review": round(float(((v[rest] >= THRESHOLD) == (y[rest] == 1)).mean()), 4)
            if rest.any() else None}


def choose(dev: dict[str, dict[str, Any]]) -> tuple[VerdictRule, str]:
    """The choice rule of step 3, and why, in words."""
    better = [(dev[rule_key(r)]["gain_over_mean"], r) for r in CANDIDATES[1:]
              if dev[rule_key(r)]["gain_over_mean_95ci"][0] > 0]
    mean = dev[rule_key(DEFAULT_RULE)]
    if not better:
        best = max(CANDIDATES[1:], key=lambda r: dev[rule_key(r)]["balanced_accuracy"])
        d = dev[rule_key(best)]
        return DEFAULT_RULE, (f"no candidate beat the mean on the development patients beyond chance: the best, "
                              f"{best.base_title}, changed balanced accuracy by {d['gain_over_mean']:+.3f} (paired 95% CI "
                              f"{d['gain_over_mean_95ci'][0]:+.3f} to {d['gain_over_mean_95ci'][1]:+.3f}); the mean "
                              f"({mean['balanced_accuracy']:.3f}) stays")
    gain, rule = max(better, key=lambda t: t[0])
    d = dev[rule_key(rule)]
    return rule, (f"{rule.base_title} raised balanced accuracy on the development patients from {mean['balanced_accuracy']:.3f} "
                  f"(mean) to {d['balanced_accuracy']:.3f}, a paired gain of {gain:+.3f} (95% CI "
                  f"{d['gain_over_mean_95ci'][0]:+.3f} to {d['gain_over_mean_95ci'][1]:+.3f}, bootstrap over patients); "
                  f"AUC {d['roc_auc']:.3f} against {mean['roc_auc']:.3f}")


def idc_note(directory: Path) -> int:
    update_card(directory, {"verdict": {
        "rule": DEFAULT_RULE.name, "parameters": DEFAULT_RULE.parameters(), "validated": False,
        "why": "not validated: the IDC data are 50 px patches, each one tile with its own label, and no whole slide "
               "carries a label, so no slide-level aggregation rule can be chosen or tested on them (every rule "
               "gives a patch its own p). The default rule, the mean tile p, is used; on a whole slide read its "
               "verdict as unvalidated."}})
    print("idc-wsi: no slide-level labels; the card says the default mean rule is not validated")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="breakhis-100x")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dry-run", action="store_true", help="print, do not write the card")
    args = parser.parse_args()
    directory = resolve_model_dir(args.model)
    model = load_model(directory)
    if model.card["data"]["kind"] == "idc":
        return 0 if args.dry_run else idc_note(directory)
    folder = args.data if model.card["data"].get("folders") else args.data / model.card["data"]["folder"]
    patients = model.card["training"]["patients"]
    predictor = Predictor(model, runtime="onnx")
    _, val = labelled_inputs(folder, "breakhis", patients=patients["val"])
    start = time.perf_counter()
    tiles = score_images(predictor, val)
    dev_seconds = time.perf_counter() - start
    y = np.array([x.label for x in val])
    people = [x.patient for x in val]
    draws = patient_resamples(people, y)
    base = values_of(DEFAULT_RULE, tiles)
    dev = {rule_key(r): {"title": r.base_title, **measure(y, values_of(r, tiles), draws, None if r == DEFAULT_RULE else base)}
           for r in CANDIDATES}
    for key, row in dev.items():
        print(f"dev {key:28s} " + json.dumps({k: v for k, v in row.items() if k != "title"}))
    rule, why = choose(dev)
    print(f"chosen: {rule.base_title}: {why}")
    print(f"scored {len(val)} development images ({sum(len(p) for p, _ in tiles)} tiles) in {dev_seconds:.1f} s")
    fields: dict[str, Any] = {}
    conformal = dict(model.card.get("conformal") or {})
    rule = replace(rule, validated=True)
    if rule.name != "mean":  # the sets must read the value the verdict reads
        conformal["image"] = calibrate_sets(y, values_of(rule, tiles), 0.9, "image")
        fields["conformal"] = conformal
        fields["uncertainty"] = {"level": "image", "rule": f"calibrated margin 1 - |2v - 1| of the verdict rule's value "
                                                          f"v ({rule.base_title}); 'review' when the conformal prediction "
                                                          "set of v is not one label"}

    _, test = labelled_inputs(folder, "breakhis", patients=patients["test"])  # read once, after the choice
    start = time.perf_counter()
    test_tiles = score_images(predictor, test)
    test_seconds = time.perf_counter() - start
    y_test = np.array([x.label for x in test])
    test_draws = patient_resamples([x.patient for x in test], y_test, seed=1)
    test_base = values_of(DEFAULT_RULE, test_tiles)
    chosen_test = measure(y_test, values_of(rule, test_tiles), test_draws, None if rule.name == "mean" else test_base)
    if "image" in conformal:
        chosen_test.update(set_measures(ConformalSets.from_card(conformal["image"]), y_test, values_of(rule, test_tiles)))
    print("test", rule.base_title, json.dumps(chosen_test))
    fields["verdict"] = {
        "rule": rule.name, "parameters": rule.parameters(), "title": rule.base_title, "validated": True, "why": why,
        "threshold": THRESHOLD, "script": "scripts/choose_verdict_rule.py",
        "choice_rule": "the mean stays unless a candidate's paired patient-bootstrap 95% CI of the balanced-accuracy "
                       "gain over it lies above zero; then the largest gain",
        "development": {"patients": len(set(people)), "images": len(val), "tiles": int(sum(len(p) for p, _ in tiles)),
                        "bootstrap": f"{BOOTSTRAP} resamples of patients, stratified by patient label",
                        "candidates": dev, "scoring_seconds": round(dev_seconds, 1)},
        "test": {"patients": len({x.patient for x in test}), "images": len(test), "chosen": chosen_test,
                 "mean_for_reference": measure(y_test, test_base, test_draws) if rule.name != "mean" else None,
                 "scoring_seconds": round(test_seconds, 1)},
        "uncertainty": "interval: 95% bootstrap over the set's scored tiles (500 resamples); review: the image-level "
                       "conformal set of the rule's value" + (" (refitted on the development values of this rule)"
                                                             if rule.name != "mean" else ""),
    }
    if not args.dry_run:
        update_card(directory, fields)
        if rule.name != "mean":
            remeasure_trust(directory, args.data, folder)
    return 0


def remeasure_trust(directory: Path, data: Path, folder: Path) -> None:
    """``metrics.trust`` again, as ``scripts/calibrate_trust.py`` measures it (``evaluate``'s core),
    now that the image value is the chosen rule's and the sets are refitted on it."""
    from bcviewer.batch.evaluation import evaluate_inputs

    model = load_model(directory)
    predictor = Predictor(model, runtime="onnx")
    patients = model.card["training"]["patients"]
    metrics = model.card["metrics"]
    parts = {"test": labelled_inputs(folder, "breakhis", patients=patients["test"])[1]}
    if "unseen_other_magnifications" in metrics.get("trust", {}):
        seen = {p for part in patients.values() for p in part}
        groups = {p.rstrip("ABCDEFGH") for p in seen}
        _, multimag = labelled_inputs(data / "breakhis_multimag", "breakhis")
        parts["unseen_other_magnifications"] = [x for x in multimag if x.patient not in seen
                                                and x.patient.rstrip("ABCDEFGH") not in groups]
    for name, inputs in parts.items():
        report = evaluate_inputs(predictor, inputs, OPTIONS)
        image = {k: report["image"][k] for k in ("accuracy", "roc_auc", "sensitivity", "specificity", "ece")
                 if k in report["image"]}
        image["balanced_accuracy"] = (image["sensitivity"] + image["specificity"]) / 2
        metrics["trust"][name] = {"n_images": report["n_images"], "n_patients": len(report["patients"]),
                                  "n_people": len({p.rstrip("ABCDEFGH") for p in report["patients"]}),
                                  "image": image, "image_aggregation": report["image_aggregation"],
                                  **report["trust"]}
        print(f"metrics.trust.{name}:", json.dumps({k: v for k, v in metrics["trust"][name].items()
                                                   if k != "risk_coverage"}))
    update_card(directory, {"metrics": metrics})


if __name__ == "__main__":
    raise SystemExit(main())
