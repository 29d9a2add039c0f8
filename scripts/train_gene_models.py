"""Reproduce the shipped gene-expression models in models/genes from ../shared/data/genes.

    python3 scripts/train_gene_models.py [--tasks er-status metastasis] [--out models/genes]
    python3 scripts/train_gene_models.py --tasks pam50-subtype --out runs/genes   # not shipped

Each task trains all three architectures with ``bcviewer.genes.workflow.train_gene_model`` (the
function behind ``bcviewer genes train``), 5-fold stratified CV with seed 0, then saves their
ensemble (mean probability; its CV comes from the members' out-of-fold probabilities on the same
folds) and marks the model with the highest mean CV AUC as the default. Every report carries the
single best gene (chosen on training folds only), LR, LR with C tuned by nested CV, SVC, RF, DT
and KNN on the same folds. er-status is also scored on two external cohorts, GSE1992 and GSE3143,
under four scalings; each is reported under the scaling chosen on the other one.

Deterministic: seed 0 for folds, nets and baselines, one CPU thread. pam50-subtype did not train
credibly (see docs/genes.md) and is not shipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import numpy as np

from bcviewer.genes.external import ExternalCohort
from bcviewer.genes.nets import ARCHITECTURES
from bcviewer.genes.workflow import TrainRequest, train_ensemble, train_gene_model

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "genes"

# GSE3143 grades ER as 0-3 (Bild et al. 2006). Rule fixed before any model was scored there: level 0 is
# ER negative, 1-3 positive, as in clinical IHC, where any stained tumour cells (>= 1%) count as positive.
GSE3143_ER_RULE = "fac_erlev 1-3 counted as ER positive, 0 as negative (clinical IHC: any staining is positive)"

COMMON_LIMITS = [
    "Research use only; not a diagnostic device.",
    "Cross-validated on one cohort; performance on other platforms and populations may be lower.",
]


def tasks(data: Path) -> dict[str, dict]:
    """The shipped tasks, as keyword arguments of TrainRequest (architecture apart)."""
    return {
        "er-status": dict(
            data=data / "tcga_brca_pam50genes_ER_status.csv", label="label", positive="Positive",
            external=data / "survset_gse1992.csv.gz", external_label="fac_er_positive", external_positive="1",
            more_externals=[ExternalCohort(data / "survset_gse3143.csv.gz", "fac_erlev",
                                           positive_values=("1", "2", "3"), rule=GSE3143_ER_RULE)],
            task="ER status (positive vs negative) from PAM50 gene expression",
            limitations=COMMON_LIMITS + [
                "Trained on the 47 PAM50 genes that GSE1992 also measures (KRT5 and BIRC5 are absent there); "
                "the TCGA table holds 49 of the 50 PAM50 genes.",
                "The TCGA table is 75% of the original cohort (777 of 1,036 samples); ER labels are from IHC.",
                "Another platform (e.g. GSE1992 two-colour arrays) needs scaling by its own cohort "
                "(--standardise cohort, quantile or rank, 10+ samples; index.json names the default chosen on the "
                "external cohorts); a single profile is z-scored with TCGA statistics.",
                "GSE3143 measures 36 of the 47 genes: its numbers come from the same recipe refitted on those 36.",
            ]),
        "metastasis": dict(
            data=data / "sksurv_GSE7390_metastasis.csv", label="e.tdm", positive="1",
            class_names={"0": "no distant metastasis", "1": "distant metastasis"},
            task="distant metastasis (e.tdm) from the 76 Affymetrix probes of the 76-gene signature",
            limitations=COMMON_LIMITS + [
                "198 patients (51 events); CV AUCs vary by about ±0.1 between folds.",
                "Uses expression only: age, size, grade, ER and the time to metastasis (t.tdm) are excluded.",
                "Genes are Affymetrix HG-U133A probe ids; other platforms need a probe mapping.",
                "No external cohort was available with the same probes.",
            ]),
        "pam50-subtype": dict(
            data=data / "tcga_brca_deggs_pam50.csv", label="pam50_subtype", min_class_size=5,
            task="PAM50 intrinsic subtype from 66 genes (Entrez ids)",
            limitations=COMMON_LIMITS + [
                "The table has a single Normal-like sample, so that class was left out: 4 classes, not 5.",
                "84 samples in all (6 HER2-enriched): per-class metrics are unstable.",
                "Genes are Entrez ids (ENTREZ:<id>); the values are z-scored normalised counts.",
            ]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["er-status", "metastasis"], help="er-status, metastasis, "
                        "pam50-subtype")
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "genes")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-epochs", type=int, help="cap on epochs (smoke runs only; shipped models use none)")
    parser.add_argument("--oof", type=Path, help="also write out-of-fold probabilities to OOF/<task>.npz")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    available = tasks(args.data)
    for name in args.tasks:
        outcomes = {}
        for architecture in args.architectures:
            start = time.time()
            request = TrainRequest(architecture=architecture, name=name, max_epochs=args.max_epochs, **available[name])
            shared = next(iter(outcomes.values())).cv if outcomes else None  # baselines: same folds, run once
            outcome = train_gene_model(request, args.out / name, progress=lambda m: print(f"  {m}", flush=True),
                                       baseline_cv=shared)
            outcomes[architecture] = outcome
            auc = outcome.cv.summary[architecture]["auc"]
            print(f"{name}/{architecture}: CV AUC {auc['mean']:.3f} ± {auc['sd']:.3f} "
                  f"({time.time() - start:.0f} s)", flush=True)
        if len(outcomes) > 1:
            ensemble = train_ensemble(request, outcomes, args.out / name)
            auc = ensemble.cv.summary["ensemble"]["auc"]
            print(f"{name}/ensemble: CV AUC {auc['mean']:.3f} ± {auc['sd']:.3f}", flush=True)
        if args.oof is not None:  # out-of-fold probabilities, for analysis (not shipped)
            args.oof.mkdir(parents=True, exist_ok=True)
            first = next(iter(outcomes.values()))
            arrays = {"y": first.y, **{f"{arch}": o.cv.oof[arch] for arch, o in outcomes.items()},
                      **{f"baseline:{k}": v for k, v in first.cv.oof.items() if k not in outcomes}}
            np.savez(args.oof / f"{name}.npz", **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
