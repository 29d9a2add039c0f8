"""Shared helpers of the label-store tests: projects built from the BreakHis fixtures, scorers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from bcviewer.labels import LabelStore, SubImageRef
from bcviewer.slides import open_slide


def fixture_project(path: Path, breakhis: Path) -> LabelStore:
    """A new project holding the 4 BreakHis fixture images (2 benign, 2 malignant)."""
    from bcviewer.labels.importer import import_images

    store = LabelStore.create(path)
    report = import_images(store, [breakhis])
    assert len(report.added) == 4 and not report.failed
    return store


def copied_fixtures(folder: Path, breakhis: Path, copies: int) -> Path:
    """``copies`` renamed copies of each fixture image (new sequence numbers) in ``folder``.

    The pixels are the fixture's; a PNG text chunk with the copy number makes each file's
    content (and hash) distinct, so the importer does not skip them as duplicates.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for src in sorted(breakhis.glob("*.png")):
        stem = src.name.rsplit("-", 1)[0]
        with Image.open(src) as image:
            image.load()
            for k in range(copies):
                info = PngInfo()
                info.add_text("copy", str(k + 1))
                image.save(folder / f"{stem}-{k + 1:03d}.png", pnginfo=info, compress_level=1)
    return folder


class DarknessScorer:
    """p_malignant from real pixels: the share of dark (nuclei-rich) pixels, scaled.

    Deterministic and content-based, so rule tests run on what the fixtures actually show.
    """

    def __init__(self, scale: float = 2.0) -> None:
        self.scale = scale

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        out = []
        for ref in items:
            with open_slide(ref.path) as slide:
                rgb = slide.read_region(0, ref.x, ref.y, ref.w, ref.h)
            dark = float((rgb.mean(axis=2) < 150).mean())
            out.append(min(1.0, dark * self.scale))
        return np.array(out)


class TableScorer:
    """p_malignant from a table keyed by (file name, row, col); missing keys give ``default``."""

    def __init__(self, table: dict[tuple[str, int, int], float], default: float = 0.9) -> None:
        self.table, self.default = table, default
        self.calls = 0

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        self.calls += 1
        return np.array([self.table.get((r.path.name, r.row, r.col), self.default) for r in items])


class SeededScorer:
    """Pseudo-random p_malignant, a new draw per call (fast; for the crash tests)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def score(self, items: Sequence[SubImageRef]) -> np.ndarray:
        return self.rng.random(len(items))


def deleted_companions_held(project: Path) -> list[str]:
    """This process's open descriptors on ``project``'s ``-wal``/``-shm`` files that were unlinked.

    A connection that holds such a descriptor writes its labels into a file nobody will read
    again: the loss the two-process tests guard against. Linux only (``/proc/self/fd``).
    """
    import os

    names = {f"{project.resolve()}{suffix}" for suffix in ("-wal", "-shm")}
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listdir and readlink
            continue
        if target.endswith(" (deleted)") and target[: -len(" (deleted)")] in names:
            held.append(target)
    return held


class LabelPeer:
    """A second process running CLI commands on a project (``labels_peer_child.py``): one command a
    line in, one acknowledgement a line out."""

    def __init__(self, project: Path) -> None:
        import os
        import subprocess
        import sys

        root = Path(__file__).resolve().parent.parent
        child = Path(__file__).resolve().parent / "labels_peer_child.py"
        env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, str(child), str(project)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root, env=env)
        assert self.ask(None) == "ready"

    def ask(self, command: str | None) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not (answer == "ready" or answer.startswith("ok")):
            self.proc.stdin.close()
            rest = self.proc.stdout.read()  # the rest of the traceback, up to the child's exit
            raise AssertionError(f"peer failed on {command!r}: {answer} {rest}")
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
