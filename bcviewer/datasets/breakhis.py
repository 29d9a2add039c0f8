"""BreakHis (Spanhol et al., IEEE TBME 2016): file-name parsing and folder indexing.

Every BreakHis file name carries its own labels, e.g. ``SOB_B_A-14-22549AB-100-001.png``:
``B`` benign (``M`` malignant), ``A`` adenosis, patient ``14-22549AB``, 100X, image 1. The index
therefore trusts the name, not the folder, so flat copies and re-arranged folders work as well as
the original ``BreaKHis_v1/histology_slides/breast/<label>/SOB/<type>/<patient>/<mag>X/`` tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath

from bcviewer.datasets._scan import existing_folder, image_files
from bcviewer.datasets.errors import DatasetError

BENIGN = "benign"
MALIGNANT = "malignant"

BREAKHIS_SUBTYPES: dict[str, tuple[str, str]] = {
    "A": ("adenosis", BENIGN),
    "F": ("fibroadenoma", BENIGN),
    "PT": ("phyllodes_tumor", BENIGN),
    "TA": ("tubular_adenoma", BENIGN),
    "DC": ("ductal_carcinoma", MALIGNANT),
    "LC": ("lobular_carcinoma", MALIGNANT),
    "MC": ("mucinous_carcinoma", MALIGNANT),
    "PC": ("papillary_carcinoma", MALIGNANT),
}
"""Subtype code in the file name -> (full name as in the BreakHis folders, tumour class)."""

BREAKHIS_MAGNIFICATIONS: frozenset[int] = frozenset({40, 100, 200, 400})

_CLASS_LETTERS = {"B": BENIGN, "M": MALIGNANT}
_NAME = re.compile(
    r"^SOB_(?P<letter>[A-Z])_(?P<code>[A-Z]+)-(?P<patient>\d+-[0-9A-Z]+)"
    r"-(?P<mag>\d+)-(?P<seq>\d+)\.(?:png|jpe?g)$",
    re.IGNORECASE,
)
_EXPECTED = (
    "expected SOB_<B|M>_<type>-<patient>-<magnification>-<number>.png (or .jpg), "
    "e.g. SOB_B_A-14-22549AB-100-001.png"
)
BREAKHIS_SUFFIXES = (".png", ".jpg", ".jpeg")
"""BreakHis ships PNG; re-encoded copies of it (e.g. the 200X set in JPEG) keep the name's stem."""


@dataclass(frozen=True)
class BreakHisName:
    """The labels a BreakHis file name carries."""

    filename: str
    label: str
    subtype_code: str
    subtype: str
    patient: str
    magnification: int
    seq: int


def parse_breakhis_name(name: str | os.PathLike[str]) -> BreakHisName:
    """Parse a BreakHis file name (or a path ending in one); raise DatasetError if it is not one."""
    filename = PurePath(name).name
    match = _NAME.match(filename)
    if match is None:
        raise DatasetError(f"'{filename}' is not a BreakHis image name; {_EXPECTED}.")
    letter = match["letter"].upper()
    code = match["code"].upper()
    if letter not in _CLASS_LETTERS:
        raise DatasetError(
            f"'{filename}': the class letter must be B (benign) or M (malignant), not '{letter}'."
        )
    if code not in BREAKHIS_SUBTYPES:
        known = ", ".join(f"{c} ({n})" for c, (n, _) in BREAKHIS_SUBTYPES.items())
        raise DatasetError(f"'{filename}': unknown BreakHis tumour type '{code}'; known: {known}.")
    subtype, subtype_label = BREAKHIS_SUBTYPES[code]
    label = _CLASS_LETTERS[letter]
    if label != subtype_label:
        raise DatasetError(
            f"'{filename}' contradicts itself: '{letter}' says {label}, "
            f"but {subtype} ({code}) is a {subtype_label} tumour."
        )
    magnification = int(match["mag"])
    if magnification not in BREAKHIS_MAGNIFICATIONS:
        raise DatasetError(
            f"'{filename}': BreakHis has no {magnification}X images "
            f"(only {', '.join(f'{m}X' for m in sorted(BREAKHIS_MAGNIFICATIONS))})."
        )
    return BreakHisName(
        filename=filename,
        label=label,
        subtype_code=code,
        subtype=subtype,
        patient=match["patient"].upper(),
        magnification=magnification,
        seq=int(match["seq"]),
    )


@dataclass(frozen=True)
class BreakHisImage:
    """One BreakHis image file and the labels read from its name."""

    path: Path
    name: BreakHisName

    @property
    def label(self) -> str:
        """``"benign"`` or ``"malignant"``."""
        return self.name.label

    @property
    def patient(self) -> str:
        return self.name.patient

    @property
    def magnification(self) -> int:
        return self.name.magnification

    @property
    def subtype(self) -> str:
        """Full subtype name, e.g. ``"ductal_carcinoma"``."""
        return self.name.subtype

    @property
    def subtype_code(self) -> str:
        return self.name.subtype_code


def _checked_magnifications(magnifications: Iterable[int] | None) -> frozenset[int] | None:
    if magnifications is None:
        return None
    wanted = frozenset(int(m) for m in magnifications)
    unknown = sorted(wanted - BREAKHIS_MAGNIFICATIONS)
    if unknown or not wanted:
        raise DatasetError(
            f"BreakHis magnifications are 40, 100, 200 and 400; got {sorted(wanted) or 'none'}."
        )
    return wanted


def index_breakhis(
    root: str | os.PathLike[str], magnifications: set[int] | None = None
) -> list[BreakHisImage]:
    """List the BreakHis images below ``root`` (any layout), sorted by path.

    Files whose name is not a valid BreakHis name are skipped. ``magnifications`` keeps only
    those magnifications (e.g. ``{100}``). Raises DatasetError when the folder is missing or
    holds no matching BreakHis image.
    """
    folder = existing_folder(root, "BreakHis")
    wanted = _checked_magnifications(magnifications)
    images: list[BreakHisImage] = []
    for path in image_files(folder, BREAKHIS_SUFFIXES):
        try:
            name = parse_breakhis_name(path.name)
        except DatasetError:
            continue
        if wanted is None or name.magnification in wanted:
            images.append(BreakHisImage(path=path, name=name))
    if not images:
        at = "" if wanted is None else " at " + "/".join(f"{m}X" for m in sorted(wanted))
        raise DatasetError(
            f"No BreakHis image{at} was found in {folder}; BreakHis files are named like "
            "SOB_B_A-14-22549AB-100-001.png."
        )
    images.sort(key=lambda image: image.path)
    return images
