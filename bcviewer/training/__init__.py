"""Training and evaluation of the hybrid CNN+LSTM ensembles (Qt-free)."""

from bcviewer.training.augment import train_augmentation
from bcviewer.training.evaluation import (
    IMAGE_AGGREGATION,
    evaluation_report,
    image_probabilities,
    predict_tileset,
)
from bcviewer.training.metrics import binary_metrics, expected_calibration_error
from bcviewer.training.pipeline import TrainedEnsemble, grouped_patient_split, patient_group, train_ensemble
from bcviewer.training.plans import PLANS, MemberPlan, TrainPlan
from bcviewer.training.tiles import (
    SourceImage,
    TileSet,
    breakhis_tiles,
    channel_stats,
    detect_kind,
    idc_tiles,
    load_tileset,
)
from bcviewer.training.trainer import MemberResult, StageSchedule, class_weights, fit_temperature, train_member

__all__ = [
    "train_augmentation", "IMAGE_AGGREGATION", "evaluation_report", "image_probabilities", "predict_tileset",
    "binary_metrics", "expected_calibration_error", "TrainedEnsemble", "grouped_patient_split", "patient_group",
    "train_ensemble", "PLANS", "MemberPlan", "TrainPlan", "SourceImage", "TileSet", "breakhis_tiles",
    "channel_stats", "detect_kind", "idc_tiles", "load_tileset", "MemberResult", "StageSchedule",
    "class_weights", "fit_temperature", "train_member",
]
