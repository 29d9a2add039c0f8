"""Second process of the two-process label tests: the CLI working on a project the viewer holds open.

``python labels_peer_child.py PROJECT``. Reads one command a line from stdin and answers one line
(flushed) when it has finished, so the parent knows what was acknowledged:

* ``write SUBIMAGE LABEL TAG``: one label edit, as a separate ``LabelStore`` opened and closed
  for the command (as every CLI command does); answers ``ok <history id>``;
* ``stats`` / ``export CSV``: the real ``bcviewer labels stats|export`` code, in this process;
  answers ``ok``;
* ``round SEED``: a self-learning round through the core engine the CLI and the panel use, with a
  seeded scorer (a trained model would add minutes and nothing to what is tested), then its
  revert so the next round has work; answers ``ok <round id> <relabelled>``;
* ``quit``.

Every command ends with its connection closed: that close is what deleted the viewer's
write-ahead log when the viewer's locks had been dropped.
"""

from __future__ import annotations

import contextlib
import io
import sys

import numpy as np

from bcviewer.cli.main import main as cli_main
from bcviewer.labels import LabelStore, SelfLearningEngine, TauSchedule


class _Scorer:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def score(self, items: list) -> np.ndarray:
        return self.rng.random(len(items))


def _cli(argv: list[str]) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli_main(argv)
    if code != 0:
        raise SystemExit(f"bcviewer {' '.join(argv)} exited {code}: {out.getvalue()}")


def handle(project: str, words: list[str]) -> str:
    """Run one command on ``project``; the answer line."""
    if words[0] == "write":
        with LabelStore.open(project) as store:
            ids = store.set_label([int(words[1])], words[2], words[3])
        return f"ok {ids[0]}"
    if words[0] == "stats":
        _cli(["labels", "stats", project])
        return "ok"
    if words[0] == "export":
        _cli(["labels", "export", project, "--csv", words[1]])
        return "ok"
    if words[0] == "round":
        with LabelStore.open(project) as store:
            engine = SelfLearningEngine(store, scorer=_Scorer(int(words[1])), schedule=TauSchedule((0.4,)),
                                        mode="auto")
            report = engine.run_round()
            store.revert_round(report.round_id)
        return f"ok {report.round_id} {report.stats['relabelled']}"
    raise SystemExit(f"unknown command {words!r}")


def main() -> None:
    project = sys.argv[1]
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        print(handle(project, words), flush=True)


if __name__ == "__main__":
    main()
