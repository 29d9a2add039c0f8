"""The next (``]``) and previous (``[``) proposal keys: go to the next sub-image with a pending proposal.

The walk follows what the annotator sees: the images in the list's order and filters, and in an
image the sub-images row by row. It starts after the current sub-image, goes on to the next
listed image that has pending proposals (the store's own query, so proposals another process
wrote count at once), and wraps around at the end of the list, saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bcviewer.gui.labeling.actions import LabelingActions
    from bcviewer.gui.labeling.image_browser import ImageBrowser
    from bcviewer.gui.labeling.subimage_grid import SubImageGrid
    from bcviewer.labels import ImageRow, LabelStore


class ProposalHost(Protocol):
    """What the walk uses of the labeling panel (which imports this module)."""

    store: LabelStore | None
    image: ImageRow | None
    browser: ImageBrowser
    grid: SubImageGrid
    action_set: LabelingActions

    def say(self, text: str) -> None: ...


def find_proposal(store: LabelStore, order: Sequence[int], image_id: int | None, subimage_id: int | None,
                  forward: bool = True) -> tuple[int, int, bool] | None:
    """(image id, sub-image id, wrapped) of the next pending proposal after the given sub-image.

    ``order``: the image ids as listed. ``wrapped``: the walk passed the end (the start, going
    back) of the list. None when no listed image has a pending proposal.
    """
    pending = {r.id for r in store.images(pending=True)}
    listed = [i for i in order if i in pending]
    if not listed:
        return None
    here = order.index(image_id) if image_id in order else (-1 if forward else len(order))
    position = {i: order.index(i) for i in listed}
    after = [i for i in listed if (position[i] > here) == forward and position[i] != here]
    before = [i for i in listed if (position[i] < here) == forward and position[i] != here]
    if not forward:
        after, before = after[::-1], before[::-1]
    current = [image_id] if image_id in position else []
    for wrapped, image, part in ([(False, i, "after") for i in current] + [(False, i, "all") for i in after]
                                 + [(True, i, "all") for i in before] + [(True, i, "before") for i in current]):
        rows = store.subimages(image)  # row by row
        if not forward:
            rows.reverse()
        at = next((k for k, s in enumerate(rows) if s.id == subimage_id), None)
        if part != "all" and at is not None:  # the current image: the cells past the current one first
            rows = rows[at + 1:] if part == "after" else rows[:at + 1]
        cells = [s.id for s in rows if s.proposal_id is not None]
        if cells:
            return image, cells[0], wrapped
    return None


def go_to_proposal(panel: ProposalHost, forward: bool = True) -> bool:
    """Select the next (previous) sub-image with a pending proposal; False, with a message, when none."""
    store = panel.store
    if store is None:
        return False
    current = panel.grid.current_row()
    found = find_proposal(store, panel.browser.visible_image_ids(), panel.image.id if panel.image else None,
                          current.id if current is not None else None, forward)
    if found is None:
        hidden = store.counts().pending
        panel.say(f"No pending proposal in the listed images; {hidden} wait in images the filters hide."
                  if hidden else "No proposals are waiting for review.")
        return False
    image_id, subimage_id, wrapped = found
    if (panel.image is None or panel.image.id != image_id) and not panel.browser.select_image(image_id):
        return False
    panel.grid.select_ids([subimage_id])
    row, image = panel.grid.current_row(), panel.image
    if row is None or image is None or row.id != subimage_id:
        return False
    p = row.p_malignant
    where = f"row {row.row + 1}, column {row.col + 1} of {image.path.name}"
    confidence = "" if p is None else f", confidence {1.0 - p if row.proposed_label == 'benign' else p:.2f}" \
        f" (p_malignant {p:.2f})"
    text = f"Proposal: {where} → {row.proposed_label}{confidence}; Space accepts, X rejects."
    panel.say(text + (f" Back at the {'top' if forward else 'end'} of the list." if wrapped else ""))
    return True

