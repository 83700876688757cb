"""Reading photos for training and evaluation, one way for every model."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_rgb(path: Path) -> np.ndarray:
    """A photo file as RGB uint8, decoded by OpenCV as every report was measured; ValueError when it cannot be read."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
