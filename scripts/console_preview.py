"""Look at the review console without a device or models: a local host with a few cases waiting for review.

Starts the local host on a fresh embedded data folder, stores cases in review
made from images that exist on any machine (the astronaut photo scikit-image
ships, a signature drawn here), and prints the console's address and the
key of a reviewer made for it. The step figures are SAMPLE values in the shape each step
records, chosen to show the layout; they were not produced by the models. The
reasons come from the real decide policy applied to those figures.

    python scripts/console_preview.py [--port 7071] [--cases 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Sample step figures, in the shape of each step's record (see functions/biometrics/liveness.py, face_matching.py, signature_verification.py).
SAMPLES = [
    {
        "antispoof": {"label": "uncertain", "score": 0.58, "thresholds": {"live": 0.8, "spoof": 0.3},
                      "member_scores": {"minifasnet_v2_x2.7": 0.52, "minifasnet_v1se_x4.0": 0.82},
                      "score_meaning": "probability of live", "model_version": "preview"},
        "face-match": {"score": 0.71, "band": "accept", "accept_at": 0.42, "review_at": 0.324, "is_match": True,
                       "rule": "centroid", "model": "face_sface", "model_version": "preview"},
        "signature": {"label": "genuine", "score": 0.99, "thresholds": {"genuine": 0.914, "forged": 0.265},
                      "distances": [0.62, 0.71, 0.58], "distance": 0.94, "svm": 0.52, "rule": "fusion against 3 references"},
    },
    {
        "antispoof": {"label": "live", "score": 0.97, "thresholds": {"live": 0.8, "spoof": 0.3},
                      "score_meaning": "probability of live", "model_version": "preview"},
        "face-match": {"score": 0.74, "band": "accept", "accept_at": 0.42, "review_at": 0.324, "is_match": True,
                       "rule": "centroid", "model": "face_sface", "model_version": "preview"},
        "signature": {"label": "forged", "score": 0.034, "thresholds": {"genuine": 0.914, "forged": 0.265},
                      "distances": [1.08, 1.15, 1.02], "distance": 1.6, "svm": 0.2, "rule": "fusion against 3 references"},
    },
    {
        "antispoof": {"label": "live", "score": 0.93, "thresholds": {"live": 0.8, "spoof": 0.3},
                      "score_meaning": "probability of live", "model_version": "preview"},
        "face-match": {"score": 0.39, "band": "review", "accept_at": 0.42, "review_at": 0.324, "is_match": False,
                       "rule": "centroid", "model": "face_sface", "model_version": "preview"},
        "signature": {"label": "uncertain", "score": 0.7, "thresholds": {"genuine": 0.914, "forged": 0.265},
                      "distances": [0.85, 0.92, 0.88], "distance": 1.3, "svm": 0.4, "rule": "fusion against 3 references"},
    },
]


def drawn_signature(seed: int) -> np.ndarray:
    """A pen stroke on white paper: a few loops along a baseline (RGB uint8)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (600, 220), "white")
    pen = ImageDraw.Draw(im)
    t = np.linspace(0, 1, 400)
    x = 40 + 520 * t
    y = 120 + 45 * np.sin(2 * np.pi * (5 + rng.uniform(-0.5, 0.5)) * t) * np.exp(-1.2 * t) + 12 * np.sin(2 * np.pi * 23 * t)
    pen.line(list(zip(x.tolist(), y.tolist())), fill=(20, 30, 90), width=4, joint="curve")
    pen.line([(60, 175), (540, 168)], fill=(20, 30, 90), width=3)
    return np.asarray(im)


def seed_cases(services, count: int) -> list[str]:
    from skimage import data

    from functions.biometrics.face_detection import context_crop, detect_faces
    from functions.images import encode_png
    from functions.runtime.step_runner import VERIFICATIONS
    from functions.biometrics.decision import decide

    photo = data.astronaut()
    face = detect_faces(photo)[0]
    context = context_crop(photo, face.box, scale=services.settings.context_scale)
    x, y, w, h = (int(v) for v in face.box)
    chip = np.ascontiguousarray(photo[max(0, y): y + h, max(0, x): x + w])
    ids = []
    now = dt.datetime.now(dt.timezone.utc)
    for i in range(count):
        sample = SAMPLES[i % len(SAMPLES)]
        vid = uuid.uuid4().hex
        images = {
            "face": services.blobs.put("images", f"verifications/{vid}/face.png", encode_png(photo), "image/png"),
            "signature": services.blobs.put("images", f"verifications/{vid}/signature.png",
                                            encode_png(drawn_signature(i)), "image/png"),
        }
        crops = {
            "context": services.blobs.put("crops", f"{vid}/context.png", encode_png(context), "image/png"),
            "chip": services.blobs.put("crops", f"{vid}/chip.png", encode_png(chip), "image/png"),
        }
        crop_result = {"reason": None, "faces_found": 1, "detection": face.to_dict(), "crops": crops}
        results = {"face-crop": crop_result, **sample}
        decision = decide(results, face_review_margin=services.settings.face_review_margin)
        created = (now - dt.timedelta(minutes=5 + 25 * (count - 1 - i))).isoformat(timespec="milliseconds")
        steps = {name: {"result": result, "duration_ms": round(15 + 20 * k + 3.7 * i, 2), "started_at": created, "attempt": 1}
                 for k, (name, result) in enumerate(results.items())}
        steps["decide"] = {"result": {"outcome": decision.outcome, "reasons": decision.reasons}, "duration_ms": 0.4}
        services.records.create(VERIFICATIONS, {
            "id": vid, "subject_id": f"subject-{100 + i}", "device_id": f"kiosk-{i % 2 + 1}", "status": decision.outcome,
            "images": images, "steps": steps, "created_at": created, "updated_at": created,
            "decision": {"outcome": decision.outcome, "reasons": decision.reasons, "by": "service"},
        })
        ids.append(vid)
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--cases", type=int, default=3)
    args = parser.parse_args(argv)

    data_dir = tempfile.mkdtemp(prefix="bioauth-console-preview-")
    os.environ.update({"BIOAUTH_DATA_DIR": data_dir, "BIOAUTH_STORAGE": "embedded", "BIOAUTH_RECORDS": "sqlite"})
    os.environ.pop("BIOAUTH_REVIEW_WEBHOOK_URL", None)
    os.environ.setdefault("BIOAUTH_FACE_REVIEW_MARGIN", "0.05")  # so a score near the accept edge goes to review

    from function_app import app
    from functions.runtime.services import get_services
    from local_host import LocalHost

    services = get_services()
    host = LocalHost(app, services, port=args.port).start()
    seed_cases(services, args.cases)
    reviewer = services.credentials.issue("reviewer", "preview-reviewer", name="Preview reviewer", created_by="console_preview")
    print(f"review console: {host.url}/console/", flush=True)
    print(f"reviewer key:   {reviewer.token}", flush=True)
    print(f"data folder:    {data_dir} (delete it when done)", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(0.5):  # a timed wait: the signal may land on another thread, and only this loop sees the flag
        pass
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
