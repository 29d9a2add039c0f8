"""Child process of the crash tests: writes to a project until it is killed.

``python labels_crash_child.py annotate|relabel PROJECT SEED``. After each commit it prints one
``saved ...`` line per thing committed (flushed), so the parent knows what must survive a kill.

* ``annotate``: random human label edits, locks, unlocks and undos; prints
  ``saved <history id> <sub-image id> <label> <locked>`` for every history row written.
* ``relabel``: auto rounds with a fast pseudo-random scorer, each followed by a revert (so the
  next round has work again), and now and then a review round; prints
  ``saved round <round id> <status> <history rows of the round>``.
"""

from __future__ import annotations

import random
import sys

import numpy as np

from bcviewer.labels import LabelStore, LockedSubImageError, SelfLearningEngine, TauSchedule


class _Scorer:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def score(self, items: list) -> np.ndarray:
        return self.rng.random(len(items))


def _report_rows(store: LabelStore, ids: list[int]) -> None:
    rows = {h.id: h for h in store.history(limit=max(len(ids), 1) + 5)}
    for hid in ids:
        h = rows[hid]
        print(f"saved {h.id} {h.subimage_id} {h.new_label} {int(h.new_locked)}", flush=True)


def annotate(store: LabelStore, rng: random.Random) -> None:
    ids = [r.subimage_id for r in store.subimage_refs()]
    while True:
        action = rng.random()
        picked = rng.sample(ids, rng.randint(1, 4))
        if action < 0.6:
            try:
                written = store.set_label(picked, rng.choice(["benign", "malignant"]), "crash test")
            except LockedSubImageError:
                continue
        elif action < 0.8:
            written = store.set_locked(picked, rng.random() < 0.5)
        else:
            result = store.undo()
            written = list(result.history_ids) if result else []
        _report_rows(store, written)


def relabel(store: LabelStore, seed: int) -> None:
    k = 0
    while True:
        k += 1
        mode = "review" if k % 5 == 0 else "auto"
        for waiting in sorted({p.round_id for p in store.proposals()}):
            # a review round a killed child left undecided: withdraw it, or no round may start
            print(f"saved round {waiting} reverted {store.revert_round(waiting)}", flush=True)
        engine = SelfLearningEngine(store, scorer=_Scorer(seed * 1000 + k), schedule=TauSchedule((0.4,)), mode=mode)
        report = engine.run_round()
        print(f"saved round {report.round_id} done {report.stats['relabelled']}", flush=True)
        reverted = store.revert_round(report.round_id)
        print(f"saved round {report.round_id} reverted {reverted}", flush=True)


def main() -> None:
    mode, path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = LabelStore.open(path)
    print("ready", flush=True)
    if mode == "annotate":
        annotate(store, random.Random(seed))
    else:
        relabel(store, seed)


if __name__ == "__main__":
    main()
