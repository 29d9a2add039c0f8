"""Macenko stain normalisation of H&E tiles (torchstain's NumPy implementation), stored in the card.

Each tile's own haematoxylin and eosin vectors and concentration range are estimated and mapped
onto a reference fitted on a training-patient image, so that stain differences between labs and
patients do not reach the network. Tiles where the estimate is impossible (blank glass, a single
stain) are passed through unchanged: normalising them would invent colour.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from bcviewer.nets.errors import ModelCardError

METHOD = "macenko"


class StainNormaliser:
    """A Macenko normaliser with a fixed reference (stain matrix ``he`` 3x2, ``max_c`` 2)."""

    def __init__(self, he: np.ndarray, max_c: np.ndarray) -> None:
        from torchstain.numpy.normalizers import NumpyMacenkoNormalizer as MacenkoNormalizer

        he, max_c = np.asarray(he, dtype=np.float64), np.asarray(max_c, dtype=np.float64)
        if he.shape != (3, 2) or max_c.shape != (2,) or not np.isfinite(he).all() or not (max_c > 0).all():
            raise ModelCardError("the card's stain reference needs a finite 3x2 'he' matrix and two positive 'max_c'")
        self._impl = MacenkoNormalizer()
        self._impl.HERef, self._impl.maxCRef = he, max_c

    @classmethod
    def default(cls) -> StainNormaliser:
        """The published Macenko reference (torchstain's default), fitted on no data of ours, so no
        patient of any fold leaks into the normalisation."""
        from torchstain.numpy.normalizers import NumpyMacenkoNormalizer as MacenkoNormalizer

        impl = MacenkoNormalizer()
        return cls(impl.HERef, impl.maxCRef)

    @classmethod
    def fit(cls, rgb: np.ndarray) -> StainNormaliser:
        """A reference fitted on one RGB uint8 image (choose it from the training patients)."""
        from torchstain.numpy.normalizers import NumpyMacenkoNormalizer as MacenkoNormalizer

        impl = MacenkoNormalizer()
        impl.fit(rgb)
        return cls(impl.HERef, impl.maxCRef)

    def to_dict(self) -> dict[str, Any]:
        """The card's ``input.stain`` section."""
        return {"method": METHOD, "he": np.round(self._impl.HERef, 6).tolist(),
                "max_c": np.round(self._impl.maxCRef, 6).tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StainNormaliser:
        """Rebuild from the card's ``input.stain`` section."""
        if not isinstance(data, dict) or data.get("method") != METHOD:
            raise ModelCardError(f"unknown stain normalisation in the model card (only '{METHOD}' is known)")
        return cls(np.array(data.get("he")), np.array(data.get("max_c")))

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        """The normalised RGB uint8 tile, or the tile itself where no estimate is possible."""
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out, _, _ = self._impl.normalize(I=tile, stains=False)
        except (np.linalg.LinAlgError, ValueError, IndexError, FloatingPointError):
            return tile
        if out.shape != tile.shape or not np.isfinite(out).all():
            return tile
        normalised: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
        return normalised
