"""Compare two face detector builds on the same photos: boxes, keypoints, detection counts and crop decisions.

Written to check a change of MediaPipe release or API (the 0.10.21 legacy
`solutions.face_detection` against the Tasks API `FaceDetector` of a newer
release, given the same two networks). `dump` runs in one environment and
writes what it found; `compare` reads two dumps and prints the differences.

    # with mediapipe 0.10.21 (the service's pin):
    python benchmarks/face_detector_parity.py dump old.json [--data ../shared/data] [--nuaa 300]
    # in a second environment with a newer mediapipe; NETWORKS holds face_detection_short_range.tflite and
    # face_detection_full_range_sparse.tflite, copied from the 0.10.21 wheel (mediapipe/modules/face_detection/):
    python benchmarks/face_detector_parity.py dump new.json --networks NETWORKS
    python benchmarks/face_detector_parity.py compare old.json new.json

Under the Tasks API the crop decisions come from the service's crop_face with
its detect_faces replaced by the same two-network search through the Tasks API.

Photos: the tests' and the demo's (scikit-image's astronaut, matplotlib's
Grace Hopper, their simulated re-captures, print and screen attacks, blur),
every photo in faces/, the PAD samples, and a fixed random sample of NUAA.
Each network (short and full range) is run on its own on every photo, so the
full-range network is compared even where the service never reaches it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ("short", "full")


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


def sample_photos(data: Path, nuaa: int):
    """(name, RGB) of every photo compared, in a fixed order."""
    from scripts.demo import blurred, sharper_camera
    from tests.fixtures.photos import astronaut, capture, coffee, grace_hopper
    from tests.fixtures.spoof import make_print_attack, make_screen_replay

    person, other = astronaut(), grace_hopper()
    yield "fixture/astronaut", person
    yield "fixture/grace_hopper", other
    yield "fixture/coffee", coffee()
    for s in (1, 2, 3, 11, 12):
        yield f"fixture/astronaut_capture_{s}", capture(person, s)
        yield f"fixture/grace_hopper_capture_{s}", capture(other, s)
    for s in (1, 2, 3):
        yield f"demo/print_attack_{s}", make_print_attack(sharper_camera(capture(person, 12)), seed=s)
        yield f"demo/screen_replay_{s}", make_screen_replay(sharper_camera(capture(person, 12)), seed=s)
    yield "demo/blurred", blurred(capture(person, 11), sigma=3.0)
    for folder in ("faces", "pad_samples"):
        for path in sorted((data / folder).glob("*")):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                yield f"{folder}/{path.name}", read_rgb(path)
    nuaa_files = sorted(p for p in (data / "nuaa").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for path in random.Random(0).sample(nuaa_files, min(nuaa, len(nuaa_files))):
        yield f"nuaa/{path.relative_to(data / 'nuaa')}", read_rgb(path)


def _legacy_runner():
    import mediapipe as mp

    detectors = {name: mp.solutions.face_detection.FaceDetection(model_selection=i, min_detection_confidence=0.5)
                 for i, name in enumerate(NETWORKS)}

    def run(network: str, small: np.ndarray, w: int, h: int) -> list[dict]:
        found = []
        for d in detectors[network].process(small).detections or []:
            rb = d.location_data.relative_bounding_box
            found.append({"box": [rb.xmin * w, rb.ymin * h, rb.width * w, rb.height * h], "score": float(d.score[0]),
                          "keypoints": [[k.x * w, k.y * h] for k in d.location_data.relative_keypoints]})
        return found

    return run


NETWORK_FILES = {"short": "face_detection_short_range.tflite", "full": "face_detection_full_range_sparse.tflite"}


def _tasks_runner(networks: Path):
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    detectors = {name: vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=str(networks / NETWORK_FILES[name])), min_detection_confidence=0.5))
        for name in NETWORKS}

    def run(network: str, small: np.ndarray, w: int, h: int) -> list[dict]:
        sh, sw = small.shape[:2]
        frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
        found = []
        for d in detectors[network].detect(frame).detections:
            b = d.bounding_box  # whole pixels of the detection copy
            found.append({"box": [b.origin_x * w / sw, b.origin_y * h / sh, b.width * w / sw, b.height * h / sh],
                          "score": float(d.categories[0].score), "keypoints": [[k.x * w, k.y * h] for k in d.keypoints]})
        return found

    return run


def _use_tasks_in_crop_face(run) -> None:
    """crop_face's detect_faces replaced by the same search (short range, then full range) through `run`."""
    from functions.biometrics import face_detection as fd

    def detect_faces(image_rgb, *, min_score=0.5, max_side=fd.DETECTION_MAX_SIDE):
        h, w = image_rgb.shape[:2]
        small = np.ascontiguousarray(fd.detection_copy(np.ascontiguousarray(image_rgb), max_side))
        for net in NETWORKS:
            faces = [fd.FaceDetection(box=tuple(d["box"]), score=d["score"],
                                      keypoints={k: tuple(p) for k, p in zip(fd.KEYPOINT_NAMES, d["keypoints"])})
                     for d in run(net, small, w, h) if d["score"] >= min_score]
            if faces:
                return sorted(faces, key=lambda f: f.area, reverse=True)
        return []

    fd.detect_faces = detect_faces


def dump(out: Path, data: Path, nuaa: int, networks: Path | None) -> None:
    import mediapipe as mp

    from functions.biometrics.face_detection import crop_face, detection_copy
    from functions.biometrics.quality import judge_capture, load_limits

    legacy = hasattr(mp, "solutions")
    if not legacy and networks is None:
        raise SystemExit("this mediapipe has no legacy solutions: give --networks (see the docstring)")
    run = _legacy_runner() if legacy else _tasks_runner(networks)
    if not legacy:
        _use_tasks_in_crop_face(run)
    limits = load_limits(REPO_ROOT / "models")
    rows = []
    for name, image in sample_photos(data, nuaa):
        h, w = image.shape[:2]
        small = np.ascontiguousarray(detection_copy(image))
        row = {"name": name, "size": [w, h], "networks": {net: run(net, small, w, h) for net in NETWORKS}}
        found = crop_face(image, min_score=0.6, min_eye_distance_px=0.0)
        row["crop"] = {"reason": found.reason, "faces_found": found.faces_found, "flags": list(found.flags)}
        if found.ok:
            row["crop"]["quality"] = judge_capture(image, found.detection.box, found.detection.keypoints, limits).reason
        rows.append(row)
    out.write_text(json.dumps({"mediapipe": mp.__version__, "api": "solutions" if legacy else "tasks", "photos": rows}))
    print(f"{len(rows)} photos, mediapipe {mp.__version__} ({'solutions' if legacy else 'tasks'}) -> {out}")


def _pairs(a: list[dict], b: list[dict]):
    """Detections of two runs paired greedily by box centre distance."""
    left = list(b)
    for d in a:
        if not left:
            return
        cx, cy = d["box"][0] + d["box"][2] / 2, d["box"][1] + d["box"][3] / 2
        j = min(range(len(left)), key=lambda i: np.hypot(left[i]["box"][0] + left[i]["box"][2] / 2 - cx,
                                                           left[i]["box"][1] + left[i]["box"][3] / 2 - cy))
        yield d, left.pop(j)


def compare(old_path: Path, new_path: Path) -> None:
    old, new = json.loads(old_path.read_text()), json.loads(new_path.read_text())
    print(f"old: mediapipe {old['mediapipe']} ({old['api']}); new: mediapipe {new['mediapipe']} ({new['api']}); "
          f"{len(old['photos'])} photos")
    by_name = {r["name"]: r for r in new["photos"]}
    for net in NETWORKS:
        box_diff, kp_diff, score_diff, count_changes, faces = [], [], [], [], 0
        for o in old["photos"]:
            n = by_name[o["name"]]
            a, b = o["networks"][net], n["networks"][net]
            if len(a) != len(b):
                count_changes.append(f"{o['name']}: {len(a)} -> {len(b)}")
            for da, db in _pairs(a, b):
                faces += 1
                box_diff.append(max(abs(x - y) for x, y in zip(da["box"], db["box"])))
                kp_diff.append(max(float(np.hypot(p[0] - q[0], p[1] - q[1])) for p, q in zip(da["keypoints"], db["keypoints"])))
                score_diff.append(abs(da["score"] - db["score"]))
        print(f"\n{net} range: {faces} faces paired")
        if faces:
            print(f"  box edge difference (px):  max {max(box_diff):.3f}  median {statistics.median(box_diff):.3f}")
            print(f"  keypoint difference (px):  max {max(kp_diff):.3f}  median {statistics.median(kp_diff):.3f}")
            print(f"  score difference:          max {max(score_diff):.5f}  median {statistics.median(score_diff):.5f}")
        print(f"  detection count changes: {len(count_changes)}" + "".join(f"\n    {c}" for c in count_changes))
    changed = [(o["name"], o["crop"], by_name[o["name"]]["crop"]) for o in old["photos"] if o["crop"] != by_name[o["name"]]["crop"]]
    print(f"\ncrop_face decisions (reason, faces found, flags, capture-quality verdict): {len(changed)} of "
          f"{len(old['photos'])} differ" + "".join(f"\n  {name}: {a} -> {b}" for name, a, b in changed))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    d.add_argument("--nuaa", type=int, default=300, help="how many NUAA photos (a fixed random sample)")
    d.add_argument("--networks", type=Path, help="folder with the two BlazeFace .tflite files (Tasks API only)")
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = ap.parse_args()
    if args.command == "dump":
        dump(args.out, args.data, args.nuaa, args.networks)
    else:
        compare(args.old, args.new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
