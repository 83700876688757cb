"""`python -m model_export face calibrate`: SFace's accept and review bands, from the calibration subjects' pairs only.

Accept sits above every calibration impostor pair (rounded up to 0.01);
review is the score that lets 1 in 100 calibration impostor pairs reach a
person. The bands, how they were chosen, and the calibration data's content
hash go into the run's manifest; nothing is written into models/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from functions.manifests import MANIFEST_FILE
from functions.onnx_models import OnnxModel
from functions.settings import Settings

from ..common.paths import SHARED_DATA
from ..common.provenance import data_record, not_shipped
from .fetch import DEFAULT_RUN
from .pairs import CALIBRATION_SUBJECTS, ENROLMENT_SEED, REVIEW_FMR, choose_bands, frame_pairs, nuaa_files, nuaa_samples


def calibrate(run: Path, nuaa: Path, subjects: list[str]) -> dict:
    """Write the bands into `run`'s manifest; returns them."""
    manifest_path = run / MANIFEST_FILE
    samples = [s for s in nuaa_samples(nuaa, OnnxModel(run), Settings.from_env({})) if s.person in subjects]
    pairs = frame_pairs(samples)
    bands = choose_bands(pairs.impostor)
    manifest = json.loads(manifest_path.read_text())
    manifest["thresholds"] = bands
    manifest["calibration"] = {
        "method": "bands chosen on NUAA calibration subjects' cross-session pairs: accept above every calibration impostor pair "
                  "(rounded up to 0.01), review from the score where 1 in 100 calibration impostor pairs would pass",
        "data": f"NUAA live frames of subjects {', '.join(subjects)} (sessions 1 and 2)",
        "subjects": subjects,
        "operating_point": {"accept_fmr_target": 1e-5, "observed_calibration_fmr_at_accept": float((pairs.impostor >= bands["accept"]).mean()),
                            "calibration_impostor_pairs": int(len(pairs.impostor)), "review_fmr": REVIEW_FMR},
        "recalibrate": "python -m model_export face calibrate --nuaa <folder of your people: <split>/live/<person>/..._<session>_...jpg> "
                       "--calibration-subjects <ids>; see MODEL_CARD.md",
    }
    manifest["build"] = {
        "seeds": {"evaluation_enrolment_draws": ENROLMENT_SEED},
        "randomness": "the bands draw nothing at random; the seed draws the enrolment frames of the evaluation's service-rule figures",
        "data": {"calibration": data_record(f"NUAA live frames of subjects {', '.join(subjects)}", nuaa, nuaa_files(nuaa, subjects))},
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return bands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export face calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN, help="run folder made by `face fetch`")
    parser.add_argument("--nuaa", type=Path, default=SHARED_DATA / "nuaa")
    parser.add_argument("--calibration-subjects", default=",".join(CALIBRATION_SUBJECTS),
                        help="NUAA subjects that choose the bands (a deployment passes its own people's folders instead)")
    args = parser.parse_args(argv)
    bands = calibrate(not_shipped(args.run), args.nuaa, sorted(args.calibration_subjects.split(",")))
    print(f"bands {bands} written into {args.run / MANIFEST_FILE}")
    return 0
