"""``TileCache``: a size-bounded LRU of decoded slide tiles, keyed by (file generation, level, col, row,
stain normalisation)."""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from PySide6.QtGui import QImage


class TileKey(NamedTuple):
    """One tile of one opened file: ``generation`` changes every time a file is opened; ``stain`` is
    the identity of the stain mapping its pixels went through ("" = the original pixels), so a
    normalised tile never replaces the original one in the cache."""

    generation: int
    level: int
    col: int
    row: int
    stain: str = ""


class TileCache:
    """Least-recently-used tile images, evicted once their bytes exceed ``capacity_mb``.

    Used from the GUI thread only; the loader hands finished tiles over through a queued signal.
    """

    def __init__(self, capacity_mb: float = 256.0) -> None:
        self._capacity = int(capacity_mb * 1024 * 1024)
        self._items: OrderedDict[TileKey, QImage] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def capacity_bytes(self) -> int:
        return self._capacity

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: TileKey) -> bool:
        return key in self._items

    def get(self, key: TileKey) -> QImage | None:
        """The tile, marked as most recently used, or None."""
        image = self._items.get(key)
        if image is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return image

    def peek(self, key: TileKey) -> QImage | None:
        """The tile without touching its recency (for placeholders drawn under the real tile)."""
        return self._items.get(key)

    def put(self, key: TileKey, image: QImage) -> None:
        """Store a tile and evict the least recently used ones beyond capacity."""
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old.sizeInBytes()
        self._items[key] = image
        self._bytes += image.sizeInBytes()
        while self._bytes > self._capacity and len(self._items) > 1:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= evicted.sizeInBytes()

    def drop_generation_except(self, generation: int) -> None:
        """Forget every tile of files other than ``generation``."""
        for key in [k for k in self._items if k.generation != generation]:
            self._bytes -= self._items.pop(key).sizeInBytes()

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
