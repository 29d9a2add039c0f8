"""Model cards and input specs, without PyTorch: reading and checking ``card.json``, finding a model
folder, and :class:`InputSpec` (what a model expects as input).

Everything here is torch-free, so the viewer, the command line's help and a folder scan can read
cards without importing PyTorch; :mod:`bcviewer.nets.store` (loading and saving weights) builds
on it and re-exports these names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bcviewer.nets.errors import ModelCardError, ModelNotFoundError, UnsafeModelFormatError
from bcviewer.paths import model_search_dirs, shipped_models_dir
from bcviewer.safety import FileSafetyError, read_regular_text

MAX_CARD_BYTES = 16 * 2**20  # a card is a few KB (its calibration tables included)

if TYPE_CHECKING:
    from bcviewer.nets.stain import StainNormaliser

__all__ = [
    "CARD_NAME", "WEIGHTS_NAME", "CARD_FORMAT", "PICKLE_SUFFIXES", "InputSpec", "model_search_dirs",
    "read_card", "resolve_model_dir", "shipped_models_dir", "stain_normaliser", "weights_path",
]

CARD_NAME = "card.json"
WEIGHTS_NAME = "weights.safetensors"
CARD_FORMAT = "bcviewer-model/1"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar")


# ---- input spec -------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputSpec:
    """Input size, normalisation and the physical scale of one tile.

    ``width``/``height``: network input in pixels. ``mean``/``std``: per-channel RGB statistics
    on the 0..1 scale. A tile is described either by ``tile_um`` (its side in micrometres, for
    whole slides) with ``mpp`` (micrometres per pixel to read at), or by ``magnification`` and
    ``tile_scheme`` (e.g. "100X", "breakhis-3x3": each microscopy image cut into 3x3 sub-images).
    ``stain``: the stain reference every tile is normalised to after resizing (``method``
    "macenko", the default of older cards, or "reinhard", with its parameters; see
    :mod:`bcviewer.nets.stain`), or None.
    """

    width: int
    height: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    tile_um: float | None = None
    mpp: float | None = None
    tile_px: int | None = None
    magnification: str | None = None
    tile_scheme: str | None = None
    stain: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return self.width, self.height

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the model card."""
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        """Rebuild from a model card's ``input`` section."""
        known = {f.name for f in fields(cls)}
        try:
            kwargs = {k: v for k, v in data.items() if k in known}
            kwargs["mean"] = tuple(float(v) for v in data["mean"])
            kwargs["std"] = tuple(float(v) for v in data["std"])
            spec = cls(**kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelCardError(f"model card's input section is incomplete or malformed ({exc})") from exc
        if len(spec.mean) != 3 or len(spec.std) != 3 or min(spec.std) <= 0:
            raise ModelCardError("model card's input normalisation needs 3 means and 3 positive stds")
        if spec.stain is not None:
            stain_normaliser(json.dumps(spec.stain, sort_keys=True))  # a bad reference fails at load
        return spec


@lru_cache(maxsize=8)
def stain_normaliser(stain_json: str) -> StainNormaliser:
    """The (cached) normaliser of a card's ``stain`` section, given as sorted JSON."""
    from bcviewer.nets.stain import StainNormaliser

    return StainNormaliser.from_dict(json.loads(stain_json))


# ---- finding and reading a model folder ---------------------------------------------------------
def _refuse_pickle(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if path.suffix.lower() in PICKLE_SUFFIXES or head[:1] == b"\x80" or head[:2] == b"PK":
        raise UnsafeModelFormatError(
            f"{path.name} is a pickle-based PyTorch file; bcviewer loads only safetensors weights with a "
            "model card (card.json), because pickle files can run code when opened")


def resolve_model_dir(name_or_dir: str | Path) -> Path:
    """Find a model folder from a path (folder, its card, or its weights) or a shipped model name."""
    path = Path(name_or_dir).expanduser()
    if path.is_file():
        if path.name == CARD_NAME or path.suffix == ".safetensors":
            return path.parent
        _refuse_pickle(path)
        raise ModelCardError(f"{path} is not a bcviewer model; give the model folder holding {CARD_NAME}")
    if path.is_dir():
        if not (path / CARD_NAME).is_file():
            for suffix in PICKLE_SUFFIXES:
                found = sorted(path.glob(f"*{suffix}"))
                if found:
                    _refuse_pickle(found[0])
            raise ModelCardError(f"{path} holds no model card ({CARD_NAME}); it is not a bcviewer model folder")
        return path
    if len(path.parts) == 1:
        for base in model_search_dirs():
            if (base / path.name / CARD_NAME).is_file():
                return base / path.name
    raise ModelNotFoundError(f"no model '{name_or_dir}': not a folder, and not a model name under "
                             + ", ".join(str(d) for d in model_search_dirs()))


def read_card(directory: Path) -> dict[str, Any]:
    """Parse and minimally validate ``card.json``."""
    try:
        card = json.loads(read_regular_text(directory / CARD_NAME, "model card", limit=MAX_CARD_BYTES))
    except FileSafetyError as exc:
        raise ModelCardError(f"cannot read the model card: {exc}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelCardError(f"cannot read the model card in {directory}: {exc}") from exc
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ModelCardError(f"{directory / CARD_NAME} is not a {CARD_FORMAT} model card")
    for section in ("architecture", "input", "weights", "classes"):
        if section not in card:
            raise ModelCardError(f"model card in {directory} lacks its '{section}' section")
    for section, kind in (("architecture", dict), ("input", dict), ("weights", dict), ("classes", list)):
        if not isinstance(card[section], kind):
            raise ModelCardError(f"model card in {directory}: its '{section}' section must be a JSON "
                                 f"{'object' if kind is dict else 'list'}, not {type(card[section]).__name__}")
    classes = card["classes"]
    if len(classes) < 2 or not all(isinstance(c, str) and c for c in classes) or len(set(classes)) != len(classes):
        raise ModelCardError(f"model card in {directory}: 'classes' must name at least 2 different classes, "
                             f"got {classes!r}")
    return card


def weights_path(directory: Path, card: dict[str, Any]) -> Path:
    """The weights file the card names: a ``.safetensors`` file inside ``directory`` that exists."""
    name = str(card["weights"].get("file", ""))
    if Path(name).name != name or not name.endswith(".safetensors"):
        raise UnsafeModelFormatError(f"the model card names '{name}' as weights; only a .safetensors file "
                                     "inside the model folder is accepted")
    path = directory / name
    if not path.is_file():
        raise ModelCardError(f"the weights file {path} named by the model card is missing")
    return path
