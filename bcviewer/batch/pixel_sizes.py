"""Per-file pixel sizes for a batch (``predict --mpp-table FILE``): a CSV with a path column
(``path``, ``file`` or ``image``) and an ``mpp`` column in µm per level-0 pixel.

Paths may be relative to the CSV's folder. Like ``--mpp``, a listed value applies only to an
input that records no pixel size and is cut in micrometres (a whole slide); a file's own value
always wins.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from bcviewer.errors import BcviewerError
from bcviewer.safety import FileSafetyError, read_regular_text
from bcviewer.tiling.budget import MPP_RANGE

PATH_COLUMNS = ("path", "file", "image")
MAX_TABLE_BYTES = 16 * 1024 * 1024


def read_mpp_table(path: str | os.PathLike[str]) -> tuple[tuple[str, float], ...]:
    """(resolved file path, µm/px) for each row; one-line errors for what cannot be used."""
    source = Path(path)
    try:
        if source.stat().st_size > MAX_TABLE_BYTES:
            raise BcviewerError(f"--mpp-table {source}: larger than {MAX_TABLE_BYTES // 2**20} MiB; not a pixel-size table")
        text = read_regular_text(source, "pixel-size table", encoding="utf-8-sig", limit=MAX_TABLE_BYTES)
    except FileSafetyError as exc:
        raise BcviewerError(f"--mpp-table {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BcviewerError(f"--mpp-table {source}: cannot read it ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower(): name for name in reader.fieldnames or ()}
    path_column = next((columns[c] for c in PATH_COLUMNS if c in columns), None)
    if path_column is None or "mpp" not in columns:
        raise BcviewerError(f"--mpp-table {source}: needs a path column ({', '.join(PATH_COLUMNS)}) and an mpp column; "
                            f"found {', '.join(reader.fieldnames or ()) or 'no header'}")
    rows: dict[str, float] = {}
    for number, row in enumerate(reader, start=2):
        name, value = (row.get(path_column) or "").strip(), (row.get(columns["mpp"]) or "").strip()
        try:
            mpp = float(value)
        except ValueError:
            mpp = math.nan
        if not name or not (MPP_RANGE[0] <= mpp <= MPP_RANGE[1]):
            raise BcviewerError(f"--mpp-table {source} row {number}: needs a file and a pixel size from {MPP_RANGE[0]:g} "
                                f"to {MPP_RANGE[1]:g} µm/px, got {name!r} and {value[:20]!r}")
        rows[str((source.parent / name).resolve())] = mpp
    if not rows:
        raise BcviewerError(f"--mpp-table {source}: holds no rows")
    return tuple(rows.items())
