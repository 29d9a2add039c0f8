"""Shared test setup: offscreen Qt, fixture paths, and skipping of data-hungry tests.

Tests marked ``shared`` need ``../shared/data`` (the full BreakHis, IDC and gene data) and are
skipped with a reason on a user's machine, where only ``tests/data`` exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep torch and OpenCV from oversubscribing the 2-core CI machine when tests run threads.
os.environ.setdefault("OMP_NUM_THREADS", "2")

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / "tests" / "data"
SHARED_DATA = Path(os.environ.get("BCVIEWER_SHARED_DATA", ROOT.parent / "shared" / "data"))
SHARED_REASON = f"needs the full data set at {SHARED_DATA}, which is absent on this machine"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=SHARED_REASON)
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def test_data() -> Path:
    """Folder of the small fixtures shipped with the project."""
    return TEST_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full data folder; tests using it must be marked ``shared``."""
    if not SHARED_DATA.is_dir():
        pytest.skip(SHARED_REASON)
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny nets run fastest on one thread, and the 2-core CI machine is shared by the suite."""
    import torch  # imported here so that collecting Qt-only or reader tests stays light

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def garbage_collected_on_the_gui_thread(qapp: object) -> Iterator[object]:
    """As in the app: no collection on worker threads, where tearing down Qt objects crashes."""
    import gc

    from bcviewer.gui.gui_thread_gc import collect_garbage_on_gui_thread

    collector = collect_garbage_on_gui_thread()
    yield collector
    gc.enable()


@pytest.fixture(autouse=True)
def garbage_collected_between_tests(garbage_collected_on_the_gui_thread: object) -> Iterator[None]:
    """Tests that run no event loop give the timer no chance; collect after each on this thread."""
    yield
    garbage_collected_on_the_gui_thread.check()  # type: ignore[attr-defined]
