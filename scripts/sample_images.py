"""Write the demo's sample images to a folder, for first calls with curl or the `bioauth` command.

    python scripts/sample_images.py samples

Gives enrol-face-{1,2,3}.jpg and enrol-signature-{1..4}.png (the astronaut, Eileen Collins, and her synthetic
signature), attempt-face.jpg and attempt-signature.png (another capture of her and another signature), and
impostor-face.jpg and impostor-signature.png (Grace Hopper and a forgery).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.demo import b64
from tests.fixtures.photos import astronaut, capture, grace_hopper
from tests.fixtures.signatures import make_forgery, make_signature


def write_samples(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    person = astronaut()
    images = {f"enrol-face-{i}.jpg": b64(capture(person, s)) for i, s in enumerate((1, 2, 3), 1)}
    images |= {f"enrol-signature-{i}.png": b64(make_signature(7, s), "PNG") for i, s in enumerate(range(4), 1)}
    images |= {"attempt-face.jpg": b64(capture(person, 11)), "attempt-signature.png": b64(make_signature(7, 11), "PNG"),
               "impostor-face.jpg": b64(grace_hopper()), "impostor-signature.png": b64(make_forgery(7, 1), "PNG")}
    written = []
    for name, data in images.items():
        (folder / name).write_bytes(base64.b64decode(data))
        written.append(folder / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path("samples"))
    args = parser.parse_args(argv)
    written = write_samples(args.folder)
    print(f"{len(written)} images in {args.folder}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
