"""Reproduce the shipped gene-expression models in models/genes from ../shared/data/genes.

    python3 scripts/train_gene_models.py [--tasks er-status metastasis] [--out models/genes]
    python3 scripts/train_gene_models.py --tasks pam50-subtype --out runs/genes   # not shipped

Each task trains all three architectures with ``bcviewer.genes.workflow.train_gene_model`` (the
function behind ``bcviewer genes train``), 5-fold stratified CV with seed 0, and marks the
architecture with the highest mean CV AUC as the default. Runs on one CPU thread (about 10 min
for er-status and 4 min for metastasis on a busy 2-core machine). pam50-subtype did not train
credibly (see docs/genes.md) and is not shipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from bcviewer.genes.nets import ARCHITECTURES
from bcviewer.genes.workflow import TrainRequest, train_gene_model

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "genes"

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
            task="ER status (positive vs negative) from PAM50 gene expression",
            limitations=COMMON_LIMITS + [
                "Trained on the 47 PAM50 genes that GSE1992 also measures (KRT5 and BIRC5 are absent there); "
                "the TCGA table holds 49 of the 50 PAM50 genes.",
                "The TCGA table is 75% of the original cohort (777 of 1,036 samples); ER labels are from IHC.",
                "Another platform (e.g. GSE1992 two-colour arrays) needs per-cohort standardisation "
                "(--standardise cohort, 10+ samples); a single profile is z-scored with TCGA statistics.",
            ]),
        "metastasis": dict(
            data=data / "sksurv_GSE7390_metastasis.csv", label="e.tdm", positive="1",
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
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    available = tasks(args.data)
    for name in args.tasks:
        for architecture in args.architectures:
            start = time.time()
            request = TrainRequest(architecture=architecture, name=name, **available[name])
            outcome = train_gene_model(request, args.out / name, progress=lambda m: print(f"  {m}", flush=True))
            auc = outcome.cv.summary[architecture]["auc"]
            print(f"{name}/{architecture}: CV AUC {auc['mean']:.3f} ± {auc['sd']:.3f} "
                  f"({time.time() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
