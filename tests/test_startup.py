"""What the command line imports before it answers: ``bcviewer --help``, every sub-command's
``--help``, the refusals of bad option values and of a missing input (where the command checks it
before planning) must not import PyTorch, Dask, scikit-learn or ONNX Runtime (each costs seconds to
import; see benchmarks/bench_startup.py for the times). Each check runs in a fresh interpreter,
since this test process imported them long ago."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

HEAVY = ("torch", "dask", "distributed", "sklearn", "onnxruntime")

# Every parser a user can ask for help, with a phrase of its own help text.
HELP_PAGES = {
    (): "Breast-cancer histopathology viewer",
    ("info",): "print machine-readable JSON",
    ("tiles",): "sub-image grid of a microscopy image",
    ("qc",): "check the tiles this model would score",
    ("predict",): "score on an existing Dask cluster",
    ("genes",): "list the gene models in models/genes",
    ("genes", "train"): "--external-label",
    ("genes", "predict"): "--min-coverage",
    ("train",): "--input-size",
    ("evaluate",): "--patients",
    ("quantize",): "--calibration-tiles",
    ("labels",): "import",
    ("labels", "import"): "three ways to give the labels",
    ("labels", "export"): "--object-type",
    ("labels", "stats"): "project file",
    ("labels", "review"): "project file",
    ("labels", "accept"): "--min-p",
    ("labels", "reject"): "--annotator",
    ("labels", "revert"): "ROUND",
    ("labels", "history"): "--format",
    ("labels", "issues"): "--top",
    ("labels", "open"): "project file",
    ("selflearn",): "--crossfit",
    ("doctor",): "--no-qt",
}

_CHILD = """
    import contextlib, io, json, sys
    from bcviewer.launcher import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main({argv!r})
        except SystemExit as exc:
            code = exc.code
    heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
    print(json.dumps({{"code": code, "out": out.getvalue(), "err": err.getvalue(), "heavy": heavy}}))
"""


def _run_cli(argv: list[str]) -> dict[str, object]:
    """Run ``bcviewer ARGV`` in a fresh interpreter; its exit code, output and heavy imports."""
    code = textwrap.dedent(_CHILD.format(argv=argv, heavy=HEAVY))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return found


@pytest.mark.parametrize("command", list(HELP_PAGES), ids=lambda c: " ".join(c) or "bcviewer")
def test_help_imports_no_heavy_package(command: tuple[str, ...]) -> None:
    found = _run_cli([*command, "--help"])
    assert found["code"] == 0
    assert HELP_PAGES[command] in str(found["out"])
    assert found["heavy"] == []


def test_version_imports_no_heavy_package() -> None:
    found = _run_cli(["--version"])
    assert found["code"] == 0 and str(found["out"]).startswith("bcviewer ")
    assert found["heavy"] == []


@pytest.mark.parametrize(("argv", "message"), [
    (["predict", "x.png", "--batch-size", "0"], "bcviewer predict: --batch-size must be at least 1, got 0\n"),
    (["predict", "x.png", "--threshold", "2"], "bcviewer predict: --threshold must be between 0 and 1, got 2.0\n"),
    (["predict", "x.png", "--formats", "pdf"],
     "bcviewer predict: --formats takes a comma list of csv, geojson, png; got 'pdf'\n"),
    (["predict", "x.png", "--grid", "3by3"], "bcviewer predict: --grid must look like 3x3 (rows x columns), "
                                             "got '3by3'\n"),
    (["predict", "x.png", "--runtime", "tpu"], "bcviewer predict: error: argument --runtime: invalid choice: 'tpu'"),
    (["labels", "export", "p.bcv"], "bcviewer labels: say what to export: --csv FILE and/or --geojson DIR\n"),
    (["info", "missing.png"], "bcviewer info: missing.png does not exist\n"),
    (["tiles", "missing.png", "--grid", "2x2"], "bcviewer tiles: missing.png does not exist\n"),
    (["qc", "missing.png"], "bcviewer qc: missing.png does not exist\n"),
    (["labels", "stats", "missing.bcv"], "bcviewer labels: the project missing.bcv does not exist; create it with "
                                         "'bcviewer labels import'\n"),
])
def test_refusing_a_bad_option_or_path_imports_no_heavy_package(argv: list[str], message: str) -> None:
    found = _run_cli(argv)
    assert found["code"] == 2
    assert str(found["err"]).startswith(message)
    assert found["heavy"] == []
    assert found["out"] == ""


def test_the_check_notices_a_heavy_import() -> None:
    """The same child, asked for a command that needs the scoring stack, does see it."""
    sample = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"  # exists: the run starts
    found = _run_cli(["predict", str(sample), "--out", str(ROOT / "no-such-dir" / "x"),
                      "--roi", str(ROOT / "no-such-roi.geojson")])
    assert found["code"] == 2
    assert "sklearn" in found["heavy"]


@pytest.fixture(scope="module")
def slide_without_pixel_size(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pyramid_fixture import write_pyramid_tiff

    from bcviewer.slides import open_slide

    with open_slide(ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs") as s:
        rgb = s.read_region(0, 0, 0, *s.dimensions)
    return write_pyramid_tiff(tmp_path_factory.mktemp("nompp") / "nompp.tif", rgb, levels=2)


def test_predict_refuses_a_missing_path_or_an_unscaled_slide_before_loading_a_model(
        slide_without_pixel_size: Path) -> None:
    found = _run_cli(["predict", "no-such-input.png"])
    assert (found["code"], found["err"], found["heavy"]) == (2, "bcviewer predict: no-such-input.png does not exist\n",
                                                             [])
    found = _run_cli(["predict", str(slide_without_pixel_size)])
    assert found["code"] == 2 and found["heavy"] == [] and found["out"] == ""
    assert found["err"] == (f"bcviewer predict: {slide_without_pixel_size}: nompp.tif is a whole slide (2 pyramid "
                            "levels, generic-tiff) that does not record its pixel size, so tiles cannot be cut in "
                            "micrometres; give the pixel size with --mpp (e.g. 0.25 at 40x, 0.5 at 20x) or the tile "
                            "size in level-0 pixels with --tile-px\n")
