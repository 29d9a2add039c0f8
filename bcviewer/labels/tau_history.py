"""The tau schedule a project last ran with, so a viewer shows it instead of the default.

Every round records the schedule of its run (``params["schedule"]``, written by the
self-learning engine for the CLI and the panel alike). A round without one (an older project)
gives its own tau, as a one-value schedule. Only completed rounds count: a reverted or
interrupted round's schedule is not what the project continues with.
"""

from __future__ import annotations

from collections.abc import Sequence

from bcviewer.labels.errors import SelfLearningError
from bcviewer.labels.records import RoundRow
from bcviewer.labels.selflearn import TauSchedule


def project_schedule(rounds: Sequence[RoundRow]) -> TauSchedule | None:
    """The schedule of the project's last completed round (by level, then start); None when none completed."""
    done = [r for r in rounds if r.status == "done"]
    if not done:
        return None
    last = max(done, key=lambda r: (r.number, r.id))
    stored = last.params.get("schedule")
    try:
        if isinstance(stored, list) and stored:
            return TauSchedule(tuple(float(t) for t in stored))
        return TauSchedule((float(last.tau),))
    except (SelfLearningError, TypeError, ValueError):
        return None  # a hand-edited project: keep what the box shows


def schedule_text(schedule: TauSchedule) -> str:
    """``0.1,0.2,0.3,0.4``: the schedule as the τ box and ``--tau`` write it."""
    return ",".join(f"{t:g}" for t in schedule.taus)
