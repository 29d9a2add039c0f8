"""ASAP (and CAMELYON) annotation XML as regions: polygons, rectangles and splines read in the
slide's full level-0 frame, exclusion groups cut out as holes, dots left out, decimal commas; the
frame kept on a slide with a bounds offset (where GeoJSON regions move); ``predict --roi`` with an
XML file; and one-line refusals of files that are not ASAP annotations."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box

from bcviewer.cli.main import main
from bcviewer.inference.plan import PlanOptions, plan_input
from bcviewer.regions import DEFAULT_CLASS, Region, RegionError, read_region_file, regions_from_asap_xml
from bcviewer.slides import open_slide

ROOT = Path(__file__).resolve().parent.parent
SMALL_SVS = ROOT / "tests" / "data" / "slides" / "cmu_small_region.svs"
MPP = 0.499


def _annotation(name: str, kind: str, group: str, points: list[tuple[str, str]], orders: list[int] | None = None) -> str:
    orders = orders if orders is not None else list(range(len(points)))
    coordinates = "".join(f'<Coordinate Order="{o}" X="{x}" Y="{y}" />' for o, (x, y) in zip(orders, points))
    return (f'<Annotation Name="{name}" Type="{kind}" PartOfGroup="{group}" Color="#F4FA58">'
            f"<Coordinates>{coordinates}</Coordinates></Annotation>")


def _document(*annotations: str) -> str:
    return ('<?xml version="1.0"?><ASAP_Annotations><Annotations>' + "".join(annotations)
            + '</Annotations><AnnotationGroups><Group Name="Tumor" PartOfGroup="None" Color="#64FE2E">'
            "<Attributes /></Group></AnnotationGroups></ASAP_Annotations>")


# A tumour outline given out of order, with a CAMELYON exclusion ("_2") inside it; a rectangle
# with decimal commas; a spline; and a dot.
CAMELYON_LIKE = _document(
    _annotation("Annotation 0", "Polygon", "Tumor", [("500", "500"), ("100", "100"), ("500", "100"), ("100", "500")],
                orders=[2, 0, 1, 3]),
    _annotation("Annotation 1", "Polygon", "_2", [("200", "200"), ("300", "200"), ("300", "300"), ("200", "300")]),
    _annotation("Annotation 2", "Rectangle", "None", [("1000,5", "0"), ("1100,5", "0"), ("1100,5", "50"), ("1000,5", "50")]),
    _annotation("Annotation 3", "Spline", "Stroma", [("0", "600"), ("40", "600"), ("40", "640")]),
    _annotation("Annotation 4", "Dot", "Tumor", [("5", "5")]),
)


def test_asap_xml_reads_areas_cuts_exclusions_and_skips_dots() -> None:
    tumour, rectangle, spline = regions_from_asap_xml(CAMELYON_LIKE)
    assert (tumour.name, tumour.classification) == ("Annotation 0", "Tumor")
    assert tumour.shape.equals(box(100, 100, 500, 500).difference(box(200, 200, 300, 300)))
    assert tumour.shape.area == 400 * 400 - 100 * 100 and len(tumour.shape.interiors) == 1
    assert (rectangle.classification, rectangle.shape.bounds) == (DEFAULT_CLASS, (1000.5, 0.0, 1100.5, 50.0))
    assert (spline.classification, spline.shape.area) == ("Stroma", 40 * 40 / 2)


def test_xml_regions_stay_in_the_slide_frame_on_a_slide_with_bounds(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)

    class Bounded:  # cmu_small_region.svs as if OpenSlide cropped it at bounds-x = 400
        def __init__(self, slide: Any) -> None:
            self._slide = slide
            self.properties = {**slide.properties, "openslide.bounds-x": "400", "openslide.bounds-y": "0"}

        def __getattr__(self, name: str) -> Any:
            return getattr(self._slide, name)

    xml = tmp_path / "top.xml"
    xml.write_text(_document(_annotation("top", "Rectangle", "Tumor",
                                         [("802", "0"), ("1604", "0"), ("1604", "802"), ("802", "802")])))
    regions, frame = read_region_file(xml)
    assert frame == "slide"
    with open_slide(SMALL_SVS) as slide:
        plan = plan_input(Bounded(slide), PlanOptions(regions=tuple(regions), regions_frame=frame))  # type: ignore[arg-type]
        moved = plan_input(Bounded(slide), PlanOptions(regions=tuple(regions)))  # type: ignore[arg-type]
    assert plan.regions[0].shape.equals(box(802, 0, 1604, 802))  # ASAP's frame: not moved by the bounds
    assert plan.grid.rects()[:, :2].tolist() == [[802, 0], [802, 401], [1202, 401]]
    assert moved.regions[0].shape.equals(box(1202, 0, 2004, 802))  # the same numbers read as QuPath's


def test_predict_roi_reads_asap_xml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCVIEWER_MODELS", raising=False)
    xml = tmp_path / "top.xml"
    xml.write_text(_document(_annotation("top", "Polygon", "Tumor",
                                         [("802", "0"), ("1604", "0"), ("1604", "802"), ("802", "802")])))
    out = tmp_path / "out"
    assert main(["predict", str(SMALL_SVS), "--roi", str(xml), "--out", str(out), "--quiet"]) == 0
    with open(out / "cmu_small_region" / "regions.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["region"], row["classification"], row["tiles_scored"], row["area_mm2"]) == (
        "top", "Tumor", "3", f"{802 * 802 * MPP * MPP / 1e6:.6f}")


@pytest.mark.parametrize(("text", "message"), [
    ("<html><body/></html>", "is XML but not ASAP annotations (its root is <html>"),
    ("<ASAP_Annotations><Annotations>", "is not readable XML"),
    (_document(_annotation("thin", "Polygon", "Tumor", [("0", "0"), ("10", "0")])),
     "region 'thin' has 2 vertices; an area needs at least 3"),
    (_document(_annotation("bow", "Polygon", "Tumor", [("0", "0"), ("10", "10"), ("10", "0"), ("0", "10")])),
     "region 'bow' is not a valid area (Self-intersection"),
    (_document(_annotation("x", "Polygon", "Tumor", [("a", "0"), ("1", "0"), ("1", "1")])),
     "a coordinate that is not a number ('a')"),
    (_document(_annotation("dot", "Dot", "Tumor", [("5", "5")])), "holds no polygon, rectangle or spline region"),
])
def test_files_that_are_not_asap_regions_are_refused_in_one_line(tmp_path: Path, text: str, message: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(text)
    with pytest.raises(RegionError, match="bad.xml: ") as caught:
        read_region_file(bad)
    assert message in str(caught.value)
    assert main(["predict", str(SMALL_SVS), "--roi", str(bad), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_regions_files_keep_their_frames(tmp_path: Path) -> None:
    geojson = tmp_path / "r.geojson"
    from bcviewer.regions import write_regions

    write_regions(geojson, [Region("a", "Tumor", box(0, 0, 10, 10))])
    (region,), frame = read_region_file(geojson)
    assert frame == "qupath" and region.shape.equals(box(0, 0, 10, 10))
