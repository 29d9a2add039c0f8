"""The PAM50-subtype attempt's baselines (docs/genes.md): stratified 5-fold CV (seed 0) of the single
gene, LR, LR (nested CV), SVC, RF, DT and KNN on ``tcga_brca_deggs_pam50.csv``, with the macro AUC,
accuracy and out-of-fold balanced accuracy, against always answering LumA.

    python3 scripts/pam50_baselines.py [--data ../shared/data/genes]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from bcviewer.genes.evaluation import cross_validate
from bcviewer.genes.fitting import GeneNetClassifier
from bcviewer.genes.io import read_expression_table
from bcviewer.genes.targets import infer_encoding

ROOT = Path(__file__).resolve().parent.parent
MIN_CLASS = 5  # the table holds one Normal-like sample: five classes cannot be cross-validated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "genes")
    args = parser.parse_args(argv)
    table = read_expression_table(args.data / "tcga_brca_deggs_pam50.csv", label="pam50_subtype").labelled()
    keep = (table.labels.map(table.labels.value_counts()) >= MIN_CLASS).to_numpy()
    labels = table.labels[keep]
    encoding = infer_encoding(labels)
    X, y = table.expression.to_numpy(dtype=np.float64)[keep], encoding.encode(labels)
    classes = list(encoding.classes)
    cv = cross_validate(lambda: GeneNetClassifier("deepcme", table.genes, classes), X, y, n_splits=5, seed=0,
                        noise_repeats=0, genes=table.genes, include_net=False)
    print(f"classes {dict(zip(classes, np.bincount(y).tolist()))}; left out: "
          f"{table.labels[~keep].value_counts().to_dict()}")
    print("| model | macro AUC | accuracy | balanced accuracy (out-of-fold) |\n|---|---|---|---|")
    for name, proba in cv.oof.items():
        s = cv.summary[name]
        print(f"| {name} | {s['auc']['mean']:.3f} ± {s['auc']['sd']:.3f} | {s['accuracy']['mean']:.3f} | "
              f"{balanced_accuracy_score(y, proba.argmax(axis=1)):.3f} |")
    luma = classes.index("BRCA_LumA")
    print(f"always LumA: accuracy {np.mean(y == luma):.3f}, balanced accuracy "
          f"{balanced_accuracy_score(y, np.full_like(y, luma)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
