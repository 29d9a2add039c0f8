"""Time the labeling panel's reactions on a project the size of BreakHis (offscreen Qt).

Usage: QT_QPA_PLATFORM=offscreen python benchmarks/bench_labeling_panel.py [--images 7909] [--rounds 4]

Uses (or builds) the synthetic project of ``bench_label_queries.py`` (3x3 sub-images per image,
review rounds of seeded random predictions; the image files do not exist, so no pictures are
drawn). Prints the time to open the project until the image list is shown, and the median GUI
time of: a label key (B), a lock (L), an undo, the next image, a filter change and an order
change; each includes processing the events it posts, not the worker reads it starts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_label_queries import build  # noqa: E402

from bcviewer.gui.labeling import LabelingPanel  # noqa: E402


def wait_for(signal, ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=7909)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    source = Path(tempfile.gettempdir()) / f"bench-labels-{args.images}-{args.rounds}.bcv"
    if not source.exists():
        build(source, args.images, args.rounds)
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "panel.bcv"
        shutil.copy(source, project)  # the benchmark writes labels
        start = time.perf_counter()
        panel = LabelingPanel(project)
        panel.resize(1400, 900)
        panel.show()
        wait_for(panel.overview_loaded)
        print(f"{panel.browser.model.rowCount()} images; open until the list shows: "
              f"{time.perf_counter() - start:.2f} s")

        def timed(fn: Callable[[], object], repeats: int = 9) -> float:
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                app.processEvents()
                times.append(time.perf_counter() - t)
            return statistics.median(times) * 1000

        filters = iter([{"pending_only": True}, {}] * 10)
        orders = iter(["disagreement", "path"] * 10)
        for name, fn in [("label key (B)", lambda: panel.label_selection("benign")),
                         ("lock key (L)", panel.toggle_lock),
                         ("undo (Ctrl+Z)", panel.undo),
                         ("next image (PgDn)", lambda: panel.browser.step(1)),
                         ("filter: pending only / all", lambda: panel.browser.set_filters(**next(filters))),
                         ("order: disagreement / name", lambda: panel.browser.set_order(next(orders)))]:
            print(f"{name:28s} {timed(fn):7.1f} ms")
        panel.shutdown()


if __name__ == "__main__":
    main()
