"""Box mapping, fusion weights and three-zone thresholds of the MiniFASNet pair, all chosen on NUAA train.

Nothing here reads the dev split: the figures reported on dev (`evaluate`)
were never used to choose anything.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from functions.biometrics.liveness import BoxMapping, Member, fuse
from model_export.common.metrics import equal_error_rate, error_rates, three_zone_rates

from .scoring import Detections, PairSession, read_rgb, score_images

WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))  # weight of the first member; the second gets the rest
LIVE_REJECT_RATE = 0.005  # share of training live faces allowed at or under the spoof edge


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def zone_edges(scores: np.ndarray, labels: np.ndarray) -> dict:
    """Each edge set by the other class's tail on training data.

    `attack_high` is the highest training attack score (no training attack is
    accepted); `live_low` is the score under which LIVE_REJECT_RATE of
    training live faces fall. Where the classes overlap, the uncertain band is
    the overlap; where they separate, it is the gap between them, where no
    training example lies.
    """
    attack_high = float(np.max(scores[labels == 0]))
    live_low = float(np.quantile(scores[labels == 1], LIVE_REJECT_RATE))
    eer, operating = equal_error_rate(scores, labels)
    return {
        "live": float(np.nextafter(max(attack_high, live_low), 1.0)),
        "spoof": min(attack_high, live_low),
        "operating": operating,
        "train_eer": eer,
        "attack_high": attack_high,
        "live_low": live_low,
        "margin_logit": float(logit(live_low) - logit(attack_high)),
    }


def choose_weights(member_scores: np.ndarray, labels: np.ndarray) -> tuple[list[float], list[dict]]:
    """The weight with the widest training margin (logit of `live_low` minus logit of `attack_high`); ties go to the more even weight."""
    rows = []
    for w in WEIGHT_GRID:
        edges = zone_edges(fuse(member_scores, [w, 1 - w]), labels)
        rows.append({"weights": [w, round(1 - w, 1)], **{k: round(v, 6) for k, v in edges.items()}})
    best = max(rows, key=lambda r: (round(r["margin_logit"], 3), -abs(r["weights"][0] - 0.5)))
    return best["weights"], rows


def train_scores(det: Detections, data_root: Path, session: PairSession, mappings: dict[str, BoxMapping]) -> dict[str, np.ndarray]:
    images = (read_rgb(data_root / rel) for rel in det.files)
    return score_images(images, det.boxes, session, mappings)


def with_reviewed(det: Detections, scores: dict, reviewed: Detections, session: PairSession, mappings: dict) -> tuple[Detections, dict]:
    """NUAA train plus the reviewed faces, as one calibration set (each reviewed subject one more person)."""
    extra = score_images((read_rgb(Path(f)) for f in reviewed.files), reviewed.boxes, session, mappings)
    merged = Detections(
        det.files + reviewed.files,
        np.concatenate([det.labels, reviewed.labels]),
        np.concatenate([det.subjects, reviewed.subjects]),
        det.boxes + reviewed.boxes,
    )
    return merged, {k: np.concatenate([scores[k], extra[k]]) for k in scores}


def calibrate(det: Detections, scores: dict[str, np.ndarray], mapping: BoxMapping, mapping_stats: dict, members: list[Member]) -> dict:
    """The manifest's box mapping, fusion and thresholds, with how each was chosen, from training scores."""
    ok = det.found
    labels = det.labels[ok]
    mapped = scores["mapped"][ok]
    weights, grid = choose_weights(mapped, labels)
    fused = fuse(mapped, weights)
    edges = zone_edges(fused, labels)
    before = {}
    for name, s in scores.items():
        f = fuse(s[ok], weights)
        eer, _ = equal_error_rate(f, labels)
        before[name] = {"eer": eer, **zone_edges(f, labels)}
        for i, m in enumerate(members):
            before[name][m.name + "_eer"] = equal_error_rate(s[ok][:, i], labels)[0]
    train_point = error_rates(fused, labels, edges["operating"])
    return {
        "box_mapping": {
            **{k: getattr(mapping, k) for k in ("dx", "dy", "sw", "sh")},
            "meaning": "reference box centre = service box centre + (dx * w, dy * h); size = (sw * w, sh * h)",
            "fitted_on": "NUAA train: medians over photos where both MediaPipe and the reference RetinaFace found a face",
            **mapping_stats,
        },
        "fusion": {
            "rule": "weighted mean of the members' probability of live (softmax class 1)",
            "weights": dict(zip([m.name for m in members], weights)),
            "chosen_on": "NUAA train, mapped boxes: the weight (grid 0, 0.1, ..., 1) with the widest margin between the "
            "0.5% quantile of live scores and the highest attack score, in logit units; ties to the more even weight",
            "grid": grid,
        },
        "thresholds": {"live": edges["live"], "spoof": edges["spoof"], "operating": edges["operating"]},
        "calibration": {
            "data": f"NUAA train (sessions 1-2, subjects 0001-0009): {int((labels == 1).sum())} live, "
            f"{int((labels == 0).sum())} printed-photo attacks with a face found"
            + (f", of which {int(np.char.startswith(det.subjects[ok].astype(str), 'reviewed:').sum())} reviewed cases"
               if any(str(s).startswith("reviewed:") for s in det.subjects) else ""),
            "live": "just above max(highest training attack score, 0.5% quantile of training live scores)",
            "spoof": "min(highest training attack score, 0.5% quantile of training live scores)",
            "operating": "training EER threshold (middle of the zero-error range when the classes separate)",
            "score": "fused probability of live",
            **{k: edges[k] for k in ("attack_high", "live_low", "margin_logit", "train_eer")},
            "train_at_operating": train_point.to_dict(),
            "train_three_zone": three_zone_rates(fused, labels, edges["live"], edges["spoof"]),
            "box_mapping_effect_on_train": before,
            "calibrated_at": dt.date.today().isoformat(),
        },
    }


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """`python -m model_export antispoof calibrate`: box mapping, fusion weights and zones on NUAA train into the run's manifest."""
    import argparse

    from ..common.paths import MODELS_DIR
    from ..common.provenance import data_record, not_shipped
    from . import scoring
    from .convert import CONVERSION_FILE, DEFAULT_RUN, build_manifest

    parser = argparse.ArgumentParser(prog="python -m model_export antispoof calibrate", description=main.__doc__)
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN, help="run folder made by `antispoof convert`")
    parser.add_argument("--reference", type=Path, help="checkout of the upstream repository: fits the box mapping with its detector")
    parser.add_argument("--data", type=Path, default=scoring.DEFAULT_NUAA, help="NUAA root (train is used; dev never)")
    parser.add_argument("--cache", type=Path, default=scoring.DEFAULT_CACHE)
    parser.add_argument("--version", default=f"{dt.date.today():%Y.%m.%d}-minifasnet_pair")
    parser.add_argument("--reviewed", type=Path, help="`reviews export` folder: faces whose presentation a reviewer judged join the calibration data")
    args = parser.parse_args(argv)
    run = not_shipped(args.run)
    conversion = json.loads((run / CONVERSION_FILE).read_text())

    members = [Member.from_dict({**m, "weight": 1.0}) for m in conversion["members"]]
    det = scoring.detect_split(args.data, "train", args.cache)
    if args.reference is not None:
        det = scoring.add_reference_boxes(det, args.data, "train", args.cache, args.reference)
        mapping, stats = scoring.fit_box_mapping(det.boxes, det.reference_boxes)
    else:  # keep the mapping fitted earlier (fitting it needs the reference detector): this run's, else the shipped one's
        earlier = run / "manifest.json" if (run / "manifest.json").is_file() else MODELS_DIR / "antispoof" / "manifest.json"
        old = json.loads(earlier.read_text()).get("box_mapping", {}) if earlier.is_file() else {}
        mapping = BoxMapping.from_dict(old)
        stats = {k: v for k, v in old.items() if k not in ("dx", "dy", "sw", "sh", "meaning", "fitted_on")}
    session = PairSession(run / "model.onnx", members)
    mappings = {"service_box": BoxMapping(), "mapped": mapping}
    scores = train_scores(det, args.data, session, mappings)
    data = {"calibration": data_record("NUAA train (live and printed-photo attacks)", args.data,
                                       [args.data / rel for rel, _, _ in scoring.list_split(args.data, "train")])}
    if args.reviewed is not None:
        reviewed = scoring.detect_reviewed(args.reviewed)
        det, scores = with_reviewed(det, scores, reviewed, session, mappings)
        data["reviewed"] = data_record("reviewed cases' faces", args.reviewed, [Path(f) for f in reviewed.files])
    manifest = build_manifest(conversion, calibrate(det, scores, mapping, stats, members), args.version)
    manifest["build"] = {"seeds": {}, "data": data, "randomness": "none: detection, box mapping, fusion grid and zone edges are deterministic"}
    write_json(run / "manifest.json", manifest)
    print(json.dumps({"thresholds": manifest["thresholds"], "fusion": manifest["fusion"]["weights"], "box_mapping": mapping.__dict__}, indent=2))
    return 0
