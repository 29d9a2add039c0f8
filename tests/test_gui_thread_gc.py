"""Cycles holding Qt objects are collected on the GUI thread, never on a worker thread."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt

from bcviewer.gui.gui_thread_gc import collect_garbage_on_gui_thread

ROOT = Path(__file__).resolve().parent.parent


def _allocate_cycles(n: int) -> None:
    for _ in range(n):
        cycle: list[object] = []
        cycle.append(cycle)


def test_a_cycle_holding_a_qt_object_dies_on_the_gui_thread(qtbot) -> None:  # noqa: ANN001
    collector = collect_garbage_on_gui_thread()
    assert collector is collect_garbage_on_gui_thread()  # one collector per process
    assert not gc.isenabled()
    gc.collect()
    freed_on: list[int] = []
    owner = QObject()
    owner.cycle = owner  # only the cyclic collector can free it
    owner.destroyed.connect(lambda: freed_on.append(threading.get_ident()), Qt.ConnectionType.DirectConnection)
    del owner

    # A worker that allocates many cycles would start a collection on its own thread if the
    # automatic collector were on; here nothing is collected until the GUI thread's timer runs.
    worker = threading.Thread(target=_allocate_cycles, args=(50 * gc.get_threshold()[0],))
    worker.start()
    worker.join()
    assert freed_on == []

    qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)  # the 1 s timer, on this thread
    assert freed_on == [threading.get_ident()]


def test_the_viewer_switches_worker_thread_collection_off(tmp_path: Path) -> None:
    code = (
        "import gc, os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'; "
        "from bcviewer.gui.app import run_gui; "
        "run_gui(['--screenshot', sys.argv[1], '--timeout', '0']); "
        "print(gc.isenabled())"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "window.png")], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
