"""``AnalysisPanel``: what the model reads, Run/Cancel, progress with ETA, and the last result.

Above the buttons the panel says what the chosen model reads ("idc-wsi: whole slide, 200 µm
tiles at 4 µm/px") and warns when this input's scale is far from it. The result shows the
verdict with its uncertainty on the same line (the model card's rule over the scored tiles, with
its review and outside-training signals: :mod:`bcviewer.inference.verdict`), its value, the rule
and its interval over the tiles, each ensemble member's mean probability, and the hybrid networks' branch attention:
how much weight the CNN branch and the LSTM branch got, averaged over the scored tiles.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.slide.verdict_text import verdict_detail, verdict_html

if TYPE_CHECKING:
    from bcviewer.inference import ScoreBatch, TileScores

CNN_COLOR = QColor(66, 133, 244)
LSTM_COLOR = QColor(244, 160, 0)


def format_eta(seconds: float) -> str:
    """'12 s', '3 min 05 s', '1 h 02 min'."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def eta_seconds(batch: ScoreBatch) -> float:
    """Remaining time at the current throughput."""
    rate = batch.tiles_per_s
    return (batch.total - batch.done) / rate if rate > 0 else float("inf")


def member_names(card: dict[str, Any] | None, count: int) -> list[str]:
    """'resnet18 + LSTM (rows)' per ensemble member (or 'efficientnet_lite0, linear read-out' for a
    member without an LSTM), from the model card's architecture section."""
    members = ((card or {}).get("architecture") or {}).get("members") or []
    names = []
    for i in range(count):
        m = members[i] if i < len(members) and isinstance(members[i], dict) else {}
        backbone, rnn = m.get("backbone"), m.get("rnn_mode")
        if backbone and m.get("use_lstm") is False:
            names.append(f"{backbone}, {'linear' if m.get('head') == 'linear' else 'MLP'} read-out (no LSTM)")
        else:
            names.append(f"{backbone} + LSTM ({rnn})" if backbone and rnn else f"member {i + 1}")
    return names


def has_lstm(card: dict[str, Any] | None) -> bool:
    """Whether any member of the card's architecture has an LSTM branch (unknown: assume it does)."""
    members = ((card or {}).get("architecture") or {}).get("members") or []
    return not members or any(not isinstance(m, dict) or m.get("use_lstm", True) for m in members)


class AttentionBar(QWidget):
    """One horizontal bar split into the CNN share and the LSTM share."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cnn = float("nan")
        self.setMinimumHeight(22)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(200, 22)

    def set_weights(self, cnn: float, lstm: float) -> None:
        total = cnn + lstm
        self.cnn = cnn / total if total > 0 and math.isfinite(total) else float("nan")
        self.setToolTip("" if math.isnan(self.cnn) else f"CNN {self.cnn:.2f}  ·  LSTM {1 - self.cnn:.2f}")
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        r = self.rect().adjusted(0, 2, -1, -2)
        if math.isnan(self.cnn):
            painter.fillRect(r, QColor(200, 200, 200))
        else:
            split = r.left() + round(r.width() * self.cnn)
            painter.fillRect(QRect(r.left(), r.top(), split - r.left(), r.height()), CNN_COLOR)
            painter.fillRect(QRect(split, r.top(), r.right() - split + 1, r.height()), LSTM_COLOR)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(
                r.adjusted(4, 0, -4, 0),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                f"CNN {self.cnn:.2f}",
            )
            painter.drawText(
                r.adjusted(4, 0, -4, 0),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                f"LSTM {1 - self.cnn:.2f}",
            )
        painter.end()


class AnalysisPanel(QWidget):
    """The dock's analysis section."""

    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_label = QLabel("Model: automatic")
        self.model_label.setWordWrap(True)
        self.model_label.setToolTip("The model that will score this image, and the input it was trained on")
        self.warning_label = QLabel("")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b35c00;")
        self.warning_label.hide()
        self.run_button = QPushButton("Run analysis")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m tiles")
        self.progress.hide()  # shown once a run starts
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.eta_label = QLabel("")
        self.status_label = QLabel("Press Run to analyse the image.")
        self.status_label.setWordWrap(True)

        self.probability_label = QLabel("–")
        font = self.probability_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.probability_label.setFont(font)
        self.label_label = QLabel("")
        self.label_label.setFont(font)
        self.label_label.setWordWrap(True)  # "REVIEW (leaning ...) · OUTSIDE TRAINING DATA" is long
        self.verdict_label = QLabel("")  # the rule, its value and interval: how the verdict was reached
        self.verdict_label.setWordWrap(True)
        self.uncertainty_label = QLabel("")
        self.uncertainty_label.setWordWrap(True)
        self.members_table = QTableWidget(0, 2)
        self.members_table.setHorizontalHeaderLabels(["Ensemble member", "Mean tile p"])
        self.members_table.verticalHeader().setVisible(False)
        self.members_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.members_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.members_table.setMaximumHeight(130)
        self.attention_bar = AttentionBar()

        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        result = QGroupBox("Result")
        rl = QVBoxLayout(result)
        rl.addWidget(self.label_label)
        rl.addWidget(self.probability_label)
        rl.addWidget(self.verdict_label)
        rl.addWidget(self.uncertainty_label)
        rl.addWidget(self.members_table)
        self.attention_title = QLabel("Branch attention (mean over tiles)")
        self.attention_title.setWordWrap(True)
        rl.addWidget(self.attention_title)
        rl.addWidget(self.attention_bar)
        self.result_box = result

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.model_label)
        layout.addWidget(self.warning_label)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.eta_label)
        layout.addWidget(self.status_label)
        layout.addWidget(result)
        layout.addStretch(1)

        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.clear_result()

    # ---- states ---------------------------------------------------------------------------
    def set_model_name(self, name: str) -> None:
        """The model's name, or its one-line description ("idc-wsi: whole slide, 200 µm tiles ...")."""
        self.model_label.setText(f"Model: {name}")

    def set_warnings(self, warnings: list[str]) -> None:
        """Scale warnings for this input and model; hidden when there are none."""
        self.warning_label.setText("\n".join(f"⚠ {w[:1].upper()}{w[1:]}." for w in warnings))
        self.warning_label.setVisible(bool(warnings))

    def show_ready(self) -> None:
        """A slide is open and nothing has run on it yet."""
        self.clear_result()
        self._stopped()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.hide()
        self.status_label.setText("Press Run to analyse the image.")

    def show_started(self, model: str) -> None:
        self.clear_result()
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(True)
        self.progress.show()
        self.progress.setRange(0, 0)  # busy indicator while the model loads
        self.eta_label.setText("")
        self.status_label.setText(f"Loading {model} …")

    def show_grid(self, tiles: int) -> None:
        self.progress.setRange(0, max(tiles, 1))
        self.progress.setValue(0)
        self.status_label.setText(f"Scoring {tiles} tiles …")

    def show_progress(self, batch: ScoreBatch) -> None:
        self.progress.setRange(0, max(batch.total, 1))
        self.progress.setValue(batch.done)
        self.eta_label.setText(f"{batch.tiles_per_s:.1f} tiles/s · about {format_eta(eta_seconds(batch))} left")

    def show_waiting(self, message: str) -> None:
        """The run is paused on a question to the user (nothing has failed)."""
        self._stopped()
        self.progress.hide()
        self.status_label.setText(f"{message[:1].upper()}{message[1:]} …")

    def show_failed(self, message: str) -> None:
        self._stopped()
        self.progress.hide()  # a bar stuck at "0 / 1 tiles" would read as a run still going
        self.status_label.setText(f"Analysis failed: {message}")

    def show_cancelled(self, scores: TileScores | None) -> None:
        self._stopped()
        if scores is None or scores.n_done == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.status_label.setText("Cancelled before any tile was scored.")
            return
        self.status_label.setText(
            f"Cancelled: {scores.n_done} of {len(scores)} tiles scored; the result below is partial."
        )
        self.show_result(scores, None, partial=True)

    def show_finished(self, scores: TileScores, card: dict[str, Any] | None) -> None:
        self._stopped()
        left_out = int(scores.qc_skipped().sum())
        self.progress.setRange(0, max(len(scores) - left_out, 1))
        self.progress.setValue(scores.n_done)
        text = f"Done: {scores.n_done} tiles scored with {scores.model_name or 'the model'}"
        if left_out:
            flags = [f for f in scores.qc_flags or () if f != "ok"]
            why = ", ".join(f"{flags.count(f)} {f}" for f in dict.fromkeys(flags))
            text += f"; quality control left out {left_out} ({why}), hatched grey"
        self.status_label.setText(text + ".")
        self.show_result(scores, card)

    def _stopped(self) -> None:
        self.cancel_button.setEnabled(False)
        self.eta_label.setText("")

    # ---- result ---------------------------------------------------------------------------
    def clear_result(self) -> None:
        self.probability_label.setText("P(malignant) –")
        self.label_label.setText("")
        self.verdict_label.setText("")
        self.uncertainty_label.setText("")
        self.members_table.setRowCount(0)
        self.attention_bar.set_weights(float("nan"), float("nan"))
        self.result_box.setEnabled(False)

    def show_result(self, scores: TileScores, card: dict[str, Any] | None, partial: bool = False) -> None:
        """Fill the result box from ``scores`` (only scored tiles count)."""
        verdict = scores.slide_verdict
        self.result_box.setEnabled(True)
        self.result_box.setTitle("Result (partial)" if partial else "Result")
        self.probability_label.setText(f"P(malignant) {verdict.value:.3f}" if verdict.label else "P(malignant) –")
        self.label_label.setText(
            f"{verdict_html(verdict)}<span style='font-weight:normal'> · uncertainty {verdict.uncertainty:.3f}</span>"
            if verdict.label else verdict_html(verdict))
        self.label_label.setToolTip(trust_explanation(scores))
        self.verdict_label.setText(verdict_detail(verdict))
        self.uncertainty_label.setText(trust_line(scores))
        probs = scores.image_member_probs
        names = member_names(card, len(probs))
        self.members_table.setRowCount(len(probs))
        for row, (name, value) in enumerate(zip(names, probs)):
            self.members_table.setItem(row, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(f"{value:.3f}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.members_table.setItem(row, 1, item)
        cnn, lstm = mean_attention(scores)
        self.attention_bar.set_weights(cnn, lstm)
        branches = has_lstm(card)  # a CNN-only model has no attention to show
        self.attention_bar.setVisible(branches)
        self.attention_title.setText("Branch attention (mean over tiles)" if branches
                                     else "No LSTM branch: this model reads the CNN features alone")


def trust_line(scores: TileScores) -> str:
    """The line under the verdict: threshold, uncertainty scale, the prediction set and its coverage."""
    parts = [f"Label threshold {scores.threshold:.2f} · uncertainty 0 = sure, 1 = a coin toss"]
    sets = scores.trust.image_sets
    if sets is not None and scores.image_set is not None:
        shown = {"review": "benign or malignant", "none": "no label fits"}.get(scores.image_set, scores.image_set)
        parts.append(f"{sets.confidence:.0%} prediction set: {shown}")
    else:
        parts.append("this model has no conformal calibration: no review flag")
    if scores.image_outside is not None:
        share = float(scores.tile_outside()[scores.done].mean()) if scores.n_done else 0.0
        parts.append(f"{share:.0%} of tiles outside the training data")
    return " · ".join(parts)


def trust_explanation(scores: TileScores) -> str:
    """Tooltip of the verdict: what each trust signal means."""
    lines = [(f"The verdict is the model card's rule ({scores.slide_verdict.rule}) over the scored tiles; its "
              "interval is a bootstrap over those tiles: how much the verdict rests on which tiles were scored."),
             "Uncertainty is the calibrated margin 1 - |2p - 1|: 0 when the model is sure, 1 at p = 0.5."]
    sets = scores.trust.image_sets
    if sets is not None:
        lines.append(f"The prediction set holds the true label for at least {sets.confidence:.0%} of images like "
                     f"the {sets.calibration.size} calibration images (patients held out from training); "
                     "REVIEW means both labels remain possible.")
    if scores.trust.looks is not None:
        lines.append("OUTSIDE TRAINING DATA: at least half of the tiles look unlike any training tile "
                     "(colour, stain and sharpness); the score there is not backed by training data.")
    return "\n".join(lines)


def mean_attention(scores: TileScores) -> tuple[float, float]:
    """(CNN, LSTM) branch weights averaged over scored tiles and members; NaN when unknown."""
    att = scores.attention[scores.done] if scores.attention.size else np.zeros((0, 0, 2))
    if att.size == 0:
        return float("nan"), float("nan")
    mean = att.reshape(-1, 2).mean(axis=0)
    return float(mean[0]), float(mean[1])
