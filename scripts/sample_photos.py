"""Public-domain face photos that pip packages ship, for the demo, benchmarks and tests.

scikit-image's `astronaut` (Eileen Collins, NASA) and matplotlib's
`grace_hopper.jpg` (US Navy): real faces on any machine, without ../shared.
"""

from __future__ import annotations

import numpy as np


def astronaut() -> np.ndarray:
    """RGB uint8, 512x512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def grace_hopper() -> np.ndarray:
    """RGB uint8, 600x512."""
    import matplotlib.cbook as cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))
