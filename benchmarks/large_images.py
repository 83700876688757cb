"""Peak memory of the local host under concurrent large images: N sync requests at once, each with two
4990x4990 PNGs (a face photo and a signature, inside the byte limits), through real HTTP.

    python benchmarks/large_images.py [--concurrent 8] [--side 4990] [--signature-side N] [--max-pixels 25000000]

Prints the host's resident memory (from /proc: current and peak) after start,
after enrolment and at the peak of the load, with each request's answer.
--max-pixels raises the pixel limits so that the images are decoded (the
default limits refuse them by their header).
"""

from __future__ import annotations

import argparse
import base64
import io
import secrets
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.demo import b64, free_port, start_host
from benchmarks.process_memory import memory_mb
from tests.fixtures.photos import astronaut, capture
from tests.fixtures.signatures import make_signature


def png_b64(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=False, compress_level=9)
    return base64.b64encode(buf.getvalue()).decode()


def large_face(side: int) -> np.ndarray:
    """The sample face, enlarged into the middle of a plain side x side canvas (a large photo that compresses small)."""
    face = Image.fromarray(capture(astronaut(), 500)).resize((side // 3, side // 3), Image.BICUBIC)
    canvas = Image.new("RGB", (side, side), (128, 128, 128))
    canvas.paste(face, (side // 3, side // 3))
    return np.asarray(canvas)


def large_signature(side: int) -> np.ndarray:
    sig = Image.fromarray(make_signature(7, 900)).convert("RGB")
    scale = side / max(sig.size)
    return np.asarray(sig.resize((int(sig.width * scale), int(sig.height * scale)), Image.NEAREST))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--side", type=int, default=4990)
    parser.add_argument("--signature-side", type=int, default=None,
                        help="the signature's side (default --side); 4000 and 2000 are the largest the default limits accept")
    parser.add_argument("--max-pixels", type=int, default=None, help="raise the pixel limits so the images are decoded")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the host (settings, or e.g. MALLOC_ARENA_MAX=2)")
    args = parser.parse_args(argv)

    face = png_b64(large_face(args.side))
    signature_side = args.signature_side or args.side
    signature = png_b64(large_signature(signature_side))
    print(f"face PNG {len(face) * 3 // 4 / 1e6:.1f} MB {args.side}x{args.side}, signature PNG "
          f"{len(signature) * 3 // 4 / 1e6:.1f} MB {signature_side}x{signature_side}")

    data_dir = Path(tempfile.mkdtemp(prefix="bioauth-large-"))
    key = secrets.token_urlsafe(24)
    port = free_port(7074)
    limits = {} if args.max_pixels is None else {"BIOAUTH_MAX_IMAGE_PIXELS": str(args.max_pixels),
                                                 "BIOAUTH_MAX_SIGNATURE_PIXELS": str(args.max_pixels)}
    extra = dict(item.split("=", 1) for item in args.env)
    host = start_host(port, data_dir, key, BIOAUTH_SPOOF_ACTION="review", **limits, **extra)
    api = requests.Session()
    api.headers["x-functions-key"] = key
    base = f"http://127.0.0.1:{port}/api"
    try:
        print("host RSS after start: %.0f MB" % memory_mb(host.pid)[0])
        person = astronaut()
        r = api.post(f"{base}/v1/subjects/bench/enrolment", timeout=300, json={
            "face_images": [b64(capture(person, s)) for s in (1, 2, 3)],
            "signature_images": [b64(make_signature(7, s), "PNG") for s in range(4)],
        })
        r.raise_for_status()
        idle, _ = memory_mb(host.pid)
        print(f"host RSS after enrolment: {idle:.0f} MB")

        samples: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                samples.append(memory_mb(host.pid)[0])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def one(i: int) -> tuple[int, str, float]:
            t0 = time.perf_counter()
            r = requests.post(f"{base}/v1/verifications?mode=sync", headers={"x-functions-key": key}, timeout=600,
                              json={"subject_id": "bench", "device_id": f"kiosk-{i}", "face_image": face,
                                    "signature_image": signature})
            body = r.json()
            what = body.get("status") or body.get("error", {}).get("code")
            return r.status_code, str(what), time.perf_counter() - t0

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrent) as pool:
            results = list(pool.map(one, range(args.concurrent)))
        elapsed = time.perf_counter() - t0
        stop.set()
        sampler.join()
        rss, peak = memory_mb(host.pid)
        print(f"{args.concurrent} concurrent sync requests in {elapsed:.1f} s:")
        for status, what, seconds in results:
            print(f"  {status} {what} in {seconds:.1f} s")
        print(f"host RSS: {idle:.0f} MB before the load, highest sample {max(samples, default=rss):.0f} MB, "
              f"peak (VmHWM) {peak:.0f} MB, {rss:.0f} MB after")
        return 0
    finally:
        host.terminate()
        host.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
