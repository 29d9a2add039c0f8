"""What must not import PyTorch: the CLI's help, the viewer shell's package, model cards and specs,
the errors the viewer catches, an analysis on the CPU and gene prediction from a shipped ONNX file
(with the expression worker's module). Each check runs in a fresh interpreter (this test process
has imported torch long ago)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

CHECKS = {
    "bcviewer --help": """
        import contextlib, io
        from bcviewer.launcher import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                main(["--help"])
            except SystemExit as exc:
                assert exc.code in (0, None), exc.code
        assert "predict" in out.getvalue()
    """,
    "import bcviewer.gui": "import bcviewer.gui",
    "import bcviewer.cli.main": "import bcviewer.cli.main",
    "cards and specs": """
        from bcviewer.nets import InputSpec, model_search_dirs, read_card, resolve_model_dir
        spec = InputSpec.from_dict(read_card(resolve_model_dir("breakhis-100x"))["input"])
        assert spec.size == (224, 144) and model_search_dirs()
    """,
    "errors the viewer catches": """
        from bcviewer.errors import BcviewerError
        from bcviewer.inference.device import DeviceUnavailableError
        from bcviewer.inference.runtime import RuntimeUnavailableError
        from bcviewer.inference.scale import ScaleUnknownError
        from bcviewer.nets.errors import (ModelCardError, ModelError, ModelNotFoundError, OnnxExportError,
                                          PretrainedWeightsUnavailableError, UnknownBackboneError,
                                          UnsafeModelFormatError)
        from bcviewer.nets import ModelError as Same, OnnxExportError as SameExport
        assert Same is ModelError and SameExport is OnnxExportError and issubclass(OnnxExportError, ModelError)
        from bcviewer.tiling import TilingError
        assert all(issubclass(e, BcviewerError) for e in (DeviceUnavailableError, RuntimeUnavailableError,
                   ScaleUnknownError, ModelError, TilingError))
    """,
    "torch-free names of bcviewer.inference": """
        import bcviewer.inference as inference
        from bcviewer.inference import (DEFAULT_BATCH_SIZE, DEFAULT_IMAGE_MODEL, DEVICE_CHOICES, MALIGNANT,
                                        RUNTIME_CHOICES, ScaleUnknownError, ScoreBatch, TileScores, analysis_grid,
                                        choose_runtime, describe_model, label_of, level0_mpp, scale_warnings)
        assert all(getattr(inference, n) is not None for n in inference.__all__)
    """,
    "an analysis on the CPU with a shipped model": """
        from bcviewer.inference import Predictor, analysis_grid
        from bcviewer.inference.device import gpu_driver_present, resolve_device
        from bcviewer.nets import open_model
        from bcviewer.paths import sample_image
        from bcviewer.slides import open_slide
        model = open_model("breakhis-100x")
        with open_slide(sample_image()) as slide:
            scores = Predictor(model, device="cpu").run(slide, analysis_grid(slide, model.spec))
        assert scores.complete and len(scores.p_malignant) == 9
        if not gpu_driver_present():  # no GPU driver: "auto" is the CPU without asking PyTorch
            assert resolve_device("auto") == "cpu"
    """,
    "a slide report of the sample": """
        from bcviewer.export.report import render_report, slide_report
        from bcviewer.inference import Predictor
        from bcviewer.inference.plan import plan_input
        from bcviewer.nets import open_model
        from bcviewer.paths import sample_image
        from bcviewer.slides import open_slide
        with open_slide(sample_image()) as slide:
            plan = plan_input(slide)
            scores = Predictor(open_model(plan.model.source), device="cpu").run(slide, plan.grid)
            assert render_report(slide_report(slide, scores, plan)).startswith(b"%PDF-")
    """,
    "gene prediction from the ONNX file": """
        import bcviewer.gui.expression.worker
        from bcviewer.genes import load_gene_model, predict_expression, read_expression_table
        model = load_gene_model("er-status/deepcme", runtime="onnx")
        table = read_expression_table("tests/data/genes/tcga_er_pam50_160.csv", known_genes=model.genes)
        result = predict_expression(table, model)
        assert len(result.table) == 160 and result.attributions.abs().to_numpy().max() > 0
    """,
    "ONNX preprocessing": """
        import numpy as np
        from bcviewer.nets import InputSpec, preprocess_numpy
        x = preprocess_numpy(np.zeros((2, 8, 8, 3), np.uint8), InputSpec(4, 4, (0.5,) * 3, (0.25,) * 3))
        assert x.shape == (2, 3, 4, 4) and x.dtype == np.float32
    """,
}


def _run(code: str) -> subprocess.CompletedProcess[str]:
    check = textwrap.dedent(code) + "\nimport sys\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    return subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", list(CHECKS))
def test_does_not_import_torch(name: str) -> None:
    result = _run(CHECKS[name])
    assert result.returncode == 0, result.stderr


def test_the_check_itself_notices_torch() -> None:
    result = _run("from bcviewer.nets import load_model, LoadedModel")
    assert result.returncode != 0 and "torch was imported" in result.stderr
