"""Anti-spoofing decisions on images every install has: two live photos and simulated attacks of them.

`python scripts/antispoof_demo.py`

Live: scikit-image's astronaut (Eileen Collins, NASA, public domain) and
matplotlib's sample photo of Grace Hopper. Attacks: the same photos passed
through `tests.fixtures.spoof.make_print_attack` and `make_screen_replay`.
Each goes through the service's own path: BlazeFace detection, the members'
crops, the ensemble and its zones (`check_photo`).
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
    from tests.fixtures.spoof import make_print_attack, make_screen_replay

    astronaut = load_astronaut()
    hopper = grace_hopper()
    return [
        ("astronaut (live photo)", astronaut),
        ("grace_hopper (live photo)", hopper),
        ("astronaut, simulated print attack", make_print_attack(astronaut, seed=0)),
        ("grace_hopper, simulated print attack", make_print_attack(hopper, seed=1)),
        ("astronaut, simulated screen replay", make_screen_replay(astronaut, seed=0)),
        ("grace_hopper, simulated screen replay", make_screen_replay(hopper, seed=1)),
    ]


def main() -> int:
    from functions.biometrics.face_detection import detect_faces
    from functions.settings import get_settings
    from functions.biometrics.liveness import check_photo

    settings = get_settings()
    for name, image in demo_images():
        faces = detect_faces(image, min_score=settings.min_face_score)
        if not faces:
            print(f"{name:40s} no face found")
            continue
        result = check_photo(image, faces[0].box)
        members = "  ".join(f"{k}={v:.4f}" for k, v in result.member_scores.items())
        print(f"{name:40s} {result.label:9s} score(live)={result.score:.4f}  ({members})  "
              f"zones: live>={result.thresholds['live']:.4f} spoof<={result.thresholds['spoof']:.4f}  model {result.model_version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
