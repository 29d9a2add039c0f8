"""Small dialogs: About, and the model card shown as readable text."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from bcviewer.gui.actions import EXPORT_KINDS
from bcviewer.slides import SUPPORTED_FORMATS

# Card sections shown first, in this order; the rest follow as they come.
_CARD_ORDER = ("name", "description", "trained_on", "intended_use", "classes", "training", "metrics", "limitations",
               "citations")
_HIDDEN = {"format", "library_versions"}


LONG_LIST = 12  # numeric lists longer than this (calibration scores, covariance rows) are summarised


def _readable(value: Any) -> Any:
    """``value`` with long lists of numbers replaced by a one-line summary, for reading on screen."""
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        flat = [v for row in value for v in (row if isinstance(row, list) else [row])]
        if len(flat) > LONG_LIST and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            shape = f"{len(value)} x {len(value[0])}" if isinstance(value[0], list) else str(len(value))
            return f"[{shape} numbers, from {min(flat):.4g} to {max(flat):.4g}; in card.json]"
        return [_readable(v) for v in value]
    return value


def card_html(card: dict[str, Any]) -> str:
    """The model card as HTML: headings per section, nested values as indented JSON."""
    keys = [k for k in _CARD_ORDER if k in card] + [k for k in card if k not in _CARD_ORDER and k not in _HIDDEN]
    parts = [f"<h2>{html.escape(str(card.get('name', 'Model')))}</h2>"]
    for key in keys:
        if key == "name":
            continue
        value = card[key]
        parts.append(f"<h3>{html.escape(key.replace('_', ' ').capitalize())}</h3>")
        if isinstance(value, str):
            parts.append(f"<p>{html.escape(value)}</p>")
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            parts.append("<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in value) + "</ul>")
        else:
            text = json.dumps(_readable(value), indent=2, ensure_ascii=False)
            parts.append(f"<pre>{html.escape(text)}</pre>")
    return "\n".join(parts)


class ModelCardDialog(QDialog):
    """A read-only view of one model card."""

    def __init__(self, card: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model card – {card.get('name', 'model')}")
        self.resize(640, 720)
        self.text = QTextBrowser()
        self.text.setHtml(card_html(card))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)


def show_model_card(parent: QWidget | None, card: dict[str, Any]) -> None:
    ModelCardDialog(card, parent).exec()


def show_about(parent: QWidget | None, version: str) -> None:
    QMessageBox.about(
        parent,
        "About bcviewer",
        f"<h3>bcviewer {html.escape(version)}</h3>"
        "<p>An open-source viewer for breast-cancer histopathology: whole slides and microscopy "
        "images with a per-tile malignancy heatmap from a CNN+LSTM ensemble.</p>"
        "<p>Research software, not a medical device: its output is no diagnosis.</p>"
        f"<p><small>Reads {html.escape(SUPPORTED_FORMATS)}.</small></p>"
        "<p>Licence: Apache-2.0.</p>",
    )


def ask_export_path(parent: QWidget | None, kind: str, folder: Path, stem: str) -> str:
    """Ask where to save an export of ``kind`` (see EXPORT_KINDS); '' when the user cancels."""
    _, file_filter, suffix = EXPORT_KINDS[kind]
    path, _ = QFileDialog.getSaveFileName(parent, f"Export {kind}", str(folder / f"{stem}-{kind}{suffix}"), file_filter)
    return path
