"""The label-error queue (``bcviewer labels issues``) on a real project with planted flips, and the
round notes: why a round changed nothing, and how few images its held-out accuracy rests on.

The project: five copies of each of the four BreakHis fixtures (20 images under neutral names, a
labels CSV), two of them given the wrong label on purpose, one in each direction. Copies of one
fixture have identical pixels (only a PNG text chunk differs), so the frozen trunk gives them
identical features: every fold's probe has seen at least three correctly labelled twins of each
held-out image and scores the planted flips as what they show (measured: the flipped benign copy
0.02, the flipped malignant copy 0.98, against 0.02-0.27 for benign and 0.96-0.99 for malignant
copies), and the logistic fit (L-BFGS) is deterministic. So the queue holds exactly the two flips.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labels_helpers import TableScorer, fixture_project
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from bcviewer.cli.main import main
from bcviewer.labels import LabelStore, SelfLearningEngine, TauSchedule
from bcviewer.labels.importer import import_images
from bcviewer.labels.label_issues import find_label_errors, issue_lines
from bcviewer.labels.probe_trainer import probe_trainer
from bcviewer.labels.round_notes import (
    heldout_note,
    nothing_changed_reason,
    wilson_interval,
)

COPIES = 5
# (fixture, copy) given the other label: a benign fibroadenoma called malignant, a malignant
# papillary carcinoma called benign.
FLIPPED = {("SOB_B_F-14-14134E-100-001.png", 2), ("SOB_M_PC-14-12465-100-001.png", 4)}


def planted_project(folder: Path, breakhis: Path) -> tuple[Path, dict[str, str]]:
    """The 20-image project; returns its path and the true label of each planted file."""
    folder.mkdir()
    rows, planted = ["image,label,patient"], {}
    n = 0
    for src in sorted(breakhis.glob("*.png")):
        label = "malignant" if "_M_" in src.name else "benign"
        with Image.open(src) as image:
            image.load()
            for k in range(COPIES):
                n += 1
                info = PngInfo()
                info.add_text("copy", str(k))
                name = f"img{n:02d}.png"
                image.save(folder / name, pnginfo=info, compress_level=1)
                given = label
                if (src.name, k) in FLIPPED:
                    given = "benign" if label == "malignant" else "malignant"
                    planted[name] = label
                rows.append(f"{name},{given},person{n % 7}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    project = folder / "p.bcv"
    with LabelStore.create(project) as store:
        report = import_images(store, [folder / "labels.csv"])
        assert len(report.added) == 20 and not report.failed
    return project, planted


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], Path]]:
    root = tmp_path_factory.mktemp("issues")
    breakhis = Path(__file__).resolve().parent / "data" / "breakhis"
    project, truth = planted_project(root / "data", breakhis)
    yield project, truth, root / "features"


def test_the_queue_ranks_the_planted_flips_first_in_both_directions(planted: tuple[Path, dict[str, str], Path]) -> None:
    project, truth, cache = planted
    with LabelStore.open(project) as store:
        names = {i.id: i.path.name for i in store.images()}
        steps: list[tuple[int, int]] = []
        queue = find_label_errors(store, probe_trainer(cache_folder=cache), progress=lambda d, t: steps.append((d, t)))
    assert truth == {"img08.png": "benign", "img20.png": "malignant"}
    # images are numbered in CSV order: img08 is image 8 (benign, labelled malignant), img20 image 20
    # ranked by self-confidence: img08 0.019, img20 0.022 (measured; far apart next to float noise)
    assert [(i.image_id, names[i.image_id]) for i in queue.issues] == [(8, "img08.png"), (20, "img20.png")]
    by_id = {i.image_id: i for i in queue.issues}
    assert (by_id[8].label, by_id[8].suggested) == ("malignant", "benign")
    assert (by_id[20].label, by_id[20].suggested) == ("benign", "malignant")
    assert [i.rank for i in queue.issues] == [1, 2]
    assert all(i.self_confidence < 0.1 for i in queue.issues)  # the model is sure of the other label
    assert queue.issues[0].self_confidence <= queue.issues[1].self_confidence
    assert steps == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert queue.summary() == ("2 likely label errors among 20 images of 7 persons (confident learning on "
                               "probabilities from 5 models, each scoring the images it was not trained on)")


def test_the_subimage_level_lists_the_flipped_images_sub_images(planted: tuple[Path, dict[str, str], Path]) -> None:
    project, _, cache = planted
    with LabelStore.open(project) as store:
        queue = find_label_errors(store, probe_trainer(cache_folder=cache), level="subimage")
        subs = {s.id for image in (8, 20) for s in store.subimages(image)}
    flagged = {i.subimage_id for i in queue.issues}
    assert flagged <= subs and len(flagged) >= 9  # only sub-images of the two flipped images
    assert issue_lines(queue, 1)[0].startswith("   1  img")


def test_cli_prints_one_line_per_issue(planted: tuple[Path, dict[str, str], Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    project, _, cache = planted
    monkeypatch.setattr("bcviewer.labels.feature_cache.default_cache_folder", lambda: cache)
    out = tmp_path / "issues.json"
    assert main(["labels", "issues", str(project), "--top", "1", "--quiet", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 and lines[0].split()[:2] == ["rank", "where"]
    assert lines[1].split() == ["1", "img08.png", "patient", "person1", "malignant", "->", "benign",
                                "self-confidence", "0.019"]
    assert captured.err.strip().endswith("; the first 1 shown")
    assert '"suggested"' in out.read_text()


@pytest.mark.parametrize("args, message", [
    (["--top", "0"], "--top must be at least 1, got 0"),
    (["--folds", "1"], "--folds must be at least 2, got 1"),
])
def test_cli_refuses_bad_options_in_one_line(planted: tuple[Path, dict[str, str], Path], args: list[str],
                                             message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", "issues", str(planted[0]), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_cli_refuses_a_missing_project_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", "issues", str(tmp_path / "none.bcv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none.bcv" in err


def test_a_round_that_proposes_nothing_says_why_with_its_numbers(tmp_path: Path, test_data: Path) -> None:
    with fixture_project(tmp_path / "p.bcv", test_data / "breakhis") as store:
        # every sub-image 0.9, DC's sub-image (1,2) 0.34 and its (3,3) 0.95 (DC's anchor)
        table = {("SOB_M_DC-14-13412-100-001.png", 0, 1): 0.34, ("SOB_M_DC-14-13412-100-001.png", 2, 2): 0.95}
        engine = SelfLearningEngine(store, scorer=TableScorer(table), mode="review",
                                    schedule=TauSchedule((0.1,)), heldout_patients=frozenset())
        report = engine.run_round()
    assert report.stats["proposed"] == 0
    # 18 malignant sub-images of 2 malignant images, less one anchor each
    assert report.stats["candidates"]["candidates"] == 16
    assert nothing_changed_reason(report.stats) == (
        "nothing proposed: the lowest p_malignant among the 16 malignant sub-images the rule may change is "
        "0.340 (SOB_M_DC-14-13412-100-001.png sub-image 1,2), and tau is 0.1; only p < tau is relabelled. "
        "A tau of at least 0.35 would propose that one (--tau, or the panel's tau box); the next levels of the "
        "schedule raise tau")


def test_a_round_that_changed_something_has_no_reason(tmp_path: Path, test_data: Path) -> None:
    with fixture_project(tmp_path / "p.bcv", test_data / "breakhis") as store:
        table = {("SOB_M_DC-14-13412-100-001.png", 0, 1): 0.05}
        report = SelfLearningEngine(store, scorer=TableScorer(table), schedule=TauSchedule((0.1,)),
                                    heldout_patients=frozenset()).run_round()
    assert report.stats["relabelled"] == 1 and nothing_changed_reason(report.stats) is None


def test_held_out_accuracy_on_few_images_is_flagged_with_its_interval(tmp_path: Path, test_data: Path) -> None:
    # 10 of 10 right: Wilson 95% interval 0.722-1.000 (z = 1.96: (n + z^2/2 - z sqrt(z^2/4)) / (n + z^2))
    low, high = wilson_interval(10, 10)
    assert round(low, 4) == 0.7225 and high == pytest.approx(1.0)
    assert heldout_note({"images": 10, "image_accuracy": 1.0}) == (
        "held-out image accuracy 1.000 on 10 images (95% Wilson CI 0.72-1.00); warning: fewer than 30 "
        "held-out images, so one image moves the accuracy by 0.10 and the interval is wide (images of one "
        "patient are alike, so the truth is wider still); hold out more patients (--holdout with --resplit) "
        "before trusting it")
    # 40 images, 32 right: no warning
    assert heldout_note({"images": 40, "image_accuracy": 0.8}) == (
        "held-out image accuracy 0.800 on 40 images (95% Wilson CI 0.65-0.90)")
    with fixture_project(tmp_path / "p.bcv", test_data / "breakhis") as store:
        report = SelfLearningEngine(store, scorer=TableScorer({}, default=0.9), schedule=TauSchedule((0.1,)),
                                    heldout_patients=frozenset({"14-12465", "14-14134E"})).run_round()
    held = report.stats["heldout"]
    # PC (malignant) right and BF (benign) wrong at p = 0.9: 1 of 2, Wilson 0.09-0.91
    assert (held["images"], held["image_accuracy"]) == (2, 0.5)
    assert [round(v, 3) for v in held["image_wilson95"]] == [0.095, 0.905]
    assert heldout_note(held).startswith("held-out image accuracy 0.500 on 2 images (95% Wilson CI 0.09-0.91); "
                                         "warning: fewer than 30 held-out images, so one image moves the "
                                         "accuracy by 0.50")


def test_the_cli_path_never_imports_torch(planted: tuple[Path, dict[str, str], Path], tmp_path: Path) -> None:
    """The CPU bundle has no PyTorch: the queue runs on the ONNX probe and cleanlab alone."""
    import os
    import subprocess
    import sys

    code = ("import sys; from bcviewer.cli.main import main; r = main(sys.argv[1:]); "
            "print('torch' in sys.modules); sys.exit(r)")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "XDG_CACHE_HOME": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, "labels", "issues", str(planted[0]), "--quiet", "--top", "2"],
                          check=False, capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[1:3]] == ["img08.png", "img20.png"] and lines[-1] == "False"
