"""Stain normalisation of H&E tiles (torchstain's NumPy Macenko and Reinhard), and its references.

A :class:`StainReference` is what tiles are normalised *to*: a method ("macenko": a 3x2 stain
matrix ``he`` and the 99th-percentile concentrations ``max_c``; "reinhard": the means and standard
deviations of L, a and b) and where it was fitted. Its identity is ``sha256`` of the canonical JSON
of the method and its rounded parameters (not of its source's name), so the same reference has the
same hash wherever it is reported. The shipped defaults (:func:`default_reference`) were fitted on
a training-fold image of the shipped BreakHis model (``stain_reference.json`` names it).

:class:`StainNormaliser` is the model card's normaliser (``input.stain``): each tile's own stain
parameters are estimated and mapped onto the reference, as during training. Tiles where the
estimate is impossible (blank glass, a single stain) are passed through unchanged: normalising them
would invent colour. The viewer's normalisation, which must not change from tile to tile, is
:mod:`bcviewer.nets.stain_mapping`. :func:`stain_provenance` says, for any output, what a model's
input went through.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from bcviewer.errors import BcviewerError
from bcviewer.nets.errors import ModelCardError

if TYPE_CHECKING:
    from bcviewer.nets.cards import InputSpec

METHOD = "macenko"  # the card's method when none is named (cards written before Reinhard existed)
METHODS = ("macenko", "reinhard")
SHAPES: dict[str, dict[str, tuple[int, ...]]] = {"macenko": {"he": (3, 2), "max_c": (2,)},
                                                 "reinhard": {"means": (3,), "stds": (3,)}}
DIGITS = 6  # parameters are rounded before hashing, so a reference read back from JSON hashes the same
IO, BETA = 240.0, 0.15  # Macenko's transmitted light and its "transparent" optical density
MIN_TISSUE_SHARE = 0.01  # a reference image with fewer stained pixels than this is glass
MIN_TISSUE_PIXELS = 500
REFERENCE_FILE = "stain_reference.json"
NONE_PROVENANCE = {"method": "none", "reference": "none", "sha256": "none"}


class StainReferenceError(BcviewerError):
    """A stain reference cannot be fitted on an image (no tissue) or read (not a reference)."""


@dataclass(frozen=True)
class StainReference:
    """A method and its fixed target parameters; ``source`` says where they were fitted."""

    method: str
    values: dict[str, tuple[float, ...]] = field(hash=False)
    source: str = field(default="", compare=False)

    @classmethod
    def create(cls, method: str, values: dict[str, Any], source: str = "") -> StainReference:
        """Check shapes and finiteness, round to :data:`DIGITS`; a bad one raises StainReferenceError."""
        if method not in METHODS:
            raise StainReferenceError(f"unknown stain normalisation '{method}' (known: {', '.join(METHODS)})")
        clean: dict[str, tuple[float, ...]] = {}
        for name, shape in SHAPES[method].items():
            try:
                array = np.asarray(values.get(name), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise StainReferenceError(f"the {method} reference's '{name}' is not a list of numbers") from exc
            if array.shape != shape or not np.isfinite(array).all():
                raise StainReferenceError(f"the {method} reference needs a finite {'x'.join(map(str, shape))} "
                                          f"'{name}'")
            clean[name] = tuple(float(v) for v in np.round(array, DIGITS).ravel())
        positive = "max_c" if method == "macenko" else "stds"
        if min(clean[positive]) <= 0:
            raise StainReferenceError(f"the {method} reference's '{positive}' must be positive")
        return cls(method, clean, source)

    def array(self, name: str) -> np.ndarray:
        """One parameter in its shape (e.g. ``he`` as 3x2)."""
        return np.asarray(self.values[name], dtype=np.float64).reshape(SHAPES[self.method][name])

    def canonical(self) -> dict[str, Any]:
        """Method and parameters as plain JSON (what the hash covers)."""
        return {"method": self.method, **{k: self.array(k).tolist() for k in SHAPES[self.method]}}

    @property
    def sha256(self) -> str:
        """sha256 of the canonical JSON (sorted keys, no spaces)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The card's (or a saved reference's) JSON: canonical parameters plus ``source`` when known."""
        return {**self.canonical(), **({"source": self.source} if self.source else {})}

    @classmethod
    def from_dict(cls, data: Any) -> StainReference:
        """Read back :meth:`to_dict`; a section without ``method`` is Macenko (older cards)."""
        if not isinstance(data, dict):
            raise StainReferenceError("a stain reference must be a JSON object")
        return cls.create(str(data.get("method", METHOD)), data, str(data.get("source", "")))

    def describe(self) -> str:
        """One line for the status bar and reports, e.g. "Macenko to <source> (sha256 1a2b3c4d5e6f)"."""
        return f"{self.method.capitalize()} to {self.source or 'a reference'} (sha256 {self.sha256[:12]})"


def _torchstain(method: str) -> Any:
    from torchstain.numpy.normalizers import (
        NumpyMacenkoNormalizer,
        NumpyReinhardNormalizer,
    )

    return NumpyMacenkoNormalizer() if method == "macenko" else NumpyReinhardNormalizer()


def optical_density(rgb: np.ndarray) -> np.ndarray:
    """Macenko's optical density ``-ln((I + 1) / 240)`` per channel (float32)."""
    return np.asarray(-np.log((rgb.astype(np.float32) + 1.0) / np.float32(IO)), dtype=np.float32)


def stained_pixels(rgb: np.ndarray) -> np.ndarray:
    """The ``(N, 3)`` uint8 pixels Macenko counts as stained: every channel's optical density at least
    :data:`BETA` (glass and the palest background fall below it)."""
    flat = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    return flat[(optical_density(flat) >= BETA).all(axis=1)]


def fit_parameters(method: str, pixels: np.ndarray) -> dict[str, Any]:
    """torchstain's fit of ``method`` on stained ``(N, 3)`` uint8 pixels (glass left out beforehand)."""
    impl = _torchstain(method)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            impl.fit(np.ascontiguousarray(pixels.reshape(1, -1, 3)))
    except (np.linalg.LinAlgError, ValueError, IndexError) as exc:
        raise StainReferenceError(f"the stain could not be estimated ({exc})") from exc
    if method == "macenko":
        return {"he": impl.HERef, "max_c": impl.maxCRef}
    return {"means": impl.target_means, "stds": impl.target_stds}


def fit_reference(method: str, rgb: np.ndarray, source: str) -> StainReference:
    """A reference fitted on the stained pixels of one RGB uint8 image; StainReferenceError when the
    image holds too little stained tissue (blank glass) or the estimate fails."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise StainReferenceError(f"{source}: a stain reference needs an RGB image, not an array of shape {rgb.shape}")
    pixels = stained_pixels(rgb)
    share = len(pixels) / max(rgb.shape[0] * rgb.shape[1], 1)
    if len(pixels) < MIN_TISSUE_PIXELS or share < MIN_TISSUE_SHARE:
        raise StainReferenceError(f"{source} has almost no stained tissue ({share:.1%} of its pixels); choose an "
                                  "H&E image or view with tissue as the stain reference")
    try:
        return StainReference.create(method, fit_parameters(method, pixels), source)
    except StainReferenceError as exc:
        raise StainReferenceError(f"{source}: {exc}") from exc


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    # A broken install (a bundle or wheel without the file) gets one line, not a traceback.
    try:
        text = resources.files("bcviewer.nets").joinpath(REFERENCE_FILE).read_text(encoding="utf-8")
        data: dict[str, Any] = json.loads(text)
        data["references"], data["source"]["label"]  # noqa: B018 (the keys default_reference reads)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise StainReferenceError(f"the shipped stain reference ({REFERENCE_FILE}) cannot be read "
                                  f"({type(exc).__name__}); reinstall bcviewer") from exc
    return data


def default_reference(method: str) -> StainReference:
    """The shipped reference of ``method``, fitted on a training-fold image (see ``stain_reference.json``)."""
    data = _shipped()
    if method not in data["references"]:
        raise StainReferenceError(f"no shipped stain reference for '{method}' (known: {', '.join(METHODS)})")
    return StainReference.from_dict({**data["references"][method], "source": data["source"]["label"]})


def default_reference_source() -> dict[str, str]:
    """Where the shipped references were fitted: image, patient, data set, model and fold."""
    return dict(_shipped()["source"])


class StainNormaliser:
    """A model card's normaliser: each tile's own stain is estimated and mapped onto ``reference``."""

    def __init__(self, reference: StainReference) -> None:
        self.reference = reference
        self._impl = _torchstain(reference.method)
        if reference.method == "macenko":
            self._impl.HERef, self._impl.maxCRef = reference.array("he"), reference.array("max_c")
        else:
            self._impl.target_means, self._impl.target_stds = reference.array("means"), reference.array("stds")

    @classmethod
    def default(cls) -> StainNormaliser:
        """The published Macenko reference (torchstain's default), fitted on no data of ours, so no
        patient of any fold leaks into the normalisation."""
        impl = _torchstain("macenko")
        return cls(StainReference.create("macenko", {"he": impl.HERef, "max_c": impl.maxCRef}, "torchstain default"))

    @classmethod
    def fit(cls, rgb: np.ndarray, method: str = METHOD) -> StainNormaliser:
        """A reference fitted on one RGB uint8 image (choose it from the training patients)."""
        return cls(fit_reference(method, rgb, "an image"))

    def to_dict(self) -> dict[str, Any]:
        """The card's ``input.stain`` section."""
        return self.reference.canonical()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StainNormaliser:
        """Rebuild from the card's ``input.stain`` section (``method`` macenko, the default, or reinhard)."""
        try:
            return cls(StainReference.from_dict(data))
        except StainReferenceError as exc:
            raise ModelCardError(f"the model card's stain section: {exc}") from exc

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        """The normalised RGB uint8 tile, or the tile itself where no estimate is possible."""
        if self.reference.method == "reinhard" and len(stained_pixels(tile)) == 0:
            return tile  # blank glass: its L, a, b spread is noise, and scaling it would invent colour
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                if self.reference.method == "macenko":
                    out, _, _ = self._impl.normalize(I=tile, stains=False)
                else:
                    out = self._impl.normalize(I=tile)
        except (np.linalg.LinAlgError, ValueError, IndexError, FloatingPointError):
            return tile
        if out.shape != tile.shape or not np.isfinite(out).all():
            return tile
        normalised: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
        return normalised


def stain_provenance(spec: InputSpec | dict[str, Any] | None) -> dict[str, str]:
    """What a model's input tiles went through, for every output: ``{"method", "reference", "sha256"}``.

    ``spec``: the model's :class:`InputSpec` (or its card's ``input.stain`` section, or None).
    ``method`` is "none", "macenko" or "reinhard"; ``reference`` names where the reference was
    fitted ("model card" when the card does not say); ``sha256`` is :attr:`StainReference.sha256`.
    All three are "none" for a model without stain normalisation (the shipped ones).
    """
    stain = spec if isinstance(spec, dict) or spec is None else spec.stain
    if stain is None:
        return dict(NONE_PROVENANCE)
    reference = StainReference.from_dict(stain)
    return {"method": reference.method, "reference": reference.source or "model card", "sha256": reference.sha256}
