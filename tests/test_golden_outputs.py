"""Golden outputs: what ``bcviewer predict`` and the viewer's File > Export write for the sample image
and ``cmu_small_region.svs``, with the shipped models, on the torch and ONNX runtimes, must stay
byte for byte what it was when these hashes were recorded.

This guards refactors of the input decision, the run and the exports: a change that moves one
tile, one digit or one pixel fails here. The hashes were recorded on this project's CI machine
class (x86_64, the newest allowed releases); rewrite them only for a change that is meant to
alter the outputs, and say so in the commit:

    BCVIEWER_RECORD_GOLDEN=1 python -m pytest tests/test_golden_outputs.py

PNG bytes depend on the encoder's library version as well as on the pixels, so the PNGs are
compared by their decoded pixels (and size and mode); text files are compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import dialogs, open_and_wait, settings, window  # noqa: F401
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden" / "outputs.json"
SAMPLE_PNG = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
RUNTIMES = ("torch", "onnx")
EXPORTS = {"csv": "tiles.csv", "geojson": "tiles.geojson", "heatmap": "heatmap.png", "overlay": "overlay.png"}


def fingerprint(path: Path) -> str:
    """sha256 of a text file's bytes, or of a PNG's mode, size and decoded pixels."""
    digest = hashlib.sha256()
    if path.suffix == ".png":
        with Image.open(path) as image:
            digest.update(f"{image.mode} {image.size}".encode())
            digest.update(np.ascontiguousarray(np.asarray(image)).tobytes())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def predict_fingerprints(runtime: str, work: Path) -> dict[str, str]:
    """Run ``bcviewer predict`` on both inputs (by bare file name, so summary.csv is path-free)."""
    from bcviewer.cli.main import main

    work.mkdir(parents=True)
    for source in (SAMPLE_PNG, SMALL_SVS):
        shutil.copy(source, work / source.name)
    here = Path.cwd()
    os.chdir(work)
    try:
        code = main(["predict", SAMPLE_PNG.name, SMALL_SVS.name, "--runtime", runtime, "--device", "cpu",
                     "--out", "out", "--quiet"])
    finally:
        os.chdir(here)
    assert code == 0
    out = work / "out"
    return {str(p.relative_to(out)): fingerprint(p) for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}  # the manifest records when and where it ran


def viewer_fingerprints(qtbot, window, runtime: str, out: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Open each input in the viewer, run the analysis and export all four kinds."""
    slide = window.slide
    slide.set_runtime(runtime)
    found: dict[str, str] = {}
    for source in (SAMPLE_PNG, SMALL_SVS):
        open_and_wait(qtbot, window, source)
        with qtbot.waitSignal(slide.analysis.finished, timeout=120_000):
            assert slide.run()
        for kind, name in EXPORTS.items():
            target = out / source.stem / name
            target.parent.mkdir(parents=True, exist_ok=True)
            slide.export(kind, str(target))
        qtbot.waitUntil(lambda: slide.jobs.pending == 0, timeout=60_000)
        found.update({f"{source.stem}/{name}": fingerprint(out / source.stem / name) for name in EXPORTS.values()})
    return found


def _golden() -> dict[str, dict[str, dict[str, str]]]:
    return json.loads(GOLDEN.read_text())


def check(section: str, runtime: str, found: dict[str, str]) -> None:
    """Compare with the recorded hashes, or record them when BCVIEWER_RECORD_GOLDEN=1."""
    if os.environ.get("BCVIEWER_RECORD_GOLDEN") == "1":
        golden = _golden() if GOLDEN.exists() else {}
        golden.setdefault(section, {})[runtime] = found
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    assert found == _golden()[section][runtime]


@pytest.fixture()
def shipped_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shipped models, on one thread: float sums in another order (more cores, or a thread
    count an earlier test left behind) may move the last digit of a p value."""
    import torch

    import bcviewer.inference.predictor as predictor_module
    from bcviewer.inference.runtime import ThreadPlan

    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)
    monkeypatch.setattr(predictor_module, "thread_plan", lambda: ThreadPlan(intra_op=1, readers=1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_predict_outputs_are_the_recorded_bytes(runtime: str, tmp_path: Path, shipped_models: None) -> None:
    check("predict", runtime, predict_fingerprints(runtime, tmp_path / "work"))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_viewer_exports_are_the_recorded_bytes(qtbot, window, runtime: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                               shipped_models: None) -> None:
    check("viewer", runtime, viewer_fingerprints(qtbot, window, runtime, tmp_path))


def test_golden_outputs_cover_every_file() -> None:
    golden = _golden()
    expected_predict = {"summary.csv"} | {f"{s.stem}/{n}" for s in (SAMPLE_PNG, SMALL_SVS) for n in EXPORTS.values()}
    for runtime in RUNTIMES:
        assert set(golden["predict"][runtime]) == expected_predict
        assert set(golden["viewer"][runtime]) == expected_predict - {"summary.csv"}
    # The two runtimes score the same tiles with numerically different, equally valid arithmetic, so
    # their summaries are recorded apart: the sample's value is now one tile's p (breakhis-100x's
    # top 10% mean), 0.8962395 on ONNX and 0.8962397 on torch, which round apart at 6 decimals.
