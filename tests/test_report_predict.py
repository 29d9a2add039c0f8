"""`bcviewer predict --report`: one report.pdf per input next to its other files, in this process and
on Dask workers, its sha256 in the manifest, --resume keeping it, and a bad output path refused."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from bad_input_helpers import fails_with_one_line
from conftest import ROOT
from report_helpers import page_texts

from bcviewer.batch import MANIFEST_NAME
from bcviewer.cli.main import main
from bcviewer.export.report import NOTICE

SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"


@pytest.fixture(autouse=True)
def shipped_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)  # the shipped breakhis-100x and idc-wsi


def _check_reports(out: Path) -> list[dict[str, object]]:
    manifests = []
    for stem, name, model in (("SOB_M_MC-14-13413-100-003", SAMPLE.name, "breakhis-100x"),
                              ("cmu_small_region", SVS.name, "idc-wsi")):
        pdf = out / stem / "report.pdf"
        manifest = json.loads((out / stem / MANIFEST_NAME).read_text())
        assert manifest["outputs"]["report.pdf"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
        assert manifest["options"]["report"] is True
        text = "\n".join(page_texts(pdf))
        assert f"Slide report: {name}" in text and f"{model}; the default for" in text and NOTICE in text
        assert f"Verdict: {manifest['summary']['verdict']}" in text  # the words of summary.csv
        manifests.append(manifest)
    return manifests


def test_predict_report_writes_one_pdf_per_input_recorded_in_its_manifest(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["predict", str(SAMPLE), str(SVS), "--out", str(out), "--report", "--quiet"]) == 0
    _check_reports(out)
    assert sorted(p.name for p in (out / "cmu_small_region").iterdir()) == [
        "heatmap.png", "manifest.json", "overlay.png", "report.pdf", "tiles.csv", "tiles.geojson"]
    capsys.readouterr()
    # --resume: complete with the report; asking for no report is another analysis, done again
    assert main(["predict", str(SAMPLE), "--out", str(out), "--report", "--resume", "--quiet"]) == 0
    assert "(1 already complete, skipped)" in capsys.readouterr().err
    assert main(["predict", str(SAMPLE), "--out", str(out), "--resume", "--quiet"]) == 0
    assert "(0 already complete, skipped)" in capsys.readouterr().err


def test_predict_report_on_dask_workers_renders_there_and_writes_here(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["predict", str(SAMPLE), str(SVS), "--out", str(out), "--report", "--workers", "1",
                 "--quiet"]) == 0
    manifests = _check_reports(out)
    assert all(str(m["scored_by"]).split(":")[1] != str(os.getpid()) for m in manifests)  # rendered on a worker


def test_a_folder_where_the_report_goes_is_one_line_and_exit_2(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / SAMPLE.stem / "report.pdf").mkdir(parents=True)
    line = fails_with_one_line(["predict", SAMPLE, "--out", out, "--report", "--quiet"], capsys,
                               "report.pdf is a folder")
    assert line.startswith("bcviewer predict: --out")
    assert not (out / SAMPLE.stem / "manifest.json").exists()
