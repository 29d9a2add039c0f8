"""Two processes on one project: the viewer's store and the CLI, interleaved, lose nothing.

The viewer (this test process) keeps its project open the whole time, as the labeling panel does,
and, like the panel's background jobs, opens and closes short-lived stores on the same file. A
second process (``labels_peer_child.py``) runs the CLI's commands on the project between the
viewer's writes: label writes, ``labels stats``, ``labels export`` and self-learning rounds, each
closing its connection when done. Before the fix, the jobs' header read (``open()``/``close()``)
dropped the panel's POSIX locks, the peer's close then believed it was the last connection and
deleted the write-ahead log the panel was still writing to: labels acknowledged to the annotator
vanished. After every step this test checks that the viewer holds no deleted ``-wal``/``-shm``,
and at the end that every acknowledged label, from either process, is in the file.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from labels_helpers import LabelPeer, copied_fixtures, deleted_companions_held

from bcviewer.labels import LabelStore
from bcviewer.labels.importer import import_images

STEPS = 120
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self/fd to see deleted write-ahead logs (Linux)")


def _project(tmp_path: Path, test_data: Path) -> Path:
    images = copied_fixtures(tmp_path / "images", test_data / "breakhis", copies=3)
    path = tmp_path / "shared.bcv"
    with LabelStore.create(path) as store:
        assert len(import_images(store, [images]).added) == 12
    return path


def _flipped(store: LabelStore, subimage_id: int) -> str:
    return "benign" if store.subimage(subimage_id).label == "malignant" else "malignant"


@pytest.mark.parametrize("seed", [20261207, 7, 1999])
def test_viewer_and_cli_interleaved_lose_no_acknowledged_label(seed: int, tmp_path: Path, test_data: Path) -> None:
    project = _project(tmp_path, test_data)
    rng = random.Random(seed)
    viewer = LabelStore.open(project, busy_timeout_s=5.0)
    sub_ids = [r.subimage_id for r in viewer.subimage_refs()]
    acknowledged: dict[int, tuple[int, str, str]] = {}  # history id -> (sub-image, label, reason)
    peer = LabelPeer(project)
    commands = {"write": 0, "stats": 0, "export": 0, "round": 0}
    try:
        for step in range(STEPS):
            sub = rng.choice(sub_ids)
            label = _flipped(viewer, sub)
            (hid,) = viewer.set_label([sub], label, f"viewer-{step}")
            acknowledged[hid] = (sub, label, f"viewer-{step}")
            with LabelStore.open(project, readonly=True) as job:  # the panel's background jobs do this
                assert job.counts().total == 108
            kind = "round" if step % 15 == 7 else rng.choice(["write", "write", "stats", "export"])
            commands[kind] += 1
            if kind == "write":
                sub = rng.choice(sub_ids)
                label = _flipped(viewer, sub)  # a change, so the write is never a no-op
                hid = int(peer.ask(f"write {sub} {label} peer-{step}").split()[1])
                acknowledged[hid] = (sub, label, f"peer-{step}")
                assert viewer.history(sub, limit=1)[0].id == hid  # the viewer sees the CLI's label at once
            elif kind == "stats":
                peer.ask("stats")
            elif kind == "export":
                peer.ask(f"export {tmp_path / 'labels.csv'}")
                assert len((tmp_path / "labels.csv").read_text().splitlines()) == 109
            else:
                peer.ask(f"round {step}")
            assert deleted_companions_held(project) == [], f"step {step} ({kind}) unlinked the viewer's log"
    finally:
        peer.close()
        viewer.close()
    assert all(commands.values()), commands
    with LabelStore.open(project, readonly=True) as store:
        assert store.integrity_check() == "ok"
        rows = {h.id: h for h in store.history(limit=100_000)}
    for hid, (sub, label, reason) in acknowledged.items():
        row = rows.get(hid)
        assert row is not None, f"acknowledged label {reason} (history {hid}) was lost"
        assert (row.subimage_id, row.new_label, row.reason) == (sub, label, reason)


def test_the_slide_opener_never_opens_a_label_project(tmp_path: Path, test_data: Path) -> None:
    """Opening the project as a slide (a drop on the viewer) would open() and close() it in the
    process that holds the panel's connection: refused by name, before any read."""
    from bcviewer.slides import SlideError, open_slide

    project = _project(tmp_path, test_data)
    with LabelStore.open(project) as viewer:
        viewer.counts()  # the connection now holds its locks and write-ahead log
        for path in (project, project.with_name(project.name + "-wal")):
            with pytest.raises(SlideError, match="is a label project, not a slide; open it in the Labeling tab"):
                open_slide(path)
        assert deleted_companions_held(project) == []
