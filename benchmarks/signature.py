"""Signature step latency on this CPU: one questioned signature against 5 stored references.

    python benchmarks/signature.py [--runs 200] [--data ../shared/data/signatures/sign_data]

Times `verify_signature` end to end (preprocessing of the questioned image
included; the references and the writer model stored as after enrolment),
and its parts: preprocessing alone, the network on one canvas, and building
the writer model (what enrolment, or the first check after a model upgrade,
pays once). Cases: a synthetic scan-like signature, the same drawn as pen-pad
strokes, and a raw scan of the data set if present. Prints median and p95 in
milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from functions.biometrics.signature_preparation import normalise_strokes, prepare_signature
from functions.onnx_models import load_model
from functions.biometrics.signature_verification import build_writer_model, prepare_reference, signature_features, verify_signature
from model_export.signature.capture import pad_strokes
from tests.fixtures.signatures import make_signature

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, runs: int) -> tuple[float, float]:
    for _ in range(5):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--models-dir", type=Path, default=ROOT / "models")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "signatures" / "sign_data")
    args = p.parse_args()

    model = load_model("signature", args.models_dir)
    refs = [prepare_reference(make_signature(1, s)) for s in range(5)]
    cases = {"synthetic 400x150": make_signature(1, 10)}
    pad = pad_strokes(make_signature(1, 11), np.random.default_rng(0))
    cases[f"pad strokes {pad.shape[1]}x{pad.shape[0]}"] = pad
    scans = sorted(args.data.glob("*/genuine/*.png")) if args.data.is_dir() else []
    if scans:
        from PIL import Image

        scan = np.asarray(Image.open(scans[0]).convert("L"))
        cases[f"scan {scan.shape[1]}x{scan.shape[0]}"] = scan
    writer = build_writer_model(model, refs)
    print(f"model {model.manifest.name} {model.version} (rule {model.manifest.extra['comparison']['rule']}), 5 references, {args.runs} runs")
    print(f"{'case':<28}{'what':<34}{'median ms':>10}{'p95 ms':>10}")
    for name, image in cases.items():
        canvas = prepare_signature(image)
        rows = [
            ("verify_signature (end to end)", lambda: verify_signature(image, refs, model, writer)),
            ("  preprocessing only", lambda: prepare_signature(image)),
            ("  strokes redrawn at one width", lambda: normalise_strokes(canvas)),
            ("  network: one canvas", lambda: signature_features(model, [canvas])),
            ("enrolment: writer model", lambda: build_writer_model(model, refs)),
        ]
        for what, fn in rows:
            med, p95 = timed(fn, args.runs)
            print(f"{name:<28}{what:<34}{med:>10.2f}{p95:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
