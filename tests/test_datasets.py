"""Data-set layer: BreakHis/IDC name parsing, folder indexing and patient-level splits."""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from bcviewer.datasets import (
    BREAKHIS_SUBTYPES,
    BreakHisName,
    DatasetError,
    IDCName,
    PatientSplit,
    index_breakhis,
    index_idc,
    parse_breakhis_name,
    parse_idc_name,
    patient_kfold,
    patient_labels_of,
    patient_split,
)
from bcviewer.errors import BcviewerError

FIXTURE_BREAKHIS = [
    "SOB_B_A-14-22549AB-100-001.png",
    "SOB_B_F-14-14134E-100-001.png",
    "SOB_M_DC-14-13412-100-001.png",
    "SOB_M_PC-14-12465-100-001.png",
]
SUBTYPE_FOLDERS = {
    "adenosis", "fibroadenoma", "phyllodes_tumor", "tubular_adenoma",
    "ductal_carcinoma", "lobular_carcinoma", "mucinous_carcinoma", "papillary_carcinoma",
}  # fmt: skip


def read_manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return sorted(csv.DictReader(handle), key=lambda row: row["file"])


# --- BreakHis names -------------------------------------------------------------------------


def test_parse_benign_adenosis_name_exactly() -> None:
    assert parse_breakhis_name("SOB_B_A-14-22549AB-100-001.png") == BreakHisName(
        filename="SOB_B_A-14-22549AB-100-001.png",
        label="benign",
        subtype_code="A",
        subtype="adenosis",
        patient="14-22549AB",
        magnification=100,
        seq=1,
    )


def test_parse_malignant_name_from_a_path() -> None:
    name = parse_breakhis_name(Path("some/folder/SOB_M_DC-14-13412-100-028.png"))
    assert (name.label, name.subtype_code, name.subtype) == ("malignant", "DC", "ductal_carcinoma")
    assert (name.patient, name.magnification, name.seq) == ("14-13412", 100, 28)
    assert name.filename == "SOB_M_DC-14-13412-100-028.png"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("SOB_M_LC-14-12204-40-001.png", ("malignant", "lobular_carcinoma", "14-12204", 40, 1)),
        ("SOB_B_PT-14-21998AB-40-001.png", ("benign", "phyllodes_tumor", "14-21998AB", 40, 1)),
        ("SOB_B_TA-14-3411F-40-001.png", ("benign", "tubular_adenoma", "14-3411F", 40, 1)),
        ("SOB_M_PC-14-15704-40-022.png", ("malignant", "papillary_carcinoma", "14-15704", 40, 22)),
        ("SOB_M_LC-14-13412-200-003.png", ("malignant", "lobular_carcinoma", "14-13412", 200, 3)),
        ("SOB_B_F-14-14134E-400-001.png", ("benign", "fibroadenoma", "14-14134E", 400, 1)),
        ("SOB_M_MC-14-10147-400-009.png", ("malignant", "mucinous_carcinoma", "14-10147", 400, 9)),
    ],
)
def test_parse_multi_magnification_names(filename: str, expected: tuple) -> None:
    name = parse_breakhis_name(filename)
    assert (name.label, name.subtype, name.patient, name.magnification, name.seq) == expected


def test_subtype_table_matches_breakhis_folder_names() -> None:
    assert {full for full, _ in BREAKHIS_SUBTYPES.values()} == SUBTYPE_FOLDERS
    assert Counter(label for _, label in BREAKHIS_SUBTYPES.values()) == {"benign": 4, "malignant": 4}
    assert BREAKHIS_SUBTYPES["PT"] == ("phyllodes_tumor", "benign")
    assert BREAKHIS_SUBTYPES["MC"] == ("mucinous_carcinoma", "malignant")


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("photo.png", "is not a BreakHis image name"),
        ("SOB_B_A-14-22549AB-100-001.tif", "is not a BreakHis image name"),
        ("SOB_B_A-14-22549AB-100.png", "is not a BreakHis image name"),
        ("SOB_B_DC-14-13412-100-001.png", "contradicts itself"),
        ("SOB_M_A-14-22549AB-100-001.png", "contradicts itself"),
        ("SOB_B_XY-14-22549AB-100-001.png", "unknown BreakHis tumour type 'XY'"),
        ("SOB_X_A-14-22549AB-100-001.png", r"must be B \(benign\) or M \(malignant\)"),
        ("SOB_B_A-14-22549AB-250-001.png", "no 250X images"),
    ],
)
def test_bad_breakhis_names_raise_clear_errors(filename: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message) as raised:
        parse_breakhis_name(filename)
    assert isinstance(raised.value, BcviewerError)
    assert filename in str(raised.value)


# --- IDC names ------------------------------------------------------------------------------


def test_parse_idc_names_exactly() -> None:
    assert parse_idc_name("10253_idx5_x1451_y1001_class0.png") == IDCName(
        filename="10253_idx5_x1451_y1001_class0.png", patient="10253", x=1451, y=1001, label=0
    )
    name = parse_idc_name(Path("class1/8916_idx5_x301_y1001_class1.png"))
    assert (name.patient, name.x, name.y, name.label, name.label_name) == (
        "8916", 301, 1001, 1, "IDC"
    )


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("10253_x1451_y1001_class0.png", "is not an IDC patch name"),
        ("10253_idx5_x1451_y1001.png", "is not an IDC patch name"),
        ("SOB_B_A-14-22549AB-100-001.png", "is not an IDC patch name"),
        ("10253_idx5_x1451_y1001_class2.png", "must be 0 .* or 1"),
    ],
)
def test_bad_idc_names_raise_clear_errors(filename: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_idc_name(filename)


# --- Indexing the shipped fixtures ----------------------------------------------------------


def test_index_breakhis_fixtures(test_data: Path) -> None:
    images = index_breakhis(test_data / "breakhis")
    assert [image.path.name for image in images] == FIXTURE_BREAKHIS
    assert [image.label for image in images] == ["benign", "benign", "malignant", "malignant"]
    assert [image.subtype for image in images] == [
        "adenosis", "fibroadenoma", "ductal_carcinoma", "papillary_carcinoma"
    ]  # fmt: skip
    assert [image.patient for image in images] == ["14-22549AB", "14-14134E", "14-13412", "14-12465"]
    assert {image.magnification for image in images} == {100}
    assert all(image.path.is_file() for image in images)


def test_index_breakhis_magnification_filter(test_data: Path) -> None:
    assert len(index_breakhis(test_data / "breakhis", magnifications={100, 400})) == 4
    with pytest.raises(DatasetError, match="No BreakHis image at 40X"):
        index_breakhis(test_data / "breakhis", magnifications={40})
    with pytest.raises(DatasetError, match="magnifications are 40, 100, 200 and 400"):
        index_breakhis(test_data / "breakhis", magnifications={50})


def test_index_breakhis_original_nested_layout(test_data: Path, tmp_path: Path) -> None:
    breast = tmp_path / "BreaKHis_v1" / "histology_slides" / "breast"
    for filename in FIXTURE_BREAKHIS:
        name = parse_breakhis_name(filename)
        folder = breast / name.label / "SOB" / name.subtype / f"SOB_{filename[4]}_{name.subtype_code}_{name.patient}" / "100X"
        folder.mkdir(parents=True)
        (folder / filename).symlink_to(test_data / "breakhis" / filename)
    # Files that are not BreakHis images must be skipped, not break the index.
    (breast / "README.txt").write_text("not an image")
    shutil.copy(test_data / "breakhis" / FIXTURE_BREAKHIS[0], breast / "thumbnail.png")

    images = index_breakhis(tmp_path / "BreaKHis_v1")
    assert sorted(image.path.name for image in images) == FIXTURE_BREAKHIS
    assert [image.path for image in images] == sorted(image.path for image in images)
    assert images[0].path.parent.name == "100X"
    assert images[0].path.parts[-7:-3] == ("breast", "benign", "SOB", "adenosis")
    assert {image.patient: image.label for image in images} == {
        "14-22549AB": "benign", "14-14134E": "benign", "14-13412": "malignant", "14-12465": "malignant"
    }  # fmt: skip


def test_index_breakhis_follows_symlinked_folders(test_data: Path, tmp_path: Path) -> None:
    (tmp_path / "linked").symlink_to(test_data / "breakhis", target_is_directory=True)
    assert len(index_breakhis(tmp_path)) == 4


def test_index_breakhis_missing_or_empty_folder(tmp_path: Path, test_data: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        index_breakhis(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="is a file"):
        index_breakhis(test_data / "breakhis" / FIXTURE_BREAKHIS[0])
    with pytest.raises(DatasetError, match="No BreakHis image was found"):
        index_breakhis(test_data / "idc")


def test_index_idc_fixtures(test_data: Path) -> None:
    patches = index_idc(test_data / "idc")
    assert len(patches) == 27
    assert Counter(patch.label for patch in patches) == {0: 16, 1: 11}
    assert Counter(patch.patient for patch in patches) == {"10253": 8, "12748": 8, "8916": 6, "9036": 5}
    # the class folder and the class in the name agree for every shipped patch
    assert all(patch.path.parent.name == f"class{patch.label}" for patch in patches)
    assert [patch.path for patch in patches] == sorted(patch.path for patch in patches)
    first = patches[0]
    assert (first.path.name, first.name.x, first.name.y) == ("10253_idx5_x1101_y451_class0.png", 1101, 451)
    with pytest.raises(DatasetError, match="No IDC patch was found"):
        index_idc(test_data / "breakhis")


# --- Patient labels and splits on the fixtures ----------------------------------------------


def test_patient_labels_of_fixtures(test_data: Path) -> None:
    assert patient_labels_of(index_breakhis(test_data / "breakhis")) == {
        "14-12465": "malignant", "14-13412": "malignant", "14-14134E": "benign", "14-22549AB": "benign"
    }  # fmt: skip
    # 10253: 3 of 8 IDC -> 0; 12748: 5 of 8 -> 1; 8916: 3 of 6, a tie -> 1; 9036: none -> 0
    assert patient_labels_of(index_idc(test_data / "idc")) == {
        "10253": "0", "12748": "1", "8916": "1", "9036": "0"
    }  # fmt: skip


def test_patient_labels_of_rejects_a_patient_with_two_labels(test_data: Path) -> None:
    image = index_breakhis(test_data / "breakhis")[0]
    forged = type(image)(path=image.path, name=parse_breakhis_name("SOB_M_DC-14-22549AB-100-001.png"))
    with pytest.raises(DatasetError, match="Patient 14-22549AB has images labelled benign and malignant"):
        patient_labels_of([image, forged])


def test_split_of_a_small_table_gives_every_part_both_classes() -> None:
    labels = {f"b{i}": "benign" for i in range(3)} | {f"m{i}": "malignant" for i in range(4)}
    split = patient_split(labels, seed=3)
    for part in (split.train, split.val, split.test):
        assert {labels[p] for p in part} == {"benign", "malignant"}
    assert split.train | split.val | split.test == set(labels)
    assert len(split.train) + len(split.val) + len(split.test) == 7


def test_patient_split_round_trips_and_sorts_items(test_data: Path) -> None:
    patches = index_idc(test_data / "idc")
    split = PatientSplit(train=frozenset({"10253", "12748"}), val=frozenset({"8916"}), test=frozenset({"9036"}))
    assert PatientSplit.from_dict(split.to_dict()) == split
    assert split.to_dict() == {"train": ["10253", "12748"], "val": ["8916"], "test": ["9036"]}
    parts = split.partition(patches)
    assert [len(parts[name]) for name in ("train", "val", "test")] == [16, 6, 5]
    assert split.which("8916") == "val"
    with pytest.raises(DatasetError, match="none of the parts"):
        split.which("123")
    with pytest.raises(DatasetError, match="more than one part"):
        PatientSplit(train=frozenset({"a", "b"}), val=frozenset({"b"}), test=frozenset())


@pytest.mark.parametrize(
    ("fractions", "message"),
    [((0.5, 0.5), "three fractions"), ((0.6, 0.3, 0.3), "add up to 1"), ((0.0, 0.5, 0.5), "training")],
)
def test_patient_split_rejects_bad_fractions(fractions: tuple, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        patient_split({"a": 0, "b": 1, "c": 0}, fractions=fractions)


def test_split_and_folds_refuse_too_few_patients() -> None:
    with pytest.raises(DatasetError, match="cannot fill 3 parts"):
        patient_split({"a": "benign", "b": "malignant"})
    with pytest.raises(DatasetError, match="cannot fill 5 folds"):
        patient_kfold({"a": "benign", "b": "malignant", "c": "benign"})
    with pytest.raises(DatasetError, match="No patients"):
        patient_split({})


# --- The full shared data -------------------------------------------------------------------


@pytest.mark.shared
def test_breakhis_index_agrees_with_manifest(shared_data: Path) -> None:
    root = shared_data / "breakhis"
    images = index_breakhis(root)
    rows = read_manifest(root / "manifest.csv")
    assert len(images) == len(rows) == 307
    assert len({image.patient for image in images}) == 20
    assert {image.subtype for image in images} == SUBTYPE_FOLDERS
    for image, row in zip(images, rows, strict=True):
        assert image.path.relative_to(root).as_posix() == row["file"]
        assert (image.label, image.subtype, image.patient) == (row["label"], row["subtype"], row["patient"])
        assert f"{image.magnification}X" == row["magnification"]
        # the folders of the shared copy are <label>/<subtype>/; the name must agree with them
        assert image.path.parent.name == image.subtype
        assert image.path.parent.parent.name == image.label
    assert Counter(image.label for image in images) == {"benign": 163, "malignant": 144}


@pytest.mark.shared
def test_breakhis_multimag_index(shared_data: Path) -> None:
    root = shared_data / "breakhis_multimag"
    images = index_breakhis(root)
    rows = read_manifest(root / "manifest.csv")
    assert len(images) == len(rows) == 46
    by_file = {image.path.relative_to(root).as_posix(): image for image in images}
    for row in rows:
        image = by_file[row["file"]]
        assert (image.label, image.subtype, image.patient) == (row["label"], row["subtype"], row["patient"])
        assert f"{image.magnification}X" == row["magnification"] == image.path.parts[-3]
    assert Counter(image.magnification for image in images) == {40: 9, 100: 1, 200: 2, 400: 34}
    assert len(index_breakhis(root, magnifications={40})) == 9
    # 29 images at 400X come from 20 patients outside the 100X set; 5 of them share a specimen number
    # with a 100X patient (14-14134 and 14-14134E), so 24 images are of patients no 100X split holds.
    dev = {i.patient for i in index_breakhis(shared_data / "breakhis")}
    outside = [i for i in images if i.patient not in dev]
    assert len(outside) == 29 and len({i.patient for i in outside}) == 20
    assert {i.magnification for i in outside} == {400}
    groups = {re.sub(r"[A-Za-z]+$", "", p) for p in dev}
    assert len([i for i in outside if re.sub(r"[A-Za-z]+$", "", i.patient) not in groups]) == 24


@pytest.mark.shared
def test_idc_index_agrees_with_manifest(shared_data: Path) -> None:
    root = shared_data / "idc"
    patches = index_idc(root)
    rows = read_manifest(root / "manifest.csv")
    assert len(patches) == len(rows) == 1688
    assert len({patch.patient for patch in patches}) == 196
    for patch, row in zip(patches, rows, strict=True):
        assert patch.path.relative_to(root).as_posix() == row["file"]
        assert (patch.patient, patch.name.x, patch.name.y, patch.label) == (
            row["patient"], int(row["x"]), int(row["y"]), int(row["label"])
        )  # fmt: skip
        assert patch.name.label_name == row["label_name"]
    assert Counter(patch.label for patch in patches) == {0: 925, 1: 763}


def _check_split(labels: dict[str, str], split: PatientSplit) -> None:
    parts = (split.train, split.val, split.test)
    assert sum(len(part) for part in parts) == len(labels)
    assert set().union(*parts) == set(labels)
    for part in parts:
        assert {labels[p] for p in part} == set(labels.values())


@pytest.mark.shared
@pytest.mark.parametrize("dataset", ["breakhis", "idc"])
def test_splits_on_shared_data(shared_data: Path, dataset: str) -> None:
    index = index_breakhis if dataset == "breakhis" else index_idc
    items = index(shared_data / dataset)
    labels = patient_labels_of(items)
    assert len(labels) == (20 if dataset == "breakhis" else 196)

    split = patient_split(labels, seed=0)
    _check_split(labels, split)
    assert patient_split(labels, seed=0) == split
    assert patient_split(labels, seed=1) != split
    # sizes follow the 60/20/20 fractions to within one patient per class
    n = len(labels)
    assert abs(len(split.train) - 0.6 * n) <= 2 and abs(len(split.test) - 0.2 * n) <= 2
    # no image of one patient lands in two parts
    parts = split.partition(items)
    seen = [{item.patient for item in parts[name]} for name in ("train", "val", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert sum(len(p) for p in parts.values()) == len(items)

    folds = patient_kfold(labels, k=5, seed=0)
    assert len(folds) == 5
    tested = Counter(p for _, test in folds for p in test)
    assert set(tested) == set(labels) and set(tested.values()) == {1}
    for train, test in folds:
        assert not train & test and train | test == set(labels)
        assert {labels[p] for p in train} == {labels[p] for p in test} == set(labels.values())
    assert patient_kfold(labels, k=5, seed=0) == folds
    assert patient_kfold(labels, k=5, seed=1) != folds
