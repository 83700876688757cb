"""Anti-spoofing decisions on images every install has: two live photos and simulated printed-photo attacks of them.

`python scripts/antispoof_demo.py`

Live: scikit-image's astronaut (Eileen Collins, NASA, public domain) and
matplotlib's sample photo of Grace Hopper. Attacks: the same photos passed
through `tests.fixtures.spoof.make_print_attack`. Each goes through the service's own
path: BlazeFace detection, the 256x256 context crop, `check_liveness`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def demo_images() -> list[tuple[str, np.ndarray]]:
    from tests.fixtures.photos import astronaut as load_astronaut
    from tests.fixtures.photos import grace_hopper
    from tests.fixtures.spoof import make_print_attack

    astronaut = load_astronaut()
    hopper = grace_hopper()
    return [
        ("astronaut (live photo)", astronaut),
        ("grace_hopper (live photo)", hopper),
        ("astronaut, simulated print attack", make_print_attack(astronaut, seed=0)),
        ("grace_hopper, simulated print attack", make_print_attack(hopper, seed=1)),
    ]


def main() -> int:
    from functions.imaging.face_detection import context_crop, detect_faces
    from functions.settings import get_settings
    from functions.steps.antispoof import check_liveness
    from functions.steps.face_crop import context_scale_for

    settings = get_settings()
    for name, image in demo_images():
        faces = detect_faces(image, min_score=settings.min_face_score)
        if not faces:
            print(f"{name:40s} no face found")
            continue
        result = check_liveness(context_crop(image, faces[0].box, scale=context_scale_for()))
        print(f"{name:40s} {result.label:9s} score(live)={result.score:.4f}  thresholds live>={result.thresholds['live']:.4f} spoof<={result.thresholds['spoof']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
