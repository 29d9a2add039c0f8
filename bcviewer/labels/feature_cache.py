"""Trunk feature maps of sub-images, computed once and reused by every self-learning round.

The ImageNet trunk of the Lite hybrid is frozen, so a sub-image's feature map never changes while
its label does. Maps are kept in memory and, per image file, in one safetensors file of the user's
cache, keyed by the trunk's weights and input size and by the file's path, size and modification
time: a project reopened tomorrow, or another project holding the same images, starts warm, and an
edited image file is read again.

The trunk is any callable from a preprocessed float32 ``(N, 3, H, W)`` batch
(:func:`bcviewer.nets.preprocess.preprocess_numpy`, the one preprocessing of every runtime) to
float32 ``(N, C, h, w)`` maps: the shipped ONNX trunk in ONNX Runtime
(:mod:`bcviewer.nets.trunk_runtime`, no PyTorch) or the torch module
(:class:`bcviewer.labels.lite_trainer.TorchTrunk`). This module never imports PyTorch; maps are
numpy arrays and the cache files are written with ``safetensors.numpy``.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import platformdirs
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from bcviewer.errors import BcviewerError
from bcviewer.labels.queries import SubImageRef
from bcviewer.nets.preprocess import InputSpec, preprocess_numpy, resize_tiles
from bcviewer.slides import open_slide

FeatureProgress = Callable[[int, int], None]
"""``progress(done, total)``: sub-images with a feature map so far, of those asked for."""

TrunkRunner = Callable[[np.ndarray], np.ndarray]
"""``trunk(x)``: float32 ``(N, C, h, w)`` feature maps of a preprocessed float32 ``(N, 3, H, W)`` batch."""


def default_cache_folder() -> Path:
    """Where feature maps are cached between sessions (the user's cache folder)."""
    return Path(platformdirs.user_cache_dir("bcviewer")) / "features"


class FeaturesCancelled(Exception):
    """The caller's stop check turned true between two images."""


def _file_key(path: Path) -> str:
    stat = path.stat()
    text = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _rect_name(ref: SubImageRef) -> str:
    return f"{ref.x}_{ref.y}_{ref.w}_{ref.h}"


class SubImageFeatureCache:
    """Feature maps ``(C, h, w)`` float16 of sub-images through a frozen ``trunk``.

    ``trunk_id`` names the trunk's weights, runtime and input (it separates caches of different
    trunks); ``folder`` is where per-image files go (None: memory only).
    """

    def __init__(self, trunk: TrunkRunner, spec: InputSpec, trunk_id: str, folder: Path | None) -> None:
        self.trunk = trunk
        self.spec, self.trunk_id = spec, trunk_id
        self.folder = folder / trunk_id if folder is not None else None
        self._maps: dict[tuple[str, str], np.ndarray] = {}
        self._keys: dict[Path, str] = {}
        self.computed = 0  # sub-images run through the trunk by this cache (the rest came from disk or memory)

    def _key(self, path: Path) -> str:
        if path not in self._keys:
            try:
                self._keys[path] = _file_key(path)
            except OSError as exc:
                raise BcviewerError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return self._keys[path]

    def maps(self, refs: Sequence[SubImageRef], should_stop: Callable[[], bool] | None = None,
             progress: FeatureProgress | None = None) -> np.ndarray:
        """``(N, C, h, w)`` float16 maps of ``refs`` in order; missing ones are computed image by image.

        ``should_stop`` is polled between images (:class:`FeaturesCancelled`); maps already
        computed stay cached.
        """
        by_file: dict[Path, list[SubImageRef]] = defaultdict(list)
        for ref in refs:
            if (self._key(ref.path), _rect_name(ref)) not in self._maps:
                by_file[ref.path].append(ref)
        done = len(refs) - sum(len(v) for v in by_file.values())
        if by_file and progress is not None:
            progress(done, len(refs))
        for path, group in by_file.items():
            if should_stop is not None and should_stop():
                raise FeaturesCancelled("feature computation was cancelled")
            self._load_image(path, group)
            done += len(group)
            if progress is not None:
                progress(done, len(refs))
        if not refs:
            return np.zeros(0, np.float16)
        return np.stack([self._maps[(self._key(r.path), _rect_name(r))] for r in refs])

    def round_maps(self, refs: Sequence[SubImageRef], should_stop: Callable[[], bool] | None = None,
                   progress: FeatureProgress | None = None) -> np.ndarray:
        """:meth:`maps` for a self-learning trainer: a stop asked for while features are computed
        ends the run as any other stop does (:class:`~bcviewer.labels.selflearn.SelfLearningCancelled`)."""
        from bcviewer.labels.selflearn import SelfLearningCancelled

        try:
            return self.maps(refs, should_stop, progress)
        except FeaturesCancelled as exc:
            raise SelfLearningCancelled() from exc

    def _disk_file(self, key: str) -> Path | None:
        return self.folder / f"{key}.safetensors" if self.folder is not None else None

    def _load_image(self, path: Path, wanted: Sequence[SubImageRef]) -> None:
        key = self._key(path)
        stored: dict[str, np.ndarray] = {}
        file = self._disk_file(key)
        if file is not None and file.is_file():
            try:
                stored = load_file(str(file))
            except (SafetensorError, OSError, ValueError):
                stored = {}  # a damaged cache file is rebuilt below
        missing = [r for r in wanted if _rect_name(r) not in stored]
        if missing:
            stored.update(self._compute(path, missing))
            self._save(file, stored)
        for name, tensor in stored.items():
            self._maps[(key, name)] = tensor

    def _compute(self, path: Path, refs: Sequence[SubImageRef]) -> dict[str, np.ndarray]:
        with open_slide(path) as slide:
            tiles = np.stack([resize_tiles(slide.read_region(0, r.x, r.y, r.w, r.h)[None], self.spec.size)[0]
                              for r in refs])
        maps = np.asarray(self.trunk(preprocess_numpy(tiles, self.spec))).astype(np.float16)
        self.computed += len(refs)
        return {_rect_name(r): np.ascontiguousarray(maps[i]) for i, r in enumerate(refs)}

    @staticmethod
    def _save(file: Path | None, tensors: dict[str, np.ndarray]) -> None:
        if file is None:
            return
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            partial = file.with_name(f".{file.name}.{os.getpid()}.partial")
            save_file(tensors, str(partial))
            os.replace(partial, file)
        except OSError:
            pass  # a cache that cannot be written only costs time on the next run
