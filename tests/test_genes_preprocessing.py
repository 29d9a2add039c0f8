"""Preprocessing transformers on real tables, the no-leakage proof, and DeepCME's L1 gene selection."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from bcviewer.genes.evaluation import cross_validate
from bcviewer.genes.fitting import RECIPE_SETTINGS, GeneNetClassifier
from bcviewer.genes.io import read_expression_table
from bcviewer.genes.preprocessing import (
    STEP_TYPES,
    GeneStandardiser,
    Log2IfCounts,
    LogisticSelector,
    MedianImputer,
    PearsonTopK,
    QuantileNormaliser,
    looks_like_counts,
)
from bcviewer.genes.targets import infer_encoding


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def er(test_data: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    table = read_expression_table(test_data / "genes" / "tcga_er_pam50_160.csv", label="label")
    return table.expression.to_numpy(), infer_encoding(table.labels).encode(table.labels), table.genes


@pytest.fixture(scope="module")
def metastasis(test_data: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    table = read_expression_table(test_data / "genes" / "gse7390_metastasis_120.csv", label="e.tdm")
    return table.expression.to_numpy(), infer_encoding(table.labels).encode(table.labels), table.genes


def test_log2_applies_to_counts_only(er: tuple) -> None:
    X, _, _ = er
    assert not looks_like_counts(X)  # TCGA values are log2 already (max about 20)
    assert Log2IfCounts().fit(X).apply_ is False
    counts = np.round(2.0 ** X - 1.0)
    step = Log2IfCounts().fit(counts)
    assert step.apply_ is True
    np.testing.assert_allclose(step.transform(counts), np.log2(counts + 1.0))
    assert Log2IfCounts("always").fit(X).apply_ is True and Log2IfCounts("never").fit(counts).apply_ is False


def test_zscore_imputation_and_cohort_mode(er: tuple) -> None:
    X, _, _ = er
    train, test = X[:100], X[100:].copy()
    z = GeneStandardiser().fit(train)
    np.testing.assert_allclose(z.mean_, train.mean(axis=0))
    np.testing.assert_allclose(z.transform(train).std(axis=0), 1.0, rtol=1e-9)
    np.testing.assert_allclose(z.transform(test), (test - train.mean(0)) / train.std(0))
    own = z.set_params(source="cohort").transform(test)
    np.testing.assert_allclose(own.mean(axis=0), 0.0, atol=1e-12)
    test[3, 5] = np.nan
    imputer = MedianImputer().fit(train)
    filled = imputer.transform(test)
    assert filled[3, 5] == pytest.approx(np.median(train[:, 5]))
    assert np.isnan(test[3, 5])  # the input is not modified


def test_quantile_normaliser_maps_every_sample_onto_the_reference(er: tuple) -> None:
    X, _, _ = er
    step = QuantileNormaliser().fit(X[:120])
    np.testing.assert_allclose(step.reference_, np.sort(X[:120], axis=1).mean(axis=0))
    rows = X[120:]
    out = step.transform(rows)
    no_ties = np.array([len(np.unique(r)) == r.size for r in rows])
    assert no_ties.sum() >= 30
    np.testing.assert_allclose(np.sort(out[no_ties], axis=1), np.tile(step.reference_, (no_ties.sum(), 1)))
    assert (np.argsort(out[no_ties], axis=1) == np.argsort(rows[no_ties], axis=1)).all()  # ranks kept
    for row, mapped in zip(rows[~no_ties], out[~no_ties]):  # tied values share one normalised value
        values, inverse = np.unique(row, return_inverse=True)
        for k in range(values.size):
            assert np.ptp(mapped[inverse == k]) == 0.0


def test_selectors_find_the_er_genes(er: tuple) -> None:
    X, y, genes = er
    Xz = GeneStandardiser().fit_transform(X)
    pearson = PearsonTopK(5).fit(Xz, y)
    r = np.array([abs(np.corrcoef(Xz[:, j], y)[0, 1]) for j in range(Xz.shape[1])])
    np.testing.assert_allclose(pearson.scores_, r, rtol=1e-9)
    assert list(pearson.selected_) == list(np.argsort(-r)[:5])
    assert "ESR1" in [genes[i] for i in pearson.selected_]  # ER status follows ESR1 expression
    logistic = LogisticSelector(keep_fraction=0.2).fit(Xz, y)
    assert len(logistic.selected_) == 10
    assert logistic.transform(Xz).shape == (160, 10)


def test_saved_state_round_trip(er: tuple) -> None:
    X, y, _ = er
    for step in (Log2IfCounts(), GeneStandardiser(), MedianImputer(), QuantileNormaliser(), PearsonTopK(7),
                 LogisticSelector()):
        step.fit(X, y)
        settings, arrays = step.saved_state()
        again = STEP_TYPES[settings["type"]].restore(settings, arrays)
        np.testing.assert_array_equal(again.transform(X), step.transform(X))


def _fold_zero_state(model: GeneNetClassifier) -> dict[str, np.ndarray]:
    state = {}
    for i, step in enumerate(model.steps):
        state.update({f"step{i}.{k}": v for k, v in step.saved_state()[1].items()})
    for m, net in enumerate(model.nets):
        state.update({f"net{m}.{k}": v.numpy().copy() for k, v in net.state_dict().items()})
    return state


@pytest.mark.parametrize("architecture", ["gexpnet", "cnn-bilstm"])
def test_changing_the_test_fold_leaves_fitted_parameters_unchanged(er: tuple, architecture: str) -> None:
    X, y, genes = er
    settings = replace(RECIPE_SETTINGS[architecture], max_epochs=2, patience=2, members=2)

    def make() -> GeneNetClassifier:
        return GeneNetClassifier(architecture, genes, ["Negative", "Positive"], settings)

    def fold_zero(data: np.ndarray) -> dict[str, np.ndarray]:
        result = cross_validate(make, data, y, n_splits=5, baselines={}, noise_repeats=0, keep_models=True)
        return _fold_zero_state(result.models[0])

    train, test = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    changed_test = X.copy()
    changed_test[test] = changed_test[test] * 3.0 + 5.0
    changed_test[test[:4], :10] = np.nan
    changed_train = X.copy()
    changed_train[train[:5]] += 1.0

    original = fold_zero(X)
    same = fold_zero(changed_test)
    assert original.keys() == same.keys()
    for key in original:
        np.testing.assert_array_equal(original[key], same[key], err_msg=key)
    # The check can fail: touching training rows does move the fitted parameters.
    moved = fold_zero(changed_train)
    assert not np.array_equal(original["step1.mean_"], moved["step1.mean_"])


def test_l1_zeroes_more_gene_scores_as_lambda_grows(metastasis: tuple) -> None:
    X, y, genes = metastasis
    zeros = []
    for lam in (0.0, 0.3, 1.0):
        settings = replace(RECIPE_SETTINGS["deepcme"], l1=lam, members=1, max_epochs=60, patience=60)
        model = GeneNetClassifier("deepcme", genes, ["0", "1"], settings).fit(X, y)
        zeros.append(int((model.gene_scores() == 0).sum()))
    assert zeros[0] == 0
    assert zeros[0] < zeros[1] < zeros[2]
