"""IDC patches (Janowczyk & Madabhushi, J Pathol Inform 2016): name parsing and folder indexing.

Each 50x50 patch was cut from a 40x whole slide; its name gives the patient, the patch's
top-left corner on the slide and whether it shows invasive ductal carcinoma, e.g.
``10253_idx5_x1451_y1001_class0.png``. As with BreakHis the index trusts the name, so the Kaggle
``<patient>/<0|1>/`` tree, a ``class0/class1`` tree and a flat folder all work.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath

from bcviewer.datasets._scan import existing_folder, png_files
from bcviewer.datasets.errors import DatasetError

IDC_LABEL_NAMES: dict[int, str] = {0: "non-IDC", 1: "IDC"}

_NAME = re.compile(
    r"^(?P<patient>[0-9A-Za-z]+)_idx5_x(?P<x>\d+)_y(?P<y>\d+)_class(?P<label>\d+)\.png$",
    re.IGNORECASE,
)
_EXPECTED = "expected <patient>_idx5_x<X>_y<Y>_class<0|1>.png, e.g. 10253_idx5_x1451_y1001_class0.png"


@dataclass(frozen=True)
class IDCName:
    """The labels an IDC patch name carries; ``label`` 1 means invasive ductal carcinoma."""

    filename: str
    patient: str
    x: int
    y: int
    label: int

    @property
    def label_name(self) -> str:
        """``"IDC"`` or ``"non-IDC"``."""
        return IDC_LABEL_NAMES[self.label]


def parse_idc_name(name: str | os.PathLike[str]) -> IDCName:
    """Parse an IDC patch file name (or a path ending in one); raise DatasetError if it is not one."""
    filename = PurePath(name).name
    match = _NAME.match(filename)
    if match is None:
        raise DatasetError(f"'{filename}' is not an IDC patch name; {_EXPECTED}.")
    label = int(match["label"])
    if label not in IDC_LABEL_NAMES:
        raise DatasetError(
            f"'{filename}': the class must be 0 (no IDC) or 1 (invasive ductal carcinoma), "
            f"not {match['label']}."
        )
    return IDCName(
        filename=filename,
        patient=match["patient"],
        x=int(match["x"]),
        y=int(match["y"]),
        label=label,
    )


@dataclass(frozen=True)
class IDCPatch:
    """One IDC patch file and the labels read from its name."""

    path: Path
    name: IDCName

    @property
    def patient(self) -> str:
        return self.name.patient

    @property
    def label(self) -> int:
        """1 for invasive ductal carcinoma, 0 otherwise."""
        return self.name.label


def index_idc(root: str | os.PathLike[str]) -> list[IDCPatch]:
    """List the IDC patches below ``root`` (any layout), sorted by path.

    Files whose name is not an IDC patch name are skipped. Raises DatasetError when the folder
    is missing or holds no IDC patch.
    """
    folder = existing_folder(root, "IDC")
    patches: list[IDCPatch] = []
    for path in png_files(folder):
        try:
            name = parse_idc_name(path.name)
        except DatasetError:
            continue
        patches.append(IDCPatch(path=path, name=name))
    if not patches:
        raise DatasetError(
            f"No IDC patch was found in {folder}; IDC patches are named like "
            "10253_idx5_x1451_y1001_class0.png."
        )
    patches.sort(key=lambda patch: patch.path)
    return patches
