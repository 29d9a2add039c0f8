"""Training-time augmentation (albumentations) on uint8 RGB tiles.

Geometry: horizontal and vertical flips, 90-degree rotations (square inputs only: a non-square
tile would change shape; its flips already cover the 180-degree turn), and a small affine
(rotation up to 15 degrees, zoom 0.85-1.2, shift up to 5 %). Colour: H&E stain jitter
(albumentations' HEStain) and brightness/contrast/saturation/hue jitter, because scanners and
labs stain differently and the model must not learn one lab's colour.
"""

from __future__ import annotations

import albumentations as A
import cv2


def train_augmentation(size: tuple[int, int], seed: int = 0) -> A.Compose:
    """The augmentation pipeline for tiles of ``size`` = (width, height)."""
    width, height = size
    geometry: list[A.BasicTransform] = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    if width == height:
        geometry.append(A.RandomRotate90(p=0.5))
    geometry.append(A.Affine(scale=(0.85, 1.2), rotate=(-15, 15), translate_percent=(-0.05, 0.05),
                             border_mode=cv2.BORDER_REFLECT_101, p=0.7))
    colour = [
        A.HEStain(method="random_preset", intensity_scale_range=(0.8, 1.2), intensity_shift_range=(-0.1, 0.1),
                  p=0.5),
        A.ColorJitter(brightness=0.15, contrast=0.15, saturation=0.15, hue=0.04, p=0.8),
    ]
    return A.Compose([*geometry, *colour], seed=seed)
