"""Data sets (BreakHis, IDC) as lists of labelled files, and patient-level splits. Qt-free."""

from bcviewer.datasets.breakhis import (
    BREAKHIS_MAGNIFICATIONS,
    BREAKHIS_SUBTYPES,
    BreakHisImage,
    BreakHisName,
    index_breakhis,
    parse_breakhis_name,
)
from bcviewer.datasets._scan import image_files
from bcviewer.datasets.errors import DatasetError
from bcviewer.datasets.idc import IDC_LABEL_NAMES, IDCName, IDCPatch, index_idc, parse_idc_name
from bcviewer.datasets.splits import (
    PART_NAMES,
    PatientSplit,
    patient_kfold,
    patient_labels_of,
    patient_split,
)

__all__ = [
    "BREAKHIS_MAGNIFICATIONS",
    "BREAKHIS_SUBTYPES",
    "IDC_LABEL_NAMES",
    "PART_NAMES",
    "BreakHisImage",
    "BreakHisName",
    "DatasetError",
    "IDCName",
    "IDCPatch",
    "PatientSplit",
    "image_files",
    "index_breakhis",
    "index_idc",
    "parse_breakhis_name",
    "parse_idc_name",
    "patient_kfold",
    "patient_labels_of",
    "patient_split",
]
