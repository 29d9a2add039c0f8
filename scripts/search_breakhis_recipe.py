"""Issue 9: does a deeper trunk cut or a more strongly regularised head beat the shipped
``breakhis-100x`` recipe on unseen patients? Same 5-fold patient CV as the shipped recipe.

    python3 scripts/search_breakhis_recipe.py CANDIDATE   # one of CANDIDATES; cached in runs/breakhis-search/
    python3 scripts/search_breakhis_recipe.py --table     # the CV table of every finished candidate

Every candidate runs :func:`crossval_heads` on the same folds (seed 0), the same inner validation
splits and the same cached frozen-trunk maps as ``scripts/train_breakhis_model.py --only crossval``
(1 member a fold, ablations included). The maps come from that script's cache (``runs/breakhis-lite``
for the stage-4 cut, ``runs/breakhis-s5`` for stage 5); the cache key refuses maps of another trunk.

Rule fixed before any candidate was scored and before any test patient was looked at: the chosen
candidate has the highest pooled CV image AUC; within 0.005 AUC the higher CV image accuracy wins.
It replaces the shipped recipe only if its CV AUC is higher than the shipped recipe's (0.741) and
its CV accuracy is not lower (73.6%); the model it trains then ships only if it is not worse on the
test patients (image accuracy 74.8%, AUC 0.813).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.datasets import index_breakhis  # noqa: E402
from bcviewer.nets import HybridNet  # noqa: E402
from bcviewer.training import load_tileset  # noqa: E402
from bcviewer.training.cards import spec_extras_for  # noqa: E402
from bcviewer.training.features import cached_trunk_features, jsonable, trunk_key  # noqa: E402
from bcviewer.training.head_crossval import crossval_heads  # noqa: E402
from bcviewer.training.head_trainer import HeadSchedule  # noqa: E402
from bcviewer.training.lite_pipeline import LITE_HYBRID, LitePlan, lite_input_spec  # noqa: E402
from bcviewer.training.tiles import breakhis_tiles  # noqa: E402

STRONG_HEAD = {"fusion_width": 32, "rnn_hidden": 32, "dropout_cnn": 0.5, "dropout_head": 0.5}
STRONG_SCHEDULE = HeadSchedule(epochs=15, weight_decay=0.1, patience=3, noise=0.1)
# Added after the first four candidates were scored (s4-strong tied the shipped recipe): still stronger.
XSTRONG_HEAD = {"fusion_width": 16, "rnn_hidden": 16, "dropout_cnn": 0.5, "dropout_head": 0.5}
XSTRONG_SCHEDULE = HeadSchedule(epochs=10, lr=1e-3, weight_decay=0.3, patience=2, noise=0.2)
# Added on 2026-12-05 after the layer probe (card: trunk_depth_probe) beat every trained head: the
# probe itself as the head (CNN only, standardised pooled vector, one linear layer), under the same
# rule; no test patient was scored before the choice.
LINEAR_HEAD = {"use_lstm": False, "head": "linear", "dropout_cnn": 0.0}  # = LITE_LINEAR_PROBE
LINEAR_SCHEDULE = HeadSchedule(weight_decay=0.05)  # of the schedule, a linear head uses probe_c only
CANDIDATES: dict[str, tuple[dict, HeadSchedule]] = {
    "s4 (shipped)": ({}, HeadSchedule()),
    "s5": ({"trunk_stages": 5}, HeadSchedule()),
    "s4-strong": (STRONG_HEAD, STRONG_SCHEDULE),
    "s5-strong": ({"trunk_stages": 5, **STRONG_HEAD}, STRONG_SCHEDULE),
    "s4-xstrong": (XSTRONG_HEAD, XSTRONG_SCHEDULE),
    "s4-linear": ({**LINEAR_HEAD, "cnn_pool": "mean"}, LINEAR_SCHEDULE),
    "s4-linear-ms": (LINEAR_HEAD, LINEAR_SCHEDULE),
}


def slug(name: str) -> str:
    """File-safe candidate name."""
    return name.split(" ")[0]


def run_candidate(name: str, data: Path, out: Path, members: int = 1) -> dict:
    """Cross-validate one candidate on the cached maps of its trunk cut."""
    changes, schedule = CANDIDATES[name]
    plan = LitePlan(config=replace(LITE_HYBRID, **changes), stain=False)
    spec = lite_input_spec(plan, spec_extras_for("breakhis", {100}))
    stages = plan.config.trunk_stages
    cache = ROOT / "runs" / ("breakhis-lite" if stages == 4 else f"breakhis-s{stages}")
    base = HybridNet(plan.config, pretrained="imagenet")
    tiles = load_tileset(data / "breakhis", plan.input_size, "breakhis", magnifications={100})
    multimag = breakhis_tiles(index_breakhis(data / "breakhis_multimag"), plan.input_size, matched_to=100)
    key = trunk_key(plan.config.to_dict())
    features = cached_trunk_features(cache, "breakhis-100x", tiles, spec, base.cnn, key)
    extra = {"multimag": cached_trunk_features(cache, "multimag-matched", multimag, spec, base.cnn, key)}
    result = crossval_heads(features, plan.config, schedule, members=members, k=5, seed=0,
                            target_accuracy=plan.target_accuracy, extra=extra)
    result["candidate"] = name
    suffix = "" if members == 1 else f"-m{members}"
    (out / f"{slug(name)}{suffix}.json").write_text(json.dumps(jsonable(result), indent=1))
    return result


def table(out: Path) -> str:
    """Markdown rows of every finished candidate: hybrid, LSTM zeroed and CNN alone."""
    rows = ["| candidate | variant | image acc (95% CI) | AUC (95% CI) | sens | spec | ECE |",
            "|---|---|---|---|---|---|---|"]
    for name, suffix in [(n, s) for n in CANDIDATES for s in ("", "-m3")]:
        path = out / f"{slug(name)}{suffix}.json"
        if not path.is_file():
            continue
        lstm = CANDIDATES[name][0].get("use_lstm", True)
        name = name + (" (3 members a fold)" if suffix else "")
        result = json.loads(path.read_text())
        for variant in ("hybrid", "hybrid_lstm_zeroed", "cnn_only") if lstm else ("hybrid",):  # CNN only: one model
            r = result[variant]
            im, ci = r["image"], r["bootstrap_95ci"]
            rows.append(f"| {name} | {variant} | {im['accuracy']:.1%} ({ci['accuracy']['ci_low']:.1%}-"
                        f"{ci['accuracy']['ci_high']:.1%}) | {im['roc_auc']:.3f} ({ci['roc_auc']['ci_low']:.3f}-"
                        f"{ci['roc_auc']['ci_high']:.3f}) | {im['sensitivity']:.1%} | {im['specificity']:.1%} | "
                        f"{im['ece']:.3f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", nargs="?", choices=list(CANDIDATES))
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--members", type=int, default=1, help="members per fold model (the selection used 1)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "breakhis-search")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.candidate:
        run_candidate(args.candidate, args.data, args.out, args.members)
    print(table(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
