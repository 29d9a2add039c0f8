"""Image uncertainty, risk-coverage, the uncertain threshold and patient-bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from bcviewer.nets import EnsemblePrediction, binary_entropy_bits
from bcviewer.training.reliability import (
    choose_uncertain_threshold,
    confident_metrics,
    image_outputs,
    patient_bootstrap,
    risk_coverage,
)

# Ten images: p, label, uncertainty. Sorted by uncertainty the calls are right, right, right, wrong,
# right, right, right, right, wrong, wrong.
P = np.array([0.95, 0.05, 0.9, 0.8, 0.2, 0.7, 0.35, 0.6, 0.55, 0.45])
Y = np.array([1, 0, 1, 0, 0, 1, 0, 1, 0, 1])
U = np.arange(10) / 10.0


def test_risk_coverage_counts_the_most_confident_images_first() -> None:
    rows = risk_coverage(Y, P, U, coverages=(0.3, 0.5, 1.0))
    assert rows == [
        {"coverage": 0.3, "accuracy": 1.0, "max_uncertainty": 0.2},
        {"coverage": 0.5, "accuracy": 0.8, "max_uncertainty": 0.4},
        {"coverage": 1.0, "accuracy": 0.7, "max_uncertainty": 0.9},
    ]


def test_the_threshold_is_the_largest_that_keeps_the_target_accuracy() -> None:
    choice = choose_uncertain_threshold(Y, P, U, target_accuracy=0.85)
    # running accuracy: 1, 1, 1, .75, .8, .83, .857, .875, .78, .7 -> last >= .85 is the 8th image
    assert choice["threshold"] == pytest.approx(0.7)
    assert choice["val_coverage"] == 0.8 and choice["val_confident_accuracy"] == pytest.approx(7 / 8)
    strict = choose_uncertain_threshold(Y, P, U, target_accuracy=0.95)
    assert strict["threshold"] == pytest.approx(0.2) and strict["val_coverage"] == 0.3


def test_when_no_threshold_reaches_the_target_the_best_half_is_kept() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.9, 0.1, 0.2, 0.3])  # wrong, wrong, right, wrong
    choice = choose_uncertain_threshold(y, p, np.array([0.1, 0.2, 0.3, 0.4]), target_accuracy=0.95)
    assert "no threshold" in choice["rule"] and choice["val_coverage"] >= 0.5


def test_confident_metrics_split_at_the_threshold() -> None:
    m = confident_metrics(Y, P, U, 0.45)
    assert m["n_confident"] == 5 and m["coverage"] == 0.5
    assert m["confident_accuracy"] == pytest.approx(0.8) and m["uncertain_accuracy"] == pytest.approx(0.6)


def test_image_outputs_apply_the_margin_rule_to_image_means() -> None:
    member = np.array([[0.9, 0.7], [0.5, 0.3], [0.2, 0.2], [0.2, 0.4]])
    p = member.mean(axis=1)
    pred = EnsemblePrediction(p, member, member.std(axis=1), binary_entropy_bits(p), np.zeros(4), np.zeros((4, 2, 2)))
    p_img, u_img, kept = image_outputs(np.array([0, 0, 2, 2]), 3, pred)
    assert kept.tolist() == [0, 2]
    assert p_img == pytest.approx([0.6, 0.25])
    # the members disagree on image 0 (0.7 vs 0.5) and nearly agree on image 2: that does not count
    assert u_img == pytest.approx([0.8, 0.5])


def test_patient_bootstrap_resamples_whole_patients() -> None:
    groups = np.array(["a"] * 4 + ["b"] * 3 + ["c"] * 3)
    ci = patient_bootstrap(Y, P, groups, rounds=300, seed=1)
    assert ci["accuracy"]["value"] == pytest.approx(0.7)
    assert ci["accuracy"]["ci_low"] <= 0.7 <= ci["accuracy"]["ci_high"]
    # Patient a's calls are 3 of 4 right, b's 3 of 3, c's 1 of 3: only these mixtures are possible.
    per_patient = {"a": (3, 4), "b": (3, 3), "c": (1, 3)}
    lowest = 1 / 3  # three copies of c
    assert ci["accuracy"]["ci_low"] >= lowest - 1e-9 and ci["accuracy"]["ci_high"] <= 1.0
    assert set(per_patient) == set(np.unique(groups))


def test_patient_bootstrap_reports_balanced_accuracy() -> None:
    y = np.array([1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.2, 0.1, 0.6])  # sensitivity 2/3, specificity 1/2
    ci = patient_bootstrap(y, p, np.array(["a", "b", "c", "d", "e"]), rounds=50, seed=0)
    assert ci["balanced_accuracy"]["value"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert 0.0 <= ci["balanced_accuracy"]["ci_low"] <= ci["balanced_accuracy"]["ci_high"] <= 1.0
