"""The single-gene baseline, the nested-CV logistic regression, the cohort scalings and the rule
that picks a scaling without looking at the cohort it is reported on, on the real fixture tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from bcviewer.genes.baselines import SingleGeneClassifier, tuned_logistic
from bcviewer.genes.errors import GeneDataError
from bcviewer.genes.external import ExternalCohort, choose_scaling, load_external
from bcviewer.genes.preprocessing import GeneStandardiser
from bcviewer.genes.targets import LabelEncoding


@pytest.fixture(scope="module")
def er(test_data: Path) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_csv(test_data / "genes" / "tcga_er_pam50_160.csv").set_index("sample_id")
    y = (frame.pop("label") == "Positive").to_numpy().astype(int)
    return frame, y


def test_single_gene_is_esr1_whichever_its_sign(er: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, y = er
    model = SingleGeneClassifier().fit(frame.to_numpy(), y)
    assert frame.columns[model.gene_index_] == "ESR1"
    esr1_auc = roc_auc_score(y, frame["ESR1"])
    assert model.gene_auc_ == pytest.approx(esr1_auc) and esr1_auc > 0.9
    assert roc_auc_score(y, model.predict_proba(frame.to_numpy())[:, 1]) == pytest.approx(esr1_auc)
    flipped = SingleGeneClassifier().fit(-frame.to_numpy(), y)  # low values now mean positive
    assert flipped.gene_index_ == model.gene_index_ and flipped.coef_[0, 0] < 0
    assert roc_auc_score(y, flipped.predict_proba(-frame.to_numpy())[:, 1]) == pytest.approx(esr1_auc)


def test_nested_lr_chooses_c_inside_the_samples_and_copes_with_rare_classes(test_data: Path) -> None:
    frame = pd.read_csv(test_data / "genes" / "tcga_deggs_pam50_84.csv")
    labels = frame.pop("pam50_subtype")
    X = frame.select_dtypes("number").to_numpy()
    keep = labels.map(labels.value_counts()) >= 5  # Her2 has 6 samples: some inner folds hold one
    search = tuned_logistic(0).fit(X[keep.to_numpy()], labels[keep].to_numpy())
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["C"] in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def test_quantile_scaling_undoes_a_monotone_platform_change(er: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, _ = er
    X = frame.to_numpy()
    step = GeneStandardiser().fit(X)
    other_platform = 3.0 * np.exp2(0.5 * X) + 7.0  # same samples, another scale, order kept per gene
    expected = step.transform(X)
    mapped = GeneStandardiser.restore(*step.set_params(source="quantile").saved_state()).transform(other_platform)
    assert np.corrcoef(mapped.ravel(), expected.ravel())[0, 1] > 0.995
    assert np.median(np.abs(mapped - expected)) < 0.05
    cohort = step.set_params(source="cohort").transform(other_platform)  # z-scores keep the skew of 2^x
    assert np.median(np.abs(cohort - expected)) > np.median(np.abs(mapped - expected))
    ranked = step.set_params(source="rank").transform(other_platform)
    column = other_platform[:, 5]
    np.testing.assert_allclose(ranked[:, 5], norm.ppf((rankdata(column) - 0.5) / column.size))
    with_gap = other_platform.copy()
    with_gap[0, 0] = np.nan
    assert np.isnan(step.set_params(source="quantile").transform(with_gap)[0, 0])
    with pytest.raises(GeneDataError, match="needs at least 10 samples"):
        step.set_params(source="rank").transform(other_platform[:9])


def test_models_saved_before_quantile_scaling_refuse_it_with_a_message(er: tuple[pd.DataFrame, np.ndarray]) -> None:
    settings, arrays = GeneStandardiser().fit(er[0].to_numpy()).saved_state()
    del arrays["grid_"]
    old = GeneStandardiser.restore(settings, arrays)
    np.testing.assert_allclose(old.transform(er[0].to_numpy()[:3]), GeneStandardiser().fit(
        er[0].to_numpy()).transform(er[0].to_numpy()[:3]))
    with pytest.raises(GeneDataError, match="retrain"):
        old.set_params(source="quantile").transform(er[0].to_numpy())


def test_graded_er_labels_are_binarised_by_the_stated_rule(test_data: Path) -> None:
    spec = ExternalCohort(test_data / "genes" / "gse3143_pam50_40.csv.gz", "fac_erlev", positive_values=("1", "2", "3"))
    cohort = load_external(spec, ["ESR1", "GATA3"], LabelEncoding(("Negative", "Positive")))
    raw = pd.read_csv(spec.path)["fac_erlev"]
    np.testing.assert_array_equal(cohort.y, (raw > 0).to_numpy().astype(int))
    assert cohort.encoding.positive == "1" and int(cohort.y.sum()) == 25


def _external(name: str, aucs: dict[str, float]) -> dict:
    return {"file": name, "metrics_by_scaling": {s: {"net": {"auc": a}, "LR": {"auc": a - 0.01}}
                                                 for s, a in aucs.items()}}


def test_each_cohort_is_reported_under_the_scaling_chosen_on_the_others() -> None:
    a = _external("A", {"model": 0.6, "cohort": 0.7, "quantile": 0.9, "rank": 0.8})  # A likes quantile
    b = _external("B", {"model": 0.6, "cohort": 0.85, "quantile": 0.7, "rank": 0.82})  # B likes cohort
    choice = choose_scaling([a, b])
    assert choice["per_cohort"] == {"A": "cohort", "B": "quantile"}  # never its own favourite
    assert a["metrics"]["net"]["auc"] == 0.7 and b["metrics"]["net"]["auc"] == 0.7
    assert a["scaling_chosen_on"] == ["B"] and b["scaling_chosen_on"] == ["A"]
    assert choice["default"] == "rank"  # best on average over both: 0.81 against 0.8 (quantile), 0.775 (cohort)
    single = _external("C", {"model": 0.6, "cohort": 0.7, "quantile": 0.9, "rank": 0.8})
    assert choose_scaling([single])["default"] == "cohort"  # one cohort: the fallback fixed beforehand
    assert single["scaling_chosen_on"] == ["fixed beforehand"]
