"""A model card checked against the network it describes, when the model loads.

The weights' tensor shapes are checked against the card's architecture elsewhere
(:func:`bcviewer.nets.store.load_model`); these checks cover the parts of the card that no tensor
shape pins down, each of which would otherwise score images silently wrong:

* ``classes``: one name per network output (a card listing 3 classes for a 2-output network would
  name every verdict after the wrong class);
* ``positive_class``: one of the classes, and the one whose probability is reported as p
  (:data:`~bcviewer.nets.prediction.MALIGNANT_CLASS`);
* ``input``: a whole-pixel size the trunks can take, and a tile size that agrees with itself
  (``tile_um`` = ``tile_px`` x ``mpp``). No probe forward pass: it cost up to 2 s per load on 2
  cores, and the class count is already fixed by the checked head shapes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bcviewer.nets.cards import CARD_NAME, InputSpec
from bcviewer.nets.errors import ModelCardError
from bcviewer.nets.prediction import MALIGNANT_CLASS

if TYPE_CHECKING:
    from bcviewer.nets.ensemble import Ensemble

MIN_INPUT_SIDE = 16  # below this the CNN trunks pool the tile away to nothing
MAX_INPUT_SIDE = 4096  # far above any trained input; guards the memory of every batch
TILE_PX_TOLERANCE = 1.0  # tile_um / mpp may round to the stored tile_px


def check_card_against_network(card: dict[str, Any], ensemble: Ensemble, spec: InputSpec, directory: Path) -> None:
    """Refuse a card whose classes, positive class or input size disagree with ``ensemble``
    (:class:`ModelCardError`, one line naming the card and the mismatch)."""
    check_card_outputs(card, [net.config.num_classes for net in ensemble.nets()], spec, directory)


def card_outputs(card: dict[str, Any], directory: Path) -> list[int]:
    """The class count of each member the card's architecture describes (no network needed)."""
    try:
        return [int(member["num_classes"]) for member in card["architecture"]["members"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCardError(f"{directory / CARD_NAME}: the architecture section is malformed ({exc})") from exc


def check_card_outputs(card: dict[str, Any], member_outputs: list[int], spec: InputSpec, directory: Path) -> None:
    """As :func:`check_card_against_network`, given each member's number of outputs (from the
    network, from the ONNX graph, or from the card's own architecture)."""
    where = directory / CARD_NAME
    outputs = sorted(set(member_outputs))
    classes = card.get("classes")
    if not isinstance(classes, list):  # read_card checks the names; this keeps the checker honest alone
        raise ModelCardError(f"{where}: 'classes' must be a list of class names, got {classes!r}")
    if len(outputs) != 1 or len(classes) != outputs[0]:
        shown = ", ".join(classes)
        counts = " or ".join(map(str, outputs))
        raise ModelCardError(f"{where}: the card lists {len(classes)} classes ({shown}) but the network has "
                             f"{counts} outputs; fix 'classes' to name one class per output")
    positive = card.get("positive_class")
    if positive is not None:
        if positive not in classes:
            raise ModelCardError(f"{where}: positive_class {positive!r} is not one of the classes "
                                 f"({', '.join(classes)})")
        if len(classes) == 2 and classes.index(positive) != MALIGNANT_CLASS:
            raise ModelCardError(f"{where}: positive_class {positive!r} is output {classes.index(positive)}, but p is "
                                 f"the probability of output {MALIGNANT_CLASS} ({classes[MALIGNANT_CLASS]!r}); "
                                 "list the positive class second")
    _check_input(where, spec)


def _check_input(where: Path, spec: InputSpec) -> None:
    for side, value in (("width", spec.width), ("height", spec.height)):
        if isinstance(value, bool) or not isinstance(value, int) or not MIN_INPUT_SIDE <= value <= MAX_INPUT_SIDE:
            raise ModelCardError(f"{where}: input {side} {value!r} is not a whole number of pixels between "
                                 f"{MIN_INPUT_SIDE} and {MAX_INPUT_SIDE}")
    if spec.tile_um is not None and spec.mpp is not None and spec.tile_px is not None:
        expected = float(spec.tile_um) / float(spec.mpp) if float(spec.mpp) > 0 else math.inf
        if not abs(expected - float(spec.tile_px)) <= TILE_PX_TOLERANCE:
            raise ModelCardError(f"{where}: input tile_um {spec.tile_um} at mpp {spec.mpp} is {expected:g} px, "
                                 f"but tile_px says {spec.tile_px}; the input section contradicts itself")
