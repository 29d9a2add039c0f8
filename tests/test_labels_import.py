"""Importing images with any name: labels from a CSV, from benign/ and malignant/ folders, or BreakHis names.

The images are the four BreakHis fixtures copied under other names into tmp_path (2 benign: A, F;
2 malignant: DC, PC), so what lands in the project can be checked exactly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_input_helpers import fails_with_one_line
from PIL import Image

from bcviewer.cli.main import main
from bcviewer.labels import ImportSourceError, LabelStore
from bcviewer.labels.importer import collect_images, import_images
from bcviewer.labels.split import patient_group

A, F = "SOB_B_A-14-22549AB-100-001.png", "SOB_B_F-14-14134E-100-001.png"
DC, PC = "SOB_M_DC-14-13412-100-001.png", "SOB_M_PC-14-12465-100-001.png"
NO_LABELS = ("give the labels in a CSV (columns image, label, patient; optional magnification) "
             "or put the images in benign/ and malignant/ sub-folders and import the folder above them")


def _copy(test_data: Path, name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(test_data / "breakhis" / name, dest)
    return dest


def _rows(store: LabelStore) -> list[tuple[str, str, str, int | None, str | None]]:
    return sorted((r.path.name, r.label, r.patient, r.magnification, r.subtype) for r in store.images())


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[LabelStore]:
    with LabelStore.create(tmp_path / "p.bcv") as s:
        yield s


@pytest.fixture()
def labels_csv(tmp_path: Path, test_data: Path) -> Path:
    """case1..case3 under arbitrary names, one outside the CSV's folder (absolute path)."""
    _copy(test_data, A, tmp_path / "data" / "case1.png")
    _copy(test_data, DC, tmp_path / "data" / "scans" / "case2.png")
    other = _copy(test_data, PC, tmp_path / "elsewhere" / "x.png")
    listing = tmp_path / "data" / "labels.csv"
    listing.write_text(f"Image,LABEL,Patient,Magnification\ncase1.png,benign,alice,40X\n"
                       f"scans/case2.png,M,bob,400\n{other},1,carol,\n")
    return listing


def test_csv_import_with_any_names_puts_exact_labels_in_the_project(store: LabelStore, labels_csv: Path) -> None:
    report = import_images(store, [labels_csv])
    assert len(report.added) == 3 and not report.failed and not report.conflicts
    assert _rows(store) == [("case1.png", "benign", "alice", 40, None), ("case2.png", "malignant", "bob", 400, None),
                            ("x.png", "malignant", "carol", None, None)]
    assert report.notes == ["labels.csv: labels 0 and 1 read as 0 = benign, 1 = malignant",
                            "no magnification given for 1 image; counted as 'unknown'"]
    assert store.count_table() == {"40": {"benign": 9, "malignant": 0}, "400": {"benign": 0, "malignant": 9},
                                   "unknown": {"benign": 0, "malignant": 9}, "all": {"benign": 9, "malignant": 18}}
    assert store.images(patient="carol")[0].width == 700 and store.images(patient="carol")[0].height == 456
    again = import_images(store, [labels_csv])
    assert again.added == [] and len(again.already_present) == 3
    labels_csv.write_text(labels_csv.read_text().replace("bob", "dave"))
    changed = import_images(store, [labels_csv])  # the project keeps what it holds, and says so
    assert [(p.name, why) for p, why in changed.conflicts] == [
        ("case2.png", "the project holds it as malignant, patient bob; the import says malignant, patient dave")]
    assert len(changed.already_present) == 2 and store.images(patient="bob")


def test_file_and_path_columns_and_breakhis_names_need_no_label_columns(store: LabelStore, tmp_path: Path,
                                                                       test_data: Path) -> None:
    _copy(test_data, A, tmp_path / A)
    _copy(test_data, F, tmp_path / "case-f.png")
    (tmp_path / "names.csv").write_text(f"FILE\n{A}\n")  # labels from the name, as manifest.csv without columns
    (tmp_path / "paths.csv").write_text("path,label,patient,subtype\ncase-f.png,b,P9,fibroadenoma\n")
    report = import_images(store, [tmp_path / "names.csv", tmp_path / "paths.csv"])
    assert len(report.added) == 2 and report.notes == ["no magnification given for 1 image; counted as 'unknown'"]
    assert _rows(store) == [(A, "benign", "14-22549AB", 100, "adenosis"),
                            ("case-f.png", "benign", "P9", None, "fibroadenoma")]


def test_a_csv_row_against_the_breakhis_name_is_left_out_and_reported(store: LabelStore, tmp_path: Path,
                                                                     test_data: Path) -> None:
    _copy(test_data, DC, tmp_path / DC)
    _copy(test_data, A, tmp_path / A)
    (tmp_path / "l.csv").write_text(f"file,label,patient\n{DC},benign,\n{A},benign,14-22549ab\n")
    report = import_images(store, [tmp_path / "l.csv"])
    assert [(p.name, why) for p, why in report.conflicts] == [
        (DC, "its BreakHis name says label malignant, l.csv row 2 says benign")]
    assert _rows(store) == [(A, "benign", "14-22549AB", 100, "adenosis")]  # patient case is no conflict


@pytest.mark.parametrize(("text", "message"), [
    ("name,label\ncase1.png,benign\n",
     "needs an 'image', 'file' or 'path' column naming the images; its columns are: name, label"),
    ("image,label,patient\ncase1.png,benign,p1\ncase1.png,maybe,p1\n",
     "l.csv row 3: label 'maybe' is not benign or malignant (accepted: benign/malignant, B/M, 0/1)"),
    ("image,label,patient\n\ngone.png,benign,p2\nlost.png,benign,p3\n",  # no file at all: refused
     "l.csv row 3: {tmp}/gone.png does not exist (nor do the other 1 listed file); nothing to import"),
    ("image,label\ncase1.png,benign\n",
     "l.csv row 2: no patient for case1.png (its name is not a BreakHis name); give one in a 'patient' column"),
    ("image,patient\ncase1.png,p1\n", "l.csv row 2: no label for case1.png"),
    ("image,label,patient,magnification\ncase1.png,benign,p1,high\n",
     "l.csv row 2: magnification 'high' is not a number like 40, 100, 200, 400 or 40X (leave it empty when unknown)"),
    ("image,label,patient\n", "l.csv lists no images"),
])
def test_bad_csvs_are_refused_naming_the_row(tmp_path: Path, test_data: Path, text: str, message: str) -> None:
    _copy(test_data, A, tmp_path / "case1.png")
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(ImportSourceError) as caught:
        collect_images([tmp_path / "l.csv"])
    assert message.format(tmp=tmp_path) in str(caught.value)


def test_class_folders_with_patient_sub_folders(store: LabelStore, tmp_path: Path, test_data: Path) -> None:
    root = tmp_path / "cls"
    _copy(test_data, A, root / "Benign" / "P1" / "one.png")
    with Image.open(test_data / "breakhis" / F) as image:  # any image format, not only PNG
        (root / "Benign" / "P1" / "deeper").mkdir(parents=True)
        image.save(root / "Benign" / "P1" / "deeper" / "two.jpg", quality=95)
    _copy(test_data, DC, root / "MALIGNANT" / "P2" / "three.png")
    _copy(test_data, PC, root / "malignant" / "four.png")
    _copy(test_data, PC, root / "notes" / "stray.png")  # no class folder, no BreakHis name: skipped, said so
    report = import_images(store, [root])
    assert len(report.added) == 4 and not report.failed and not report.conflicts
    assert _rows(store) == [("four.png", "malignant", "malignant/four", None, None),
                            ("one.png", "benign", "P1", None, None), ("three.png", "malignant", "P2", None, None),
                            ("two.jpg", "benign", "P1", None, None)]
    assert report.notes == [
        (f"skipped: 1 image in {root} without a BreakHis name and outside benign/ and malignant/ "
         f"(e.g. notes/stray.png); to import them, {NO_LABELS}"),
        ("assumed: an image in a sub-folder of benign/ or malignant/ belongs to the patient the sub-folder names "
         "(3 images, e.g. two.jpg: patient P1); give a CSV with a patient column if that is wrong"),
        ("assumed: an image directly in benign/ or malignant/ is its own patient (1 image, e.g. patient "
         "malignant/four); put each patient's images in a sub-folder, or give a CSV with a patient column, "
         "if that is wrong"),
        "no magnification given for 4 images; counted as 'unknown'"]


def test_csv_rows_whose_files_are_gone_are_skipped_and_listed_and_the_rest_imported(
        store: LabelStore, labels_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = labels_csv.read_text()
    labels_csv.write_text(text + "".join(f"gone{i}.png,benign,p{i}\n" for i in range(5)))  # rows 5..9
    report = import_images(store, [labels_csv])
    assert len(report.added) == 3 and _rows(store)[0] == ("case1.png", "benign", "alice", 40, None)
    assert [(p, where) for p, where in report.missing] == [
        (tmp_path / "data" / f"gone{i}.png", f"labels.csv row {i + 5}") for i in range(5)]
    warning = ("labels.csv: 5 listed files not found, skipped (row 5: gone0.png, row 6: gone1.png, row 7: gone2.png "
               "and 2 more); 3 other rows imported")
    assert report.warnings == [warning]
    project = tmp_path / "cli.bcv"
    assert main(["labels", "import", str(project), str(labels_csv)]) == 0  # a warning, not a refusal
    captured = capsys.readouterr()
    assert f"warning: {warning}" in captured.err.splitlines()
    assert captured.out.startswith("3 images added")


def test_an_empty_class_folder_beside_another_spelling_is_named_in_a_warning(
        tmp_path: Path, test_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cls"
    _copy(test_data, A, root / "benign" / "a.png")
    _copy(test_data, DC, root / "MALIGNANT" / "dc.png")
    _copy(test_data, PC, root / "MALIGNANT" / "pc.png")
    (root / "malignant").mkdir()
    found = collect_images([root])
    assert sorted((i.path.name, i.label) for i in found.images) == [
        ("a.png", "benign"), ("dc.png", "malignant"), ("pc.png", "malignant")]
    warning = (f"{root} has 2 folders for the class malignant: MALIGNANT/ (2 images) and malignant/ (empty); "
               "letter case is ignored, so the images of all of them are labelled malignant; nothing came from "
               "malignant/, which holds no images")
    assert found.warnings == [warning]
    assert main(["labels", "import", str(tmp_path / "p.bcv"), str(root)]) == 0
    assert f"warning: {warning}" in capsys.readouterr().err.splitlines()
    (root / "benign" / "x").mkdir()  # one spelling per class: no warning
    (root / "malignant").rmdir()
    assert collect_images([root]).warnings == []


def test_class_folders_without_sub_folders_make_each_image_a_patient(tmp_path: Path, test_data: Path) -> None:
    root = tmp_path / "cls"
    for name, dest in ((A, "benign/a.png"), (F, "benign/f.png"), (DC, "malignant/a.png")):
        _copy(test_data, name, root / dest)
    found = collect_images([root])
    assert sorted((i.path.name, i.label, i.patient) for i in found.images) == [
        ("a.png", "benign", "benign/a"), ("a.png", "malignant", "malignant/a"), ("f.png", "benign", "benign/f")]
    assert found.notes[0].startswith("assumed: an image directly in benign/ or malignant/ is its own patient "
                                     "(3 images, e.g. patient benign/a)")
    assert len(found.notes) == 2 and found.notes[1] == "no magnification given for 3 images; counted as 'unknown'"


def test_breakhis_names_in_class_folders_keep_their_patient_and_disagreements_are_reported(
        tmp_path: Path, test_data: Path) -> None:
    root = tmp_path / "cls"
    _copy(test_data, A, root / "benign" / "adenosis" / A)  # the data set's own layout
    _copy(test_data, DC, root / "benign" / DC)  # a malignant name in the benign folder
    found = collect_images([root])
    assert [(i.path.name, i.label, i.patient, i.magnification) for i in found.images] == [
        (A, "benign", "14-22549AB", 100)]
    assert found.notes == []  # nothing was assumed
    assert [(p.name, why) for p, why in found.conflicts] == [
        (DC, "its BreakHis name says label malignant, the folder benign/ says benign")]


def test_a_file_without_a_label_source_gets_both_ways_in_one_line(tmp_path: Path, test_data: Path) -> None:
    case = _copy(test_data, A, tmp_path / "case123.png")
    with pytest.raises(ImportSourceError) as caught:
        collect_images([case])
    assert str(caught.value) == (f"{case} has no label: its name is not a BreakHis name "
                                 f"(SOB_<B|M>_<type>-<patient>-<mag>-<seq>.png); {NO_LABELS}")
    (tmp_path / "list.txt").write_text("case123.png\n")
    with pytest.raises(ImportSourceError, match=r"^list.txt line 1: case123.png has no label"):
        collect_images([tmp_path / "list.txt"])
    (tmp_path / "labels.csv").write_text("image,label,patient\ncase123.png,malignant,p1\n")
    found = collect_images([case, tmp_path / "labels.csv"])  # the CSV labels the file given alone
    assert [(i.label, i.patient) for i in found.images] == [("malignant", "p1")]
    with pytest.raises(ImportSourceError, match="image has a BreakHis name or lies in a benign/ or malignant/ sub-folder"):
        collect_images([tmp_path])


@pytest.mark.shared
def test_the_data_sets_manifest_and_folder_import_alike(shared_data: Path) -> None:
    manifest = collect_images([shared_data / "breakhis" / "manifest.csv"])
    folder = collect_images([shared_data / "breakhis"])  # benign/ and malignant/ folders of BreakHis names
    assert len(manifest.images) == 307 and manifest.notes == [] and manifest.conflicts == []
    assert sorted(manifest.images, key=lambda i: i.path) == sorted(folder.images, key=lambda i: i.path)
    assert folder.notes == [] and folder.conflicts == []
    assert len({i.patient for i in folder.images}) == 20 and {i.magnification for i in folder.images} == {100}


def test_patient_groups_keep_ids_without_a_digit_whole() -> None:
    assert patient_group("14-22549AB") == patient_group("14-22549CD") == "14-22549"
    assert [patient_group(p) for p in ("alice", "bob", "benign/case3", "P12a")] == ["alice", "bob", "benign/case3",
                                                                                   "P12"]


def test_cli_imports_a_csv_and_refuses_unlabelled_files_in_one_line(tmp_path: Path, test_data: Path,
                                                                    labels_csv: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p.bcv"
    assert main(["labels", "import", str(project), str(labels_csv)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == ("3 images added, 0 already in the project, 0 duplicate files skipped, "
                                    "0 unreadable; the project now holds 27 sub-images (9 benign, 18 malignant)")
    assert captured.err.splitlines() == ["importing: 3/3 images",  # piped: a plain progress line, no bar
                                         "note: labels.csv: labels 0 and 1 read as 0 = benign, 1 = malignant",
                                         "note: no magnification given for 1 image; counted as 'unknown'"]
    new = tmp_path / "new.bcv"
    fails_with_one_line(["labels", "import", new, tmp_path / "data" / "case1.png"], capsys,
                        "case1.png has no label: its name is not a BreakHis name", NO_LABELS)
    bad = tmp_path / "data" / "bad.csv"
    bad.write_text("image,label,patient\ncase1.png,unsure,p1\n")
    fails_with_one_line(["labels", "import", new, bad], capsys, "bad.csv row 2: label 'unsure' is not benign")
    assert not new.exists()


def test_cli_exits_2_when_every_file_disagrees(tmp_path: Path, test_data: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _copy(test_data, DC, tmp_path / "cls" / "benign" / DC)
    new = tmp_path / "new.bcv"
    assert main(["labels", "import", str(new), str(tmp_path / "cls")]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"skipped {tmp_path / 'cls' / 'benign' / DC}: its BreakHis name says label "
                                    "malignant, the folder benign/ says benign")
    assert "1 left out as their sources disagree" in captured.out and not new.exists()


def test_cli_lists_whole_slides_and_unlabelled_images_it_skipped(tmp_path: Path, test_data: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import tifffile

    root = tmp_path / "mixed"
    _copy(test_data, PC, root / PC)
    shutil.copy(test_data / "slides" / "cmu_small_region.svs", root / "slide.svs")
    _copy(test_data, DC, root / "notes" / "stray.png")
    pyramid = np.zeros((600, 800, 3), np.uint8)
    (root / "malignant").mkdir()
    with tifffile.TiffWriter(root / "malignant" / "scan.tif") as tif:  # a two-level pyramid in a class folder
        tif.write(pyramid, tile=(256, 256), subfiletype=0)
        tif.write(pyramid[::2, ::2], tile=(256, 256), subfiletype=1)
    project = tmp_path / "p.bcv"
    assert main(["labels", "import", str(project), str(root)]) == 0
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if not line.startswith("note: ")]
    assert err == [
        "importing: 2/2 images",
        f"skipped {root / 'notes' / 'stray.png'}: no BreakHis name and not in a benign/ or malignant/ folder",
        f"skipped {root / 'slide.svs'}: a whole slide: a label project holds microscopy images cut into sub-images; "
        "analyse whole slides with 'bcviewer predict' or in the viewer",
        f"skipped {(root / 'malignant' / 'scan.tif').resolve()}: a whole slide: a label project holds microscopy "
        "images cut into sub-images; analyse whole slides with 'bcviewer predict' or in the viewer (2 pyramid levels)",
    ]
    assert captured.out.strip() == ("1 images added, 0 already in the project, 0 duplicate files skipped, "
                                    "0 unreadable, 3 other files skipped; the project now holds 9 sub-images "
                                    "(0 benign, 9 malignant)")


def test_a_folder_of_whole_slides_only_is_refused_saying_why(tmp_path: Path, test_data: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(test_data / "slides" / "cmu_small_region.svs", tmp_path / "slide.svs")
    fails_with_one_line(["labels", "import", tmp_path / "p.bcv", tmp_path], capsys,
                        f"{tmp_path} holds no images (.png, .jpg, .jpeg, .tif, .tiff, .bmp); it holds 1 whole slide "
                        "(e.g. slide.svs): a label project holds microscopy images cut into sub-images; analyse whole "
                        "slides with 'bcviewer predict' or in the viewer")
