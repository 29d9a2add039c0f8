"""Which self-learning trainer runs: the names the CLI and the labeling panel offer, and the default.

* ``probe`` (the default): a logistic regression on pooled features of the frozen ImageNet trunk,
  run by ONNX Runtime (:mod:`bcviewer.labels.probe_trainer`); needs no PyTorch, so it is what the
  CPU bundle runs.
* ``lite``: the Lite hybrid's LSTM, attention fusion and head, trained with PyTorch on the same
  trunk's maps (:mod:`bcviewer.labels.lite_trainer`).
* ``hybrid``: a small CNN+LSTM trained from scratch with PyTorch (:mod:`bcviewer.labels.hybrid_trainer`).

The probe is the default with or without PyTorch: on the 20-patient BreakHis dev set it trained a
round in a fraction of the lite trainer's time with held-out accuracy as good (numbers in
``docs/selflearn.md``). This module imports neither PyTorch nor a trainer until one is asked for.
"""

from __future__ import annotations

from typing import Any

from bcviewer.capabilities import torch_installed, torch_missing_message
from bcviewer.labels.errors import SelfLearningError

TRAINER_KINDS: tuple[str, ...] = ("probe", "lite", "hybrid")
TORCH_TRAINERS = frozenset({"lite", "hybrid"})
DEFAULT_TRAINER = "probe"


def available_trainer_kinds() -> tuple[str, ...]:
    """The trainers this installation can run (without PyTorch: the probe only)."""
    return TRAINER_KINDS if torch_installed() else tuple(k for k in TRAINER_KINDS if k not in TORCH_TRAINERS)


def check_trainer_kind(kind: str) -> None:
    """Raise :class:`SelfLearningError` (one line) when ``kind`` is unknown or needs the missing PyTorch."""
    if kind not in TRAINER_KINDS:
        raise SelfLearningError(f"the trainer must be one of {', '.join(TRAINER_KINDS)}, not {kind!r}")
    if kind in TORCH_TRAINERS and not torch_installed():
        raise SelfLearningError(f"{torch_missing_message(f'the {kind} trainer')}; or use the {DEFAULT_TRAINER} "
                                "trainer (the default)")


def trainer_for(kind: str | None = None, *, seed: int = 0, threads: int = 1) -> Any:
    """The default trainer of each kind (None: :data:`DEFAULT_TRAINER`), ready for
    :class:`~bcviewer.labels.selflearn.SelfLearningEngine`."""
    kind = kind or DEFAULT_TRAINER
    check_trainer_kind(kind)
    if kind == "probe":
        from bcviewer.labels.probe_trainer import probe_trainer

        return probe_trainer(seed=seed, threads=threads)
    if kind == "lite":
        from bcviewer.labels.lite_trainer import lite_trainer

        return lite_trainer(seed=seed, threads=threads)
    from bcviewer.labels.hybrid_trainer import default_trainer

    return default_trainer(seed=seed, threads=threads)
