"""Where the labels of imported images come from: BreakHis names, a CSV, or class folders.

* BreakHis file names (``SOB_<B|M>_<type>-<patient>-<mag>-<seq>.png``) carry label, patient,
  magnification and subtype, so folders of them, single files and ``.txt``/``.lst`` lists (one
  path per line) need nothing else.
* A ``.csv`` with an ``image`` (or ``file``/``path``) column and ``label`` and ``patient`` columns;
  ``magnification`` and ``subtype`` are optional. Headers may be in any letter case. Labels:
  ``benign``/``malignant``, ``B``/``M``, or ``0``/``1`` (0 = benign, 1 = malignant; the import
  notes say so). Magnification: a whole number, optionally with ``X`` (``40``, ``40X``), or empty
  when unknown. Relative paths are relative to the CSV's folder. A file with a BreakHis name may
  leave the other cells empty (the data set's ``manifest.csv`` works as it is).
* A folder with ``benign/`` and/or ``malignant/`` sub-folders (any letter case) gives the label.
  An image in a sub-folder of a class folder takes that sub-folder's name as its patient
  (``benign/P7/a.png``: patient ``P7``); an image directly in a class folder is its own patient,
  named by its path (``benign/case123``). Both are assumptions, and the import notes say so; a
  BreakHis name, where there is one, gives the patient instead. Two spellings of one class folder
  (``MALIGNANT/`` and ``malignant/``) are both read, with a warning naming both.
* A CSV row whose file does not exist is skipped with a warning (count and first rows); a CSV none
  of whose files exist is refused.

When two sources describe one file and disagree (a CSV row and the file name, a class folder and
the name, two rows), the file is left out and the disagreement reported; it is never guessed.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from bcviewer.datasets import DatasetError, image_files, parse_breakhis_name
from bcviewer.labels.errors import ImportSourceError
from bcviewer.safety import FileSafetyError, missing_reason, read_regular_text, require_regular_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# Scanner formats: always whole slides, which a label project (sub-images of microscopy images) never holds.
SLIDE_SUFFIXES = (".svs", ".ndpi", ".vms", ".vmu", ".mrxs", ".scn", ".bif", ".svslide", ".dcm")
WHOLE_SLIDE_WHY = ("a label project holds microscopy images cut into sub-images; "
                   "analyse whole slides with 'bcviewer predict' or in the viewer")
WHOLE_SLIDE_SKIPPED = f"a whole slide: {WHOLE_SLIDE_WHY}"
NOT_LABELLED_SKIPPED = "no BreakHis name and not in a benign/ or malignant/ folder"
LIST_SUFFIXES = (".txt", ".lst")
CLASS_FOLDERS = ("benign", "malignant")
IMAGE_COLUMNS = ("image", "file", "path")
LABEL_HINT = ("give the labels in a CSV (columns image, label, patient; optional magnification) "
              "or put the images in benign/ and malignant/ sub-folders and import the folder above them")
_LABELS = {"benign": "benign", "b": "benign", "0": "benign", "malignant": "malignant", "m": "malignant",
           "1": "malignant"}
_MAGNIFICATION = re.compile(r"^(\d+)\s*x?$", re.IGNORECASE)


@dataclass(frozen=True)
class LabeledImage:
    """One image to import and its labels, whatever gave them (magnification, subtype: None if unknown)."""

    path: Path
    label: str
    patient: str
    magnification: int | None = None
    subtype: str | None = None


@dataclass
class Collection:
    """The images found, what the import assumed (notes), what needs a look (warnings), and the
    files left out as contradictory or missing."""

    images: list[LabeledImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[tuple[Path, str]] = field(default_factory=list)  # listed in a CSV, not on disk: (path, row)
    conflicts: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # files found in a folder and not imported, why


@dataclass(frozen=True)
class _Claim:
    """What one source says about one file; None where it says nothing."""

    path: Path
    origin: str
    label: str | None = None
    patient: str | None = None
    magnification: int | None = None
    subtype: str | None = None
    assumed: str | None = None  # "folder" or "file" when the patient is the class-folder guess


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _same(a: object, b: object) -> bool:
    return str(a).strip().lower().replace(" ", "_") == str(b).strip().lower().replace(" ", "_")


def _name_claim(path: Path) -> _Claim | None:
    try:
        name = parse_breakhis_name(path)
    except DatasetError:
        return None
    return _Claim(path, "its BreakHis name", name.label, name.patient, name.magnification, name.subtype)


def _merge(a: _Claim, b: _Claim) -> _Claim | str:
    """One claim from two about the same file (``a`` wins ties), or why both cannot be true."""
    values = {}
    for key in ("label", "magnification", "subtype"):
        va, vb = getattr(a, key), getattr(b, key)
        if va is not None and vb is not None and not _same(va, vb):
            return f"{a.origin} says {key} {va}, {b.origin} says {vb}"
        values[key] = va if va is not None else vb
    keep_a = b.patient is None or (a.patient is not None and (b.assumed is not None or a.assumed is None))
    if (a.patient is not None and b.patient is not None and a.assumed is None and b.assumed is None
            and not _same(a.patient, b.patient)):
        return f"{a.origin} says patient {a.patient}, {b.origin} says patient {b.patient}"
    patient, assumed = (a.patient, a.assumed) if keep_a else (b.patient, b.assumed)
    return replace(a, patient=patient, assumed=assumed, **values)


class _Collector:
    """Gathers claims by real path, merging repeats and setting aside contradictions."""

    def __init__(self) -> None:
        self.claims: dict[Path, _Claim] = {}
        self.conflicts: dict[Path, str] = {}
        self.unlabeled: dict[Path, str] = {}  # path -> the error to raise if no source labels it
        self.notes: list[str] = []
        self.skipped: list[tuple[Path, str]] = []
        self.warnings: list[str] = []
        self.missing: list[tuple[Path, str]] = []
        self.repeats = 0

    def add(self, claim: _Claim, shown: str | None = None) -> None:
        """Record ``claim``; ``shown`` (how the user named the file) marks a file that may lack labels."""
        name = _name_claim(claim.path)  # the name as given: a symlink's target may be named otherwise
        key = claim.path.resolve()
        if key in self.conflicts:
            return
        merged: _Claim | str = claim if name is None or name == claim else _merge(name, claim)
        old = self.claims.get(key)
        if old is not None and not isinstance(merged, str):
            merged = _merge(old, merged)
        if isinstance(merged, str):
            self.claims.pop(key, None)
            self.conflicts[key] = merged
            return
        self.repeats += old is not None
        self.claims[key] = replace(merged, path=key)
        if name is None and shown is not None:
            self.unlabeled.setdefault(key, _no_labels_message(claim.path, shown))

    def result(self) -> Collection:
        out = Collection(conflicts=list(self.conflicts.items()), skipped=list(self.skipped),
                         warnings=list(self.warnings), missing=list(self.missing))
        missing = [key for key, c in self.claims.items() if c.label is None or c.patient is None]
        if missing:
            more = f" ({_plural(len(missing) - 1, 'more file')} like it)" if len(missing) > 1 else ""
            first = self.unlabeled.get(missing[0], f"{missing[0]} has no label or patient; {LABEL_HINT}")
            raise ImportSourceError(first + more)
        claims = list(self.claims.values())
        out.images = [LabeledImage(c.path, c.label, c.patient, c.magnification, c.subtype)  # type: ignore[arg-type]
                      for c in claims]
        by_folder = [c for c in claims if c.assumed == "folder"]
        if by_folder:
            out.notes.append(
                "assumed: an image in a sub-folder of benign/ or malignant/ belongs to the patient the sub-folder "
                f"names ({_plural(len(by_folder), 'image')}, e.g. {by_folder[0].path.name}: patient "
                f"{by_folder[0].patient}); give a CSV with a patient column if that is wrong")
        by_file = [c for c in claims if c.assumed == "file"]
        if by_file:
            out.notes.append(
                "assumed: an image directly in benign/ or malignant/ is its own patient "
                f"({_plural(len(by_file), 'image')}, e.g. patient {by_file[0].patient}); put each patient's images "
                "in a sub-folder, or give a CSV with a patient column, if that is wrong")
        no_mag = sum(c.magnification is None for c in claims)
        if no_mag:
            out.notes.append(f"no magnification given for {_plural(no_mag, 'image')}; counted as 'unknown'")
        if self.repeats:
            out.notes.append(f"{_plural(self.repeats, 'file')} named more than once (same labels) imported once")
        out.notes = self.notes + out.notes
        return out


def _no_labels_message(path: Path, shown: str) -> str:
    try:
        parse_breakhis_name(path)
    except DatasetError as exc:
        if path.name.upper().startswith("SOB_"):  # meant as a BreakHis name: say what is wrong with it
            return f"{shown}: {str(exc).rstrip('.')}; or {LABEL_HINT}"
    return (f"{shown} has no label: its name is not a BreakHis name (SOB_<B|M>_<type>-<patient>-<mag>-<seq>.png)"
            f"; {LABEL_HINT}")


def collect_sources(sources: Iterable[str | os.PathLike[str]]) -> Collection:
    """The labelled images named by folders, image files, ``.txt``/``.lst`` lists and CSVs, in order."""
    collector = _Collector()
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            _folder(collector, path)
        elif not path.is_file():  # reading a named pipe would block the import forever
            try:
                require_regular_file(path, "file list or image")
            except FileSafetyError as exc:  # a symlink loop, a FIFO, a device: named as such
                raise ImportSourceError(str(exc)) from exc
        elif path.suffix.lower() == ".csv":
            _csv(collector, path)
        elif path.suffix.lower() in LIST_SUFFIXES:
            _text_list(collector, path)
        else:
            collector.add(_Claim(path, str(path)), shown=str(path))
    result = collector.result()
    if not result.images and not result.conflicts:
        raise ImportSourceError("no images were given to import")
    return result


def _folder(collector: _Collector, folder: Path) -> None:
    found, unnamed = 0, []
    per_class_folder: dict[str, int] = {}
    for path in sorted(image_files(folder, IMAGE_SUFFIXES)):
        rel = path.relative_to(folder)
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        if top.lower() in CLASS_FOLDERS:
            per_class_folder[top] = per_class_folder.get(top, 0) + 1
            if len(rel.parts) > 2:
                patient, assumed = rel.parts[1], "folder"
            else:
                patient, assumed = rel.with_suffix("").as_posix(), "file"
            collector.add(_Claim(path, f"the folder {top}/", top.lower(), patient, assumed=assumed))
        elif (name := _name_claim(path)) is not None:
            collector.add(name)
        else:
            unnamed.append(rel)
            collector.skipped.append((path, NOT_LABELLED_SKIPPED))
            continue
        found += 1
    slides = sorted(image_files(folder, SLIDE_SUFFIXES))
    collector.skipped += [(path, WHOLE_SLIDE_SKIPPED) for path in slides]
    collector.warnings += _class_folder_spellings(folder, per_class_folder)
    if not found and unnamed:
        raise ImportSourceError(f"{folder}: none of its {_plural(len(unnamed), 'image')} has a BreakHis name or "
                                f"lies in a benign/ or malignant/ sub-folder; {LABEL_HINT}")
    if not found:
        held = (f"; it holds {_plural(len(slides), 'whole slide')} (e.g. {slides[0].name}): {WHOLE_SLIDE_WHY}"
                if slides else "")
        raise ImportSourceError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}){held}")
    if unnamed:
        collector.notes.append(
            f"skipped: {_plural(len(unnamed), 'image')} in {folder} without a BreakHis name and outside benign/ "
            f"and malignant/ (e.g. {unnamed[0].as_posix()}); to import them, {LABEL_HINT}")


def _class_folder_spellings(folder: Path, images: dict[str, int]) -> list[str]:
    """A warning for each class with two folders differing only in letter case (one often empty)."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.lower() in CLASS_FOLDERS and p.is_dir())
    except OSError:
        return []
    warnings = []
    for label in CLASS_FOLDERS:
        spellings = [n for n in names if n.lower() == label]
        if len(spellings) < 2:
            continue
        held = [f"{n}/ ({_plural(images[n], 'image') if images.get(n) else 'empty'})" for n in spellings]
        empty = [f"{n}/" for n in spellings if not images.get(n)]
        warnings.append(f"{folder} has {len(spellings)} folders for the class {label}: {' and '.join(held)}; letter case "
                        f"is ignored, so the images of all of them are labelled {label}"
                        + (f"; nothing came from {' or '.join(empty)}, which holds no images" if empty else ""))
    return warnings


def _read(listing: Path) -> str:
    try:
        return read_regular_text(listing, "file list", encoding="utf-8-sig")
    except FileSafetyError as exc:
        raise ImportSourceError(str(exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportSourceError(f"cannot read the file list {listing}: {exc}") from exc


def _listed(listing: Path, entry: str, where: str) -> Path:
    path = _resolve_entry(listing, entry)
    if not path.is_file():
        why = missing_reason(path) or f"{path} is not a file"
        raise ImportSourceError(f"{where}: {why}")
    return path


def _resolve_entry(listing: Path, entry: str) -> Path:
    given = Path(entry).expanduser()
    return given if given.is_absolute() else listing.parent / given


def _missing_rows_warning(listing: Path, missing: list[tuple[Path, str]], imported: int, shown: int = 3) -> str:
    """One line for the rows of a CSV whose files do not exist: how many, the first few, and the rest imported."""
    first = ", ".join(f"{where.removeprefix(listing.name + ' ')}: {path.name}" for path, where in missing[:shown])
    more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
    return (f"{listing.name}: {_plural(len(missing), 'listed file')} not found, skipped ({first}{more}); "
            f"{_plural(imported, 'other row')} imported")


def _text_list(collector: _Collector, listing: Path) -> None:
    count = 0
    for number, line in enumerate(_read(listing).splitlines(), start=1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            where = f"{listing.name} line {number}"
            collector.add(_Claim(_listed(listing, entry, where), where), shown=f"{where}: {entry}")
            count += 1
    if not count:
        raise ImportSourceError(f"{listing} lists no images")


def _csv(collector: _Collector, listing: Path) -> None:
    rows = csv.reader(io.StringIO(_read(listing), newline=""))
    try:
        header = next(rows)
    except (StopIteration, csv.Error) as exc:
        raise ImportSourceError(f"{listing} is empty or not a CSV file ({exc or 'no header row'})") from exc
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        columns.setdefault(title.strip().lower(), index)
    image = next((c for c in IMAGE_COLUMNS if c in columns), None)
    if image is None:
        raise ImportSourceError(f"{listing} needs an 'image', 'file' or 'path' column naming the images; "
                                f"its columns are: {', '.join(header) or 'none'}")
    count, zero_one = 0, False
    missing: list[tuple[Path, str]] = []
    try:
        for row in rows:
            cells = {name: row[i].strip() if i < len(row) else "" for name, i in columns.items()}
            if not any(cells.values()):
                continue
            where = f"{listing.name} row {rows.line_num}"
            if not cells[image]:
                raise ImportSourceError(f"{where}: the {image} cell is empty")
            path = _resolve_entry(listing, cells[image])
            if missing_reason(path) is not None:  # gone: skipped and listed; the other rows still import
                missing.append((path, where))
                continue
            path = _listed(listing, cells[image], where)
            label = _label(cells.get("label", ""), where)
            zero_one |= cells.get("label", "") in ("0", "1")
            claim = _Claim(path, where, label, cells.get("patient") or None,
                           _magnification(cells.get("magnification", ""), where), cells.get("subtype") or None)
            if _name_claim(path) is None:
                for key in ("label", "patient"):
                    if getattr(claim, key) is None:
                        raise ImportSourceError(f"{where}: no {key} for {cells[image]} (its name is not a BreakHis "
                                                f"name); give one in a '{key}' column")
            collector.add(claim)
            count += 1
    except csv.Error as exc:
        raise ImportSourceError(f"{listing} row {rows.line_num}: not valid CSV ({exc})") from exc
    if missing and not count:  # nothing at all to import: refused, as before
        path, where = missing[0]
        others = f" (nor do the other {_plural(len(missing) - 1, 'listed file')})" if len(missing) > 1 else ""
        raise ImportSourceError(f"{where}: {missing_reason(path)}{others}; nothing to import")
    if not count:
        raise ImportSourceError(f"{listing} lists no images")
    if missing:
        collector.missing += missing
        collector.warnings.append(_missing_rows_warning(listing, missing, count))
    if zero_one:
        collector.notes.append(f"{listing.name}: labels 0 and 1 read as 0 = benign, 1 = malignant")


def _label(value: str, where: str) -> str | None:
    if not value:
        return None
    if value.lower() not in _LABELS:
        raise ImportSourceError(f"{where}: label '{value}' is not benign or malignant "
                                "(accepted: benign/malignant, B/M, 0/1)")
    return _LABELS[value.lower()]


def _magnification(value: str, where: str) -> int | None:
    if not value or value.lower() == "unknown":
        return None
    match = _MAGNIFICATION.match(value)
    if match is None or int(match[1]) == 0:
        raise ImportSourceError(f"{where}: magnification '{value}' is not a number like 40, 100, 200, 400 or 40X "
                                "(leave it empty when unknown)")
    return int(match[1])
