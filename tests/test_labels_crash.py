"""Crash safety: a writer SIGKILLed 50 times mid-round or mid-save loses nothing it reported saved.

Each run starts ``labels_crash_child.py`` on the same project, waits until it has opened the
file, lets it write for a random moment and kills it with SIGKILL. Then the file must pass
``PRAGMA integrity_check``, every label the child reported saved must be in the audit trail,
and every sub-image's current state must equal its latest history row (no half-applied change).
Also: a reader (the viewer) keeps reading consistent snapshots while a writer works.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labels_helpers import LabelPeer, copied_fixtures, deleted_companions_held

from bcviewer.labels import LabelStore
from bcviewer.labels.importer import import_images

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "labels_crash_child.py"
KILLS = 50
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")


def _project(tmp_path: Path, test_data: Path) -> Path:
    images = copied_fixtures(tmp_path / "images", test_data / "breakhis", copies=10)
    path = tmp_path / "crash.bcv"
    with LabelStore.create(path) as store:
        assert len(import_images(store, [images]).added) == 40
    return path


def _start(mode: str, project: Path, seed: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(CHILD), mode, str(project), str(seed)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while b"ready\n" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the writer did not start: {log.read_text(errors='replace')}")
        time.sleep(0.01)
    return proc


def _saved_lines(log: Path) -> list[list[str]]:
    text = log.read_text()
    complete = text[: text.rfind("\n") + 1]  # a line cut by the kill was not reported
    return [line.split()[1:] for line in complete.splitlines() if line.startswith("saved ")]


def _check(store: LabelStore, saved: list[list[str]]) -> int:
    conn = store._conn
    assert store.integrity_check() == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    for fields in saved:
        if fields[0] == "round":
            round_id, what, count = int(fields[1]), fields[2], int(fields[3])
            status, stats = conn.execute("SELECT status, stats FROM rounds WHERE id = ?", (round_id,)).fetchone()
            batch = json.loads(stats)["batch"]
            relabels = conn.execute("SELECT id FROM history WHERE batch = ? AND action = 'relabel'",
                                    (batch,)).fetchall()
            if what == "done":
                assert status in ("done", "reverted") and len(relabels) == count
            else:
                assert status == "reverted"
                reverts = conn.execute(
                    "SELECT COUNT(*) FROM history WHERE action = 'revert' AND undoes IN"
                    " (SELECT id FROM history WHERE batch = ? AND action = 'relabel')", (batch,)).fetchone()[0]
                assert reverts == count
        else:
            hid, sub, label, locked = int(fields[0]), int(fields[1]), fields[2], int(fields[3])
            row = conn.execute("SELECT subimage_id, new_label, new_locked FROM history WHERE id = ?", (hid,)).fetchone()
            assert row == (sub, label, locked), f"history row {hid} reported saved is missing or different"
    mismatched = conn.execute(
        "SELECT COUNT(*) FROM subimages s"
        " JOIN history h ON h.id = (SELECT MAX(id) FROM history WHERE subimage_id = s.id)"
        " WHERE (s.label, s.source, s.locked, s.round) IS NOT (h.new_label, h.new_source, h.new_locked, h.round)"
    ).fetchone()[0]
    assert mismatched == 0, "a sub-image's label differs from its latest history row"
    return len(saved)


@pytest.mark.parametrize("attached", [False, True], ids=["alone", "viewer-attached"])
def test_sigkill_during_rounds_and_saves_loses_nothing_reported(attached: bool, tmp_path: Path,
                                                                test_data: Path) -> None:
    """With ``attached``, this process plays the viewer: it keeps the project open through every
    kill, writes a label of its own after each, and opens and closes a second store as the panel's
    jobs do; a second, long-lived process runs ``labels stats`` after each kill, so a connection
    closes normally beside the killed ones. The viewer's write-ahead log must never be unlinked
    and its labels must survive too."""
    if attached and not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/fd to see a deleted write-ahead log (Linux)")
    project = _project(tmp_path, test_data)
    rng = random.Random(20240611)
    saved_total = {"annotate": 0, "relabel": 0}
    viewer = LabelStore.open(project, busy_timeout_s=5.0) if attached else None
    peer = LabelPeer(project) if attached else None
    viewer_saved: list[list[str]] = []
    kills = KILLS // 2 if attached else KILLS
    try:
        for run in range(kills):
            mode = "relabel" if run % 2 else "annotate"
            log = tmp_path / f"child-{run}.log"
            proc = _start(mode, project, run, log)
            time.sleep(rng.uniform(0.02, 0.35))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL, log.read_text()
            if viewer is not None:
                viewer_saved += _viewer_writes(viewer, rng)
                assert deleted_companions_held(project) == [], f"kill {run} left the viewer a deleted log"
            with LabelStore.open(project) as store:
                saved_total[mode] += _check(store, _saved_lines(log) + viewer_saved)
            if viewer is not None and peer is not None:
                peer.ask("stats")
                assert deleted_companions_held(project) == [], f"kill {run}: the CLI unlinked the viewer's log"
    finally:
        if peer is not None:
            peer.close()
        if viewer is not None:
            viewer.close()
    print(f"saved before the kills: {saved_total}")  # shown with pytest -s
    # both kinds of writer really wrote before being killed, many times over
    assert saved_total["annotate"] > 100 // (2 if attached else 1), saved_total
    assert saved_total["relabel"] > 25 // (2 if attached else 1), saved_total
    with LabelStore.open(project) as store:
        statuses = {r.status for r in store.rounds()}
        assert statuses <= {"done", "reverted", "interrupted", "running"} and "reverted" in statuses


def _viewer_writes(viewer: LabelStore, rng: random.Random) -> list[list[str]]:
    """One label edit by the attached viewer, in the ``saved`` line format of the crash child."""
    unlocked = [r.id for r in viewer.subimages(rng.choice(viewer.images()).id) if not r.locked]
    if not unlocked:
        return []
    sub = rng.choice(unlocked)
    label = "benign" if viewer.subimage(sub).label == "malignant" else "malignant"
    return [[str(h), str(sub), label, "0"] for h in viewer.set_label([sub], label, "viewer")]


def test_reader_works_while_a_writer_runs(tmp_path: Path, test_data: Path) -> None:
    project = _project(tmp_path, test_data)
    proc = _start("annotate", project, 7, tmp_path / "writer.log")
    try:
        with LabelStore.open(project, readonly=True) as reader:
            version = reader.data_version()
            seen = []
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                counts = reader.counts()
                assert counts.total == 360
                assert sum(i.n_benign + i.n_malignant for i in reader.images()) == 360
                assert len(reader.subimages(reader.images(limit=1)[0].id)) == 9
                seen.append(reader.history(limit=1)[0].id)
            assert proc.poll() is None  # the writer was running the whole time
            assert reader.data_version() != version  # how a view learns that it must refresh
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(seen) > 10 and seen[-1] > seen[0]  # the reader saw the writer's commits as they came
    assert seen == sorted(seen)
