"""Training plans: which members to train, at which input size, with which schedule.

``cpu`` trains small, narrow networks from scratch at a small input (minutes on 2 cores);
``gpu`` trains the paper-sized networks (512 LSTM units, larger inputs) and is the plan to use
with ``--pretrained imagenet``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bcviewer.datasets.errors import DatasetError
from bcviewer.nets.hybrid import HybridConfig
from bcviewer.training.trainer import StageSchedule


@dataclass(frozen=True)
class MemberPlan:
    """One ensemble member: backbone, width multiplier and LSTM input mode."""

    backbone: str
    width: float = 1.0
    rnn_mode: str = "rows"

    @classmethod
    def parse(cls, text: str) -> MemberPlan:
        """``"resnet18"``, ``"resnet18:0.5"`` or ``"resnet18:0.5:feature_map"``."""
        parts = text.strip().split(":")
        try:
            width = float(parts[1]) if len(parts) > 1 and parts[1] else 1.0
        except ValueError as exc:
            raise DatasetError(f"bad member '{text}': the width must be a number, e.g. resnet18:0.5:rows") from exc
        return cls(parts[0], width, parts[2] if len(parts) > 2 else "rows")


@dataclass(frozen=True)
class TrainPlan:
    """Everything that decides how an ensemble is trained."""

    members: tuple[MemberPlan, ...]
    input_size: tuple[int, int]
    rnn_hidden: int = 128
    rows_size: int = 32
    fusion_width: int = 128
    schedule: StageSchedule = field(default_factory=StageSchedule)
    pretrained: str | None = None
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_seed: int = 0
    seed: int = 0
    threads: int = 1

    def hybrid_config(self, member: MemberPlan) -> HybridConfig:
        """The network architecture of one member."""
        return HybridConfig(backbone=member.backbone, width=member.width, rnn_mode=member.rnn_mode,
                            rnn_hidden=self.rnn_hidden, rows_size=self.rows_size, fusion_width=self.fusion_width)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the model card."""
        return asdict(self)

    def with_overrides(self, **changes: Any) -> TrainPlan:
        """A copy with some fields (or schedule fields) replaced; ``None`` values are ignored."""
        changes = {k: v for k, v in changes.items() if v is not None}
        schedule_keys = set(StageSchedule.__dataclass_fields__)
        base = changes.pop("schedule", self.schedule)
        schedule = replace(base, **{k: v for k, v in changes.items() if k in schedule_keys})
        return replace(self, schedule=schedule, **{k: v for k, v in changes.items() if k not in schedule_keys})


PLANS: dict[str, TrainPlan] = {
    "cpu": TrainPlan(
        members=(MemberPlan("resnet18", 0.5, "rows"), MemberPlan("resnet34", 0.5, "feature_map")),
        input_size=(128, 84),
        schedule=StageSchedule(stage1_epochs=30, stage1_lr=2e-3, stage2_epochs=10, stage2_lr=1e-4, patience=8),
    ),
    "gpu": TrainPlan(
        members=(MemberPlan("resnet101", 1.0, "rows"), MemberPlan("efficientnet_b0", 1.0, "feature_map"),
                 MemberPlan("densenet121", 1.0, "feature_map")),
        input_size=(336, 224), rnn_hidden=512, rows_size=64, fusion_width=256,
        schedule=StageSchedule(stage1_epochs=40, stage1_lr=1e-3, stage2_epochs=20, stage2_lr=1e-4,
                               batch_size=64, patience=10),
        threads=8,
    ),
}
