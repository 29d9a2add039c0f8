"""Gene and sample identifiers: one small, documented normalisation shared by every table.

Gene ids (``normalise_gene_id``):

1. trim and upper-case (``esr1`` -> ``ESR1``);
2. strip the prefixes ``num_`` (SurvSet numeric columns) and ``HS_`` (Homo sapiens), repeatedly,
   so ``num_HS_ESR1`` -> ``ESR1``;
3. ``entrez_<digits>`` becomes ``ENTREZ:<digits>``, an Entrez Gene id, not a symbol;
4. R's ``make.names`` puts an ``X`` before names that start with a digit; it is removed, so the
   Affymetrix probe ``X219340_s_at`` -> ``219340_S_AT``.

Sample ids (``find_sample_id_column``): the first column whose values are unique, non-numeric
strings (``sample_id``, ``pid``, ``patient_id``...). Failing that, a column named like an id
(``sample_index``, ``sample_id``), whose repeated values are then reported as duplicate samples;
failing that, the row number (``row1``, ``row2``...).
"""

from __future__ import annotations

import re

import pandas as pd

_PREFIXES = ("NUM_", "HS_")
_ENTREZ = re.compile(r"^ENTREZ[_:]?(\d+)$")
_R_MAKE_NAMES = re.compile(r"^X(\d.*)$")
_ID_NAMES = re.compile(r"^(sample|patient|subject|case|specimen|p)?_?(id|index|idx|name|barcode)$|^sample$|^pid$",
                       re.IGNORECASE)
# Clinical and survival columns that are numbers but not expression; listed so they never become
# features by accident (``t.tdm`` is the time to metastasis: a leak for the metastasis task).
_CLINICAL_NAMES = {
    "AGE", "SIZE", "GRADE", "ER", "PR", "PGR_STATUS", "HER2", "EVENT", "TIME", "STAGE", "NODE", "NODES",
    "SEX", "GENDER", "STATUS", "OS", "DFS", "RFS", "DMFS", "TREATMENT",
}
_SURVIVAL = re.compile(r"^[TE]\.[A-Z]+$")  # t.tdm, e.tdm, t.rfs, e.os...
# Truth and class columns (``label``, ``pam50_subtype``, ``er_status``): what a model predicts, never
# expression. The underscore anchor keeps probe ids (``219340_S_AT``) and gene symbols out.
_LABEL_NAME = re.compile(r"^(.+_)?(LABEL|LABELS|CLASS|TARGET|OUTCOME|TRUTH|DIAGNOSIS|SUBTYPE|STATUS|PAM50)$")


def normalise_gene_id(name: object) -> str:
    """Return the canonical form of one gene or probe id (see the module docstring)."""
    text = str(name).strip().upper()
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if text.startswith(prefix) and len(text) > len(prefix):
                text = text[len(prefix):]
                stripped = True
    entrez = _ENTREZ.match(text)
    if entrez:
        return f"ENTREZ:{entrez.group(1)}"
    make_names = _R_MAKE_NAMES.match(text)
    if make_names:
        return make_names.group(1)
    return text


def is_clinical_column(name: object) -> bool:
    """True for survival, clinical, label and factor columns (``fac_*``) that must not be features."""
    raw = str(name).strip()
    if raw.lower().startswith("fac_"):
        return True
    text = raw.upper()
    if text.startswith("NUM_"):
        text = text[4:]
    return text in _CLINICAL_NAMES or bool(_SURVIVAL.match(text) or _LABEL_NAME.match(text))


def _is_numeric_text(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").notna()


def find_sample_id_column(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> str | None:
    """Name of the column that holds sample ids by the default rule, or None for row numbers."""
    candidates = [c for c in frame.columns if c not in exclude]
    for column in candidates:
        values = frame[column]
        if values.dtype != object or values.isna().any() or not values.is_unique:
            continue
        if not _is_numeric_text(values.astype(str)).any():
            return str(column)
    for column in candidates:
        if _ID_NAMES.match(str(column).strip()) and frame[column].notna().all():
            return str(column)  # even with repeated values: the caller reports them as duplicates
    return None


def row_number_ids(n_rows: int) -> list[str]:
    """Sample ids for a table without an id column: ``row1``, ``row2``... (1-based, as a spreadsheet)."""
    return [f"row{i + 1}" for i in range(n_rows)]
