"""Reading expression tables: CSV, TSV or gzip; samples in rows or genes in rows.

``read_expression_table`` returns an :class:`ExpressionTable` with one row per sample (index =
sample ids), one column per normalised gene id, and the label column if asked for. Every way a
file can be unusable raises a :class:`~bcviewer.genes.errors.GeneDataError` naming the file and
the offending rows or columns.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Literal

import numpy as np
import pandas as pd

from bcviewer.genes.errors import (
    AllMissingSampleError,
    DelimiterError,
    DuplicateSampleError,
    EmptyTableError,
    GeneDataError,
    LabelError,
    NonNumericValueError,
)
from bcviewer.genes.ids import find_sample_id_column, is_clinical_column, normalise_gene_id, row_number_ids
from bcviewer.genes.targets import clean_labels
from bcviewer.safety import FileSafetyError, require_regular_file

Orientation = Literal["auto", "samples-in-rows", "genes-in-rows"]
SEPARATORS = {",": "comma", "\t": "tab"}
_OTHER_SEPARATORS = {";": "semicolon", "|": "pipe", " ": "space"}
_NA_VALUES = ["missing", "MISSING", "?"]


@dataclass
class ExpressionTable:
    """Samples x genes expression values with optional labels, as read from one file."""

    path: str
    expression: pd.DataFrame
    labels: pd.Series | None = None
    label_name: str | None = None
    orientation: str = "samples-in-rows"
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The values of ``ignored_columns`` by sample (labels, clinical columns): a truth to compare with
    other_columns: pd.DataFrame | None = None

    @property
    def samples(self) -> list[str]:
        return [str(s) for s in self.expression.index]

    @property
    def genes(self) -> list[str]:
        return [str(g) for g in self.expression.columns]

    def labelled(self) -> "ExpressionTable":
        """The samples whose label is known (a warning counts the others)."""
        if self.labels is None:
            raise LabelError(f"{self.path}: no label column was chosen")
        keep = self.labels.notna()
        warnings = list(self.warnings)
        if not keep.all():
            warnings.append(f"{int((~keep).sum())} samples without a {self.label_name!r} label were left out")
        return ExpressionTable(self.path, self.expression.loc[keep], self.labels.loc[keep], self.label_name,
                               self.orientation, self.ignored_columns, warnings)


# A gzip member that inflates past both limits is refused: real expression tables compress 3-10
# times, while a "gzip bomb" (one line of 300 MB of zeros) compresses a thousand times and would
# keep pandas busy for minutes.
MAX_TABLE_BYTES = 2 * 2**30
MAX_GZIP_RATIO = 100
_GZIP_FREE_BYTES = 64 * 2**20  # below this much text, any ratio is fine (small, repetitive tables)
_CHUNK = 4 * 2**20


def _table_bytes(path: Path) -> bytes:
    """The file's text bytes: decompressed (with the limits above) when it is gzip."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            magic = handle.read(2)
            if magic != b"\x1f\x8b":
                if path.suffix == ".gz":
                    raise GeneDataError(f"{path.name} has the .gz extension but is not gzip-compressed; it is damaged "
                                        "or misnamed")
                if size > MAX_TABLE_BYTES:
                    raise GeneDataError(f"{path.name} is {size / 2**30:.1f} GiB; bcviewer reads expression tables up "
                                        f"to {MAX_TABLE_BYTES / 2**30:.0f} GiB")
                return magic + handle.read()
            handle.seek(0)
            return _inflate(path, handle, size)
    except OSError as exc:
        raise GeneDataError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _inflate(path: Path, handle: BinaryIO, size: int) -> bytes:
    limit = min(MAX_TABLE_BYTES, max(_GZIP_FREE_BYTES, size * MAX_GZIP_RATIO))
    parts: list[bytes] = []
    total = 0
    try:
        with gzip.GzipFile(fileobj=handle) as unzip:
            while chunk := unzip.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise GeneDataError(
                        f"{path.name} inflates to more than {limit / 2**20:.0f} MB from {size / 2**20:.1f} MB "
                        "compressed; that is not an expression table (a damaged file or a decompression bomb), "
                        "so it was not read further")
                parts.append(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise GeneDataError(f"{path.name} is damaged: its gzip compression cannot be read ({exc})") from exc
    return b"".join(parts)


def sniff_separator(path: Path, data: bytes | None = None) -> str:
    """Comma or tab, from the header line; any other separator is a clear error."""
    if data is None:
        data = _table_bytes(path)
    first = data[: data.find(b"\n") if b"\n" in data else len(data)].decode("utf-8", errors="replace")
    first = first.rstrip("\r\n")
    if not first.strip():
        raise EmptyTableError(f"{path.name}: the first line is empty; expected a header of sample or gene names")
    counts = {sep: first.count(sep) for sep in SEPARATORS}
    best = max(counts, key=counts.__getitem__)
    if counts[best] > 0:
        return best
    for sep, name in _OTHER_SEPARATORS.items():
        if first.count(sep) > 0:
            raise DelimiterError(
                f"{path.name} looks {name}-separated; bcviewer reads comma- or tab-separated tables. "
                f"Save it as CSV/TSV or pass --sep '{sep}'")
    raise DelimiterError(f"{path.name}: the header has a single column; expected a comma- or tab-separated table")


def _read_raw(path: Path, sep: str | None) -> pd.DataFrame:
    if not path.exists():
        raise GeneDataError(f"{path}: no such file")
    if path.is_dir():
        raise GeneDataError(f"{path} is a folder; expected a CSV or TSV table")
    try:
        require_regular_file(path, "CSV or TSV table")
    except FileSafetyError as exc:
        raise GeneDataError(str(exc)) from exc
    if path.stat().st_size == 0:
        raise EmptyTableError(f"{path.name} is empty (0 bytes)")
    data = _table_bytes(path)
    if not data.strip():
        raise EmptyTableError(f"{path.name} has no table in it")
    separator = sniff_separator(path, data) if sep is None else sep
    try:
        frame = pd.read_csv(io.BytesIO(data), sep=separator, low_memory=False, na_values=_NA_VALUES,
                            compression=None)
    except pd.errors.EmptyDataError as exc:
        raise EmptyTableError(f"{path.name} has no table in it") from exc
    except pd.errors.ParserError as exc:
        raise DelimiterError(f"{path.name}: rows have different numbers of fields ({exc}); "
                             "check the separator and quoting") from exc
    except (UnicodeDecodeError, EOFError) as exc:
        raise GeneDataError(f"{path.name} is not a readable text table ({exc})") from exc
    except ValueError as exc:  # e.g. a separator pandas cannot use
        raise DelimiterError(f"{path.name} cannot be split with the separator {separator!r} ({exc})") from exc
    if frame.shape[1] < 2:
        name = SEPARATORS.get(separator, repr(separator))
        raise DelimiterError(f"{path.name} has one column when split on {name}; the separator is probably wrong")
    if frame.shape[0] == 0:
        raise EmptyTableError(f"{path.name} has a header but no data rows")
    return frame


def _normalised(names: Iterable[object]) -> set[str]:
    return {normalise_gene_id(n) for n in names}


def detect_orientation(frame: pd.DataFrame, label: str | None = None,
                       known_genes: Iterable[str] | None = None) -> str:
    """``samples-in-rows`` or ``genes-in-rows``.

    Evidence, strongest first: where the label name occurs (header or first column); which of
    header and first column shares more ids with the model's genes; else genes are in rows only
    when every column but the first is numeric and there are more rows than columns.
    """
    first = frame.iloc[:, 0].astype(str).str.strip()
    if label is not None:
        if label in frame.columns:
            return "samples-in-rows"
        if (first == label).any():
            return "genes-in-rows"
    if known_genes is not None:
        known = set(known_genes)
        in_header = len(_normalised(frame.columns[1:]) & known)
        in_rows = len(_normalised(first) & known)
        if in_header or in_rows:
            return "genes-in-rows" if in_rows > in_header else "samples-in-rows"
    rest_numeric = all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns[1:])
    first_is_names = not pd.api.types.is_numeric_dtype(frame.iloc[:, 0]) and first.is_unique
    if rest_numeric and first_is_names and frame.shape[0] > frame.shape[1]:
        return "genes-in-rows"
    return "samples-in-rows"


def _transpose_genes_in_rows(frame: pd.DataFrame) -> pd.DataFrame:
    gene_col = frame.columns[0]
    body = frame.set_index(gene_col)
    body.index = [str(i).strip() for i in body.index]
    out = body.T.reset_index().rename(columns={"index": "sample"})
    return out.infer_objects()


def _numeric_block(frame: pd.DataFrame, path: Path, ids: pd.Index) -> tuple[pd.DataFrame, list[str]]:
    """Numeric gene columns; fully non-numeric columns are returned as ignored metadata."""
    try:
        return frame.astype(np.float64), []
    except (ValueError, TypeError):
        pass
    numeric: dict[str, pd.Series] = {}
    ignored: list[str] = []
    offenders: list[str] = []
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            numeric[column] = values.astype(np.float64)
            continue
        parsed = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & parsed.isna()
        if bad.all() and values.notna().any():
            if values.astype(str).str.fullmatch(r"-?\d+,\d+").mean() > 0.5:
                raise NonNumericValueError(f"{path.name}: column {column!r} holds numbers with decimal commas "
                                           f"(e.g. {values.iloc[0]!r}); save the table with decimal points")
            ignored.append(str(column))
            continue
        for row in np.flatnonzero(bad.to_numpy())[:3]:
            offenders.append(f"sample {ids[row]}, column {column}: {values.iloc[row]!r}")
        numeric[column] = parsed.astype(np.float64)
    if offenders:
        shown = "; ".join(offenders[:5])
        raise NonNumericValueError(f"{path.name}: expression cells that are not numbers: {shown}. "
                                   "Fix them or leave them empty (empty cells count as missing)")
    return pd.DataFrame(numeric, index=frame.index), ignored


def _average_duplicate_genes(block: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    names = [normalise_gene_id(c) for c in block.columns]
    block = block.set_axis(names, axis=1)
    duplicated = sorted(set(block.columns[block.columns.duplicated()]))
    if duplicated:
        warnings.append(f"{len(duplicated)} genes occur more than once and were averaged: "
                        + ", ".join(duplicated[:10]) + (" ..." if len(duplicated) > 10 else ""))
        block = block.T.groupby(level=0, sort=False).mean().T
    return block


def read_expression_table(
    path: str | Path,
    *,
    label: str | None = None,
    id_col: str | None = None,
    orientation: Orientation = "auto",
    sep: str | None = None,
    exclude: Iterable[str] = (),
    known_genes: Iterable[str] | None = None,
) -> ExpressionTable:
    """Read one expression table; see the module docstring for what is checked.

    ``known_genes`` (a model's normalised gene ids) helps to detect the orientation. Clinical
    and survival columns (``age``, ``fac_*``, ``t.tdm``...) and ``exclude`` never become genes.
    """
    path = Path(path)
    raw = _read_raw(path, sep)
    if orientation == "auto":
        orientation = detect_orientation(raw, label, known_genes)  # type: ignore[assignment]
    if orientation == "genes-in-rows":
        raw = _transpose_genes_in_rows(raw)
        id_col = id_col or "sample"
    elif orientation != "samples-in-rows":
        raise GeneDataError(f"orientation must be auto, samples-in-rows or genes-in-rows, not {orientation!r}")
    raw.columns = [str(c).strip() for c in raw.columns]
    if label is not None and label not in raw.columns:
        raise LabelError(f"{path.name}: no label column {label!r}; columns include "
                         + ", ".join(list(raw.columns)[:12]))
    if id_col is not None and id_col not in raw.columns:
        raise GeneDataError(f"{path.name}: no sample id column {id_col!r}")
    id_col = id_col or find_sample_id_column(raw, exclude=tuple(c for c in [label] if c))
    ids = pd.Index(raw[id_col].astype(str).str.strip() if id_col else row_number_ids(len(raw)), name="sample")
    if not ids.is_unique:
        dupes = sorted(set(ids[ids.duplicated()]))
        raise DuplicateSampleError(f"{path.name}: sample ids occur more than once in column {id_col!r}: "
                                   + ", ".join(dupes[:5]) + ("" if len(dupes) <= 5 else f" (+{len(dupes) - 5})"))
    warnings: list[str] = []
    skip = {label, id_col, *exclude}
    clinical = [c for c in raw.columns if c not in skip and is_clinical_column(c)]
    features = raw[[c for c in raw.columns if c not in skip and c not in clinical]]
    features.index = ids
    block, ignored = _numeric_block(features, path, ids)
    if block.shape[1] == 0:
        raise GeneDataError(f"{path.name}: no numeric expression columns were found")
    if ignored:  # clinical and label columns are expected beside genes; only unexpected text columns are worth a word
        warnings.append("columns not used as genes: " + ", ".join(ignored[:12]) + (" ..." if len(ignored) > 12 else ""))
    ignored = clinical + ignored
    block = _average_duplicate_genes(block, warnings)
    empty = block.isna().all(axis=1)
    if empty.any():
        names = list(block.index[empty])
        raise AllMissingSampleError(f"{path.name}: {len(names)} samples have no expression value at all: "
                                    + ", ".join(names[:5]) + "; remove them")
    labels = None
    if label is not None:
        labels = clean_labels(raw[label].set_axis(ids))
        labels.name = label
    other = raw[ignored].set_axis(ids) if ignored else None
    return ExpressionTable(str(path), block, labels, label, orientation, ignored, warnings, other)
