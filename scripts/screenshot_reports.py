"""The slide reports of the README: the shipped sample image and cmu_small_region.svs predicted with
``bcviewer predict --report`` (the shipped models, ONNX Runtime on the CPU), and a BreakHis fixture
image with two regions and a labeling project's edits; every page rendered to PNG with pypdfium2.

Run from the repository root:

    python3 scripts/screenshot_reports.py docs/screenshots

writes report-sample-p<N>.png, report-cmu-p<N>.png and report-edits-p<N>.png there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pypdfium2 as pdfium

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bcviewer.cli.main import main

SAMPLE = ROOT / "resources" / "sample" / "SOB_M_MC-14-13413-100-003.png"
SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
FIXTURE = ROOT / "tests" / "data" / "breakhis" / "SOB_B_A-14-22549AB-100-001.png"


def save_pages(pdf: Path, folder: Path, name: str, scale: float = 1.5) -> list[Path]:
    document = pdfium.PdfDocument(str(pdf))
    paths = []
    for i, page in enumerate(document):
        path = folder / f"{name}-p{i + 1}.png"
        page.render(scale=scale).to_pil().convert("RGB").save(path)
        paths.append(path)
    document.close()
    return paths


def edits_report(work: Path) -> Path:
    """A report with regions and label edits: the fixture image, a project where it was relabelled."""
    from shapely.geometry import box

    from bcviewer.export.report import slide_report, write_report
    from bcviewer.inference import Predictor
    from bcviewer.inference.plan import plan_input
    from bcviewer.labels import LabelStore
    from bcviewer.labels.importer import import_images
    from bcviewer.nets import open_model
    from bcviewer.regions import Region
    from bcviewer.slides import open_slide

    project = work / "labels.bcv"
    with LabelStore.create(project) as store:
        import_images(store, [FIXTURE.parent])
        subs = store.subimages(store.image_id_for(path=str(FIXTURE)) or -1)
        store.set_label([subs[4].id], "malignant", reason="atypical nuclei, dense cluster")
        store.set_locked([subs[0].id], True)
    regions = [Region("upper band", "Tumor", box(0, 0, 700, 200)),
               Region("lower right", "Stroma", box(350, 230, 700, 460))]
    with open_slide(FIXTURE) as slide:
        plan = plan_input(slide)
        scores = Predictor(open_model(plan.model.source), device="cpu").run(slide, plan.grid)
        return write_report(work / "edits.pdf", slide_report(slide, scores, plan, regions=regions, project=project))


def run(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        if main(["predict", str(SAMPLE), str(SVS), "--out", str(out), "--report", "--quiet"]) != 0:
            raise SystemExit("bcviewer predict failed")
        shots = save_pages(out / SAMPLE.stem / "report.pdf", folder, "report-sample")
        shots += save_pages(out / SVS.stem / "report.pdf", folder, "report-cmu")
        shots += save_pages(edits_report(Path(tmp)), folder, "report-edits")
    return shots


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    for shot in run(parser.parse_args().folder):
        print(shot)
