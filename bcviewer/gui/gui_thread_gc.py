"""Python's cyclic garbage collector runs on the GUI thread only.

Left alone, the collector runs on whichever thread allocates when a generation fills up. When that
is a worker thread (reading a model card, scoring tiles) and the garbage holds Qt objects made on
the GUI thread (a closed window, a dialog, their signal connections), Qt tears them down from the
wrong thread. CI's minimum-versions job died that way: a segmentation fault inside a collection
started by a worker's ``json.loads``. pyqtgraph's ``GarbageCollector`` switches automatic
collection off and collects from a timer on the GUI thread instead; reference counting still frees
everything that is not in a cycle at once.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None


def collect_garbage_on_gui_thread(interval_s: float = 1.0) -> GarbageCollector:
    """Turn automatic collection off and collect every ``interval_s`` on this (the GUI) thread.

    Idempotent: later calls return the first collector. Call it from the GUI thread, before any
    worker starts; the timer fires while that thread runs an event loop, and
    ``collector.check()`` collects there at any other safe moment.
    """
    global _collector
    if _collector is None:
        _collector = GarbageCollector(interval=interval_s)
    elif gc.isenabled():  # someone switched it back on; the timer alone is no longer enough
        gc.disable()
    return _collector
