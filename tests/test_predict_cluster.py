"""`bcviewer predict` on Dask distributed, with real worker processes: same scores as one process,
a killed worker loses no slide, Ctrl+C then --resume does only the rest, a corrupt slide is one row."""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import ROOT
from inference_helpers import IMAGE_SPEC, SLIDE_SPEC, save_tiny_model

from bcviewer.batch import MANIFEST_NAME, PredictOptions, model_ref
from bcviewer.nets.store import update_card
from bcviewer.batch.cluster import SlideTask, open_client, process_stats, score_on_cluster
from bcviewer.cli.main import main
from bcviewer.export import read_tiles_csv

SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
OTHER_PNG = ROOT / "tests" / "data" / "breakhis" / "SOB_B_A-14-22549AB-100-001.png"
SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
CORRUPT = ROOT / "tests" / "data" / "slides" / "edge-cases" / "unreadable.svs"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny models under the default names, so each input kind gets its own model."""
    base = tmp_path_factory.mktemp("store")
    save_tiny_model(base / "breakhis-100x", IMAGE_SPEC, seed=1)
    save_tiny_model(base / "idc-wsi", SLIDE_SPEC, seed=2)
    # the image model's card names a verdict rule, as the shipped one does: every worker must apply it
    update_card(base / "breakhis-100x", {"verdict": {"rule": "top_k_mean", "parameters": {"top_share": 0.1},
                                                     "validated": True}})
    return base


@pytest.fixture(autouse=True)
def models_env(store: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread: None) -> None:
    monkeypatch.setenv("BCVIEWER_MODELS", str(store))  # inherited by the worker processes


def _summary(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _copies(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = [folder / f"s{i:02d}.png" for i in range(n)]
    for p in paths:
        shutil.copy(SAMPLE, p)
    return paths


def test_default_run_never_imports_dask(tmp_path: Path) -> None:
    predict = f"['predict', {str(SAMPLE)!r}, '--out', {str(tmp_path)!r}, '--formats', 'csv', '--quiet']"
    code = ("import sys; from bcviewer.cli.main import main; "
            f"rc = main({predict}); "
            "print(rc, sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'})); "
            "sys.modules['distributed'] = None; "  # as if the cluster extra were not installed
            f"print(main({predict} + ['--workers', '1']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.stdout.split("\n")[:2] == ["0 []", "2"], done.stderr
    assert _summary(tmp_path)[0]["status"] == "ok"
    assert done.stderr.strip().splitlines()[1:] == ["bcviewer predict: --workers and --scheduler need Dask "
                                                    "distributed: pip install 'bcviewer[cluster]'"]


def test_two_workers_give_the_single_process_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = [str(SAMPLE), str(SVS), str(CORRUPT)]
    here, there = tmp_path / "here", tmp_path / "there"
    assert main(["predict", *inputs, "--out", str(here), "--device", "cpu", "--quiet"]) == 2
    capsys.readouterr()
    assert main(["predict", *inputs, "--out", str(there), "--device", "cpu", "--workers", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "with 2 workers; dashboard: http://" in err and "2 of 3 inputs scored" in err
    rows_here, rows_there = _summary(here), _summary(there)
    # same order, labels, verdicts and the corrupt slide's error row
    exact = ("path", "status", "label", "n_tiles", "error", "verdict_rule", "verdict", "review", "prediction_set")
    assert [[r[k] for k in exact] for r in rows_there] == [[r[k] for k in exact] for r in rows_here]
    assert [r["verdict_rule"] for r in rows_there] == ["top 10% mean", "mean (not validated)", ""]  # each card's rule
    with open(there / SAMPLE.stem / "tiles.csv", newline="") as fh:  # top 10% of 9 sub-images: the highest
        assert float(rows_there[0]["p_malignant"]) == pytest.approx(max(float(t["p_malignant"]) for t in
                                                                        csv.DictReader(fh)), abs=1e-6)
    for a, b in zip(rows_here[:2], rows_there[:2]):  # batches differ (one slide per task): float rounding only
        for key in ("p_malignant", "uncertainty", "verdict_low", "verdict_high"):
            assert float(b[key]) == pytest.approx(float(a[key]), abs=2e-6)
    assert [r["status"] for r in rows_there] == ["ok", "ok", "error"]
    assert "401 level-0 pixels" in rows_there[2]["error"]
    assert [r["n_tiles"] for r in rows_there[:2]] == ["9", "20"]
    for stem, size in (("SOB_M_MC-14-13413-100-003", (700, 460)), ("cmu_small_region", (2220, 2967))):
        a, b = read_tiles_csv(here / stem / "tiles.csv", size), read_tiles_csv(there / stem / "tiles.csv", size)
        assert (a.rects() == b.rects()).all()
        assert b.p_malignant == pytest.approx(a.p_malignant, abs=2e-6)
        assert b.uncertainty == pytest.approx(a.uncertainty, abs=2e-6)
        for name in ("heatmap.png", "overlay.png", "tiles.geojson"):
            assert (there / stem / name).is_file()
    manifests = [json.loads((there / s / MANIFEST_NAME).read_text()) for s in ("SOB_M_MC-14-13413-100-003",
                                                                               "cmu_small_region")]
    assert [m["model"]["source"] for m in manifests] == ["breakhis-100x", "idc-wsi"]
    assert all(m["scored_by"].split(":")[1] != str(os.getpid()) for m in manifests)  # scored in a worker
    assert all(m["stain"] == {"method": "none", "reference": "none", "sha256": "none"} for m in manifests)
    assert not (there / "unreadable").exists()


def test_killed_worker_loses_no_slide_and_counts_none_twice(tmp_path: Path) -> None:
    paths = _copies(tmp_path / "in", 10)
    model = model_ref("breakhis-100x")
    tasks = [SlideTask(i, p, {model.source: model}, model.source) for i, p in enumerate(paths)]
    options = PredictOptions(formats=("csv",), device="cpu")
    outcomes, victims, killed = [], set(), None
    with open_client(workers=2) as client:
        pids = client.run(os.getpid)
        for outcome in score_on_cluster(client, tasks, options, retries=2):
            outcomes.append(outcome)
            if killed is None:
                busy = {addr: keys for addr, keys in client.processing().items() if keys and addr in pids}
                assert busy, "no slide was running when the worker was to be killed"
                addr, keys = next(iter(busy.items()))
                victims = {int(str(k).split("-")[3]) for k in keys}
                killed = pids[addr]
                os.kill(killed, signal.SIGKILL)
        loads = [s["models_loaded"] for s in client.run(process_stats).values()]
        # --scheduler: the CLI uses a cluster started elsewhere and leaves it running.
        out = tmp_path / "out"
        assert main(["predict", str(paths[0]), "--out", str(out), "--scheduler", client.scheduler.address,
                     "--formats", "csv", "--quiet"]) == 0
        assert _summary(out)[0]["status"] == "ok" and client.run(os.getpid)
    assert sorted(o.index for o in outcomes) == list(range(10))  # every slide, exactly once
    assert all(o.ok for o in outcomes)
    assert len({o.files["tiles.csv"] for o in outcomes}) == 1  # copies of one image: identical tables
    scorers = {o.index: int(o.scored_by.split(":")[1]) for o in outcomes}
    assert victims and all(scorers[i] != killed for i in victims)  # retried elsewhere
    assert max(loads) == 1  # each live worker loaded the model once ...
    busiest = max(list(scorers.values()).count(pid) for pid in set(scorers.values()))
    assert busiest >= 2  # ... and reused it for several slides


def test_ctrl_c_stops_cleanly_and_resume_does_only_the_rest(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    paths = _copies(tmp_path / "in", 10)
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "bcviewer", "predict", str(tmp_path / "in"), "--out", str(out), "--workers", "2",
         "--formats", "csv,png", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while len(glob.glob(str(out / "*" / MANIFEST_NAME))) < 2 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    children = psutil.Process(run.pid).children(recursive=True)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl+C in a terminal does: the whole process group
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    psutil.wait_procs(children, timeout=30)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]  # cluster shut down
    assert not list(out.rglob("*.part"))  # no half-written file
    done = sorted(p.parent.name for p in out.glob(f"*/{MANIFEST_NAME}"))
    assert 2 <= len(done) < 10
    before = {name: (out / name / MANIFEST_NAME).read_bytes() for name in done}
    shutil.copy(OTHER_PNG, tmp_path / "in" / f"{done[0]}.png")  # changed since: its hash no longer matches

    assert main(["predict", str(tmp_path / "in"), "--out", str(out), "--formats", "csv,png", "--resume",
                 "--quiet"]) == 0
    assert f"10 of 10 inputs scored ({len(done) - 1} already complete, skipped)" in capsys.readouterr().err
    rows = _summary(out)
    assert [Path(r["path"]).name for r in rows] == [p.name for p in paths] and all(r["status"] == "ok" for r in rows)
    here = str(os.getpid())
    for p in paths:
        manifest = (out / p.stem / MANIFEST_NAME).read_bytes()
        if p.stem in done[1:]:
            assert manifest == before[p.stem]  # skipped: not scored again
        else:
            assert json.loads(manifest)["scored_by"].split(":")[1] == here  # scored by the resumed run
    p_by_stem = {Path(r["path"]).stem: r["p_malignant"] for r in rows}
    assert len({p for stem, p in p_by_stem.items() if stem != done[0]}) == 1
    assert p_by_stem[done[0]] != p_by_stem[done[1]]  # the changed input was scored anew


def test_relative_paths_reach_workers_in_another_folder_and_an_unseen_file_is_one_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bcviewer.batch.cluster import score_visible, worker_name

    _copies(tmp_path / "in", 2)
    with open_client(workers=1) as client:  # its worker keeps the folder it started in
        monkeypatch.chdir(tmp_path)  # the client moves: inputs are given relative to here
        assert main(["predict", "in/s00.png", "in/s01.png", "--out", "out", "--scheduler", client.scheduler.address,
                     "--formats", "csv", "--quiet"]) == 0
    rows = _summary(tmp_path / "out")
    assert [(r["path"], r["status"]) for r in rows] == [("in/s00.png", "ok"), ("in/s01.png", "ok")]
    model = model_ref("breakhis-100x")
    unseen = score_visible(3, str(tmp_path / "elsewhere.png"), {model.source: model}, PredictOptions(), model.source)
    assert (unseen.index, unseen.row.status) == (3, "error")
    assert unseen.row.error == (f"file not visible on worker {worker_name()}: use a shared path that every worker "
                                "can read")
