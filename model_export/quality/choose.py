"""The capture-quality pipeline's last steps: `python -m model_export quality choose | evaluate | ship`.

`choose` turns the sweeps (sweep.py) into limits, written to the run folder's
manifest.json (model_export/runs/quality/ unless --run); `evaluate` reports
them on both splits (REPORT.md, report/metrics.json) and, when the several-faces
composites were made (bystanders.py), the face-crop rule for bystanders
(BYSTANDERS.md); `ship` alone writes models/quality/.

Every limit is chosen on the training split's live frames only, against what the
models still get right:

- sharpness (the target: no blurred live face called a spoof): the limit is
  just above the highest sharpness at which any blurred live capture was misread
  (called a spoof by the anti-spoofing ensemble, or out of the face model's
  accept band), so every such capture asks for a retake instead;
- brightness also keeps out every training print that a darker or brighter
  exposure made the ensemble stop calling a clear spoof (a dim print must never
  pass for live);
- brightness, clipping, eye distance and roll, whose sweeps meet sporadic
  misreads unrelated to the measure: the sweep's levels are walked from the
  mildest; the first level at which more than LEVEL_MISREAD_RATE of captures are
  misread is the first bad one, and the limit is halfway between the medians of
  the measure at the last good level and at the first bad one. With no bad
  level, the limit is the most extreme value tested (nothing is known beyond it).

The held-out split (dev: other people, another session) then reports, at the
chosen limits, how often a live capture is still called a spoof, how often an
undegraded one is asked to retake, and whether any print passing the limits is
called live.

    python -m model_export quality sweep --split train --every 8
    python -m model_export quality sweep --split dev --every 8
    python -m model_export quality choose && python -m model_export quality evaluate && python -m model_export quality ship

The report's last sections (cost on the request path, what the figures do not
show) are written by hand from benchmarks/capture_quality.py: `evaluate`
carries them over from the shipped report (`--against`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..common.paths import MODELS_DIR, RUNS_DIR, SHARED_DATA
from ..common.provenance import data_record, not_shipped
from ..common.shipping import METRICS_FILE, read_run, ship, shipping_parser, with_build

VERSION_PREFIX = "quality"
MANIFEST_FILE = "manifest.json"
LEVEL_MISREAD_RATE = 0.10


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def measured(rows: list[dict]) -> list[dict]:
    """Rows whose face was found and measured and went through the models."""
    return [r for r in rows if r.get("quality") and "live_label" in r]


def floor_to(value: float, step: float) -> float:
    return math.floor(value / step) * step


def ceil_to(value: float, step: float) -> float:
    return math.ceil(value / step) * step


def min_limit(rows: list[dict], measure: str, misread, step: float) -> tuple[float, dict]:
    """Just above the highest value at which a capture was misread (rounded up to `step`)."""
    bad = [r["quality"][measure] for r in rows if misread(r)]
    if not bad:
        return 0.0, {"misread": 0}
    limit = ceil_to(max(bad) + 1e-9, step)
    return limit, {"misread": len(bad), "highest_misread": round(max(bad), 4)}


def max_limit(rows: list[dict], measure: str, misread, step: float, *, absolute: bool = False) -> tuple[float, dict]:
    """Just below the lowest value at which a capture was misread (rounded down to `step`)."""
    value = (lambda r: abs(r["quality"][measure])) if absolute else (lambda r: r["quality"][measure])
    bad = [value(r) for r in rows if misread(r)]
    if not bad:
        return math.inf, {"misread": 0}
    return floor_to(min(bad) - 1e-9, step), {"misread": len(bad), "lowest_misread": round(min(bad), 4)}


def level_limit(rows: list[dict], measure: str, levels: list[float], *, lower_is_worse: bool, step: float,
                absolute: bool = False) -> tuple[float, dict]:
    """Halfway between the last good level's and the first bad level's median measure (see the module docstring)."""
    value = (lambda r: abs(r["quality"][measure])) if absolute else (lambda r: r["quality"][measure])
    walked = []
    for level in levels:
        at = [r for r in rows if r["value"] == level]
        if not at:
            continue
        rate = sum(misread(r) for r in at) / len(at)
        median = float(np.median([value(r) for r in at]))
        walked.append({"level": level, "captures": len(at), "misread_rate": round(rate, 3), "median": round(median, 3)})
        if rate > LEVEL_MISREAD_RATE:
            if len(walked) == 1:
                limit = median
            else:
                limit = (walked[-2]["median"] + median) / 2
            limit = ceil_to(limit, step) if lower_is_worse else floor_to(limit, step)
            return limit, {"levels": walked, "first_bad_level": level}
        extreme = min(value(r) for r in at) if lower_is_worse else max(value(r) for r in at)
    limit = floor_to(extreme, step) if lower_is_worse else ceil_to(extreme, step)
    return limit, {"levels": walked, "first_bad_level": None, "note": "no bad level: the most extreme value tested"}


def called_spoof(r: dict) -> bool:
    return r.get("live_label") == "spoof"


def face_missed(r: dict) -> bool:
    return r.get("face_accept") is False


def misread(r: dict) -> bool:
    return called_spoof(r) or face_missed(r)


def retakes(q: dict, limits: dict) -> list[str]:
    """The retake reasons a capture's measures give at `limits` (as functions/biometrics/quality.py decides)."""
    from functions.biometrics.quality import CaptureQuality, QualityLimits, retake_reasons

    lim = QualityLimits(version="choice", **limits)
    cq = CaptureQuality(**{k: q[k] for k in CaptureQuality.__dataclass_fields__})
    return [r.reason for r in retake_reasons(cq, lim)]


def with_pose(q: dict, nose_raw: float, frontal: float) -> dict:
    """The measures with pitch recomputed for the chosen frontal nose position (the sweep measured with 0)."""
    from functions.biometrics.quality import MOUTH_DROP_PER_EYE_DISTANCE, NOSE_DEPTH_PER_EYE_DISTANCE

    pitch = math.degrees(math.atan2((nose_raw - frontal) * MOUTH_DROP_PER_EYE_DISTANCE, NOSE_DEPTH_PER_EYE_DISTANCE))
    return {**q, "pitch_deg": pitch}


def outcome_table(rows: list[dict], limits: dict, frontal: float) -> dict[str, dict]:
    """Per degradation: captures, face found, retake asked, and of those passing the limits: spoof / uncertain / live."""
    table: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        t = table[r["degradation"]]
        t["captures"] += 1
        if not r.get("quality"):
            t[f"crop:{r.get('crop_reason')}"] += 1
            continue
        q = with_pose(r["quality"], r["nose_position_raw"], frontal)
        reasons = retakes(q, limits)
        if r.get("crop_reason"):
            t[f"crop:{r['crop_reason']}"] += 1
        elif reasons:
            t["retake"] += 1
            t[reasons[0]] += 1
        else:
            t[r.get("live_label", "?")] += 1
            if r.get("face_accept") is not None:
                t["face_accept" if r["face_accept"] else "face_miss"] += 1
    return {k: dict(v) for k, v in table.items()}


OUTCOME_COLUMNS = ("captures", "retake", "live", "uncertain", "spoof", "face_accept", "face_miss")


def outcome_markdown(table: dict[str, dict], label: str) -> list[str]:
    lines = [f"| {label} | " + " | ".join(OUTCOME_COLUMNS) + " | other |", "| --- |" + " ---: |" * (len(OUTCOME_COLUMNS) + 1)]
    for degradation, t in table.items():
        other = ", ".join(f"{k} {v}" for k, v in sorted(t.items()) if k not in OUTCOME_COLUMNS)
        lines.append(f"| {degradation} | " + " | ".join(str(t.get(c, 0)) for c in OUTCOME_COLUMNS) + f" | {other} |")
    return lines


def split_by_label(rows: list[dict], limits: dict, frontal: float, label: str) -> dict[str, dict]:
    return outcome_table([r for r in rows if r["label"] == label], limits, frontal)


def summary(rows: list[dict], limits: dict, frontal: float) -> list[str]:
    """The target's figures: blurred live faces called spoof without and with the check, false retakes, prints passed as live."""
    def passes(r):
        return not r.get("crop_reason") and r.get("quality") and not retakes(with_pose(r["quality"], r["nose_position_raw"], frontal), limits)

    blurred = [r for r in rows if r["label"] == "live" and r["kind"] == "blur" and r["value"] <= 3.0 and "live_label" in r]
    without = sum(r["live_label"] == "spoof" for r in blurred)
    with_check = sum(r["live_label"] == "spoof" for r in blurred if passes(r))
    originals = [r for r in rows if r["label"] == "live" and r["kind"] == "none" and r.get("quality") and not r.get("crop_reason")]
    false_retakes = sum(not passes(r) for r in originals)
    prints = [r for r in rows if r["label"] == "spoof" and "live_label" in r]
    prints_live = sum(r["live_label"] == "live" for r in prints if passes(r))
    return [f"{without} of {len(blurred)}", f"{with_check} of {len(blurred)}", f"{false_retakes} of {len(originals)}",
            f"{prints_live} of {len(prints)}"]


def report(manifest: dict, train: list[dict], dev: list[dict]) -> str:
    limits, how = manifest["limits"], manifest["calibration"]
    frontal = limits["frontal_nose_position"]
    lines = [
        "# Capture quality: limits and what they do",
        "",
        f"Version `{manifest['version']}`, chosen by `python -m model_export quality choose` from the sweeps of "
        "`python -m model_export quality sweep` and reported by `quality evaluate` (NUAA frames degraded by blur, exposure gain, fewer pixels and rotation, "
        "each run through the service's detector, the anti-spoofing ensemble and the SFace face model).",
        "",
        "## Limits",
        "",
        "| limit | value | how it was chosen |",
        "| --- | ---: | --- |",
    ]
    for key, value in limits.items():
        h = how.get(key)
        lines.append(f"| `{key}` | {value} | {json.dumps(h) if isinstance(h, dict) else h} |")
    lines += ["", f"Data: {how['data']}. A misread: {how['misread']}.", ""]
    lines += ["## Summary", "", "| split | blurred live (sigma <= 3) called spoof, without the check | with the check | "
              "undegraded live asked to retake | prints passing the check called live |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, rows in (("train", train), ("dev (held out)", dev)):
        lines.append("| " + name + " | " + " | ".join(summary(rows, limits, frontal)) + " |")
    lines += [""]
    for name, rows in (("train (chose the limits)", train), ("dev (held out: other people, another session)", dev)):
        lines += [f"## {name}", "", "Live frames, per degradation: captures, retakes asked, and the anti-spoofing label and "
                  "face-model band of those that passed the limits; `crop:` = refused before the quality check.", ""]
        lines += outcome_markdown(split_by_label(rows, limits, frontal, "live"), "live") + [""]
        lines += ["Printed-photo attacks: a print that passes the limits must never be `live`.", ""]
        lines += outcome_markdown(split_by_label(rows, limits, frontal, "spoof"), "print") + [""]
    return "\n".join(lines) + "\n"


def arguments(step: str, doc: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=f"python -m model_export quality {step}", description=doc)
    ap.add_argument("--run", type=Path, default=RUNS_DIR / "quality", help="run folder with the sweeps (never inside models/)")
    return ap


def sweeps(run: Path) -> tuple[list[dict], list[dict]]:
    """The run's train and dev sweeps; SystemExit when `sweep` has not run for both."""
    missing = [run / f"{split}.jsonl" for split in ("train", "dev") if not (run / f"{split}.jsonl").is_file()]
    if missing:
        raise SystemExit(f"{', '.join(map(str, missing))} missing: run `python -m model_export quality sweep --split train|dev` first")
    return read_rows(run / "train.jsonl"), read_rows(run / "dev.jsonl")


def choose_main(argv: list[str] | None = None) -> int:
    """`quality choose`: the limits from the run's train sweep, into <run>/manifest.json (see the module docstring)."""
    ap = arguments("choose", choose_main.__doc__)
    ap.add_argument("--nuaa", type=Path, default=SHARED_DATA / "nuaa", help="the frames the sweep read (for the data hash)")
    args = ap.parse_args(argv)
    run = not_shipped(args.run)
    train, _ = sweeps(run)
    live = [r for r in measured(train) if r["label"] == "live" and not r.get("crop_reason")]
    family = lambda *kinds: [r for r in live if r["kind"] in kinds]  # noqa: E731

    originals = [r for r in live if r["kind"] == "none"]
    # A degraded capture counts as misread only when the models read its undegraded frame right:
    # what a sweep shows is what the degradation did, not a frame the models never got right.
    read_right = {r["file"] for r in originals if not misread(r)}
    live = [r for r in live if r["file"] in read_right]
    frontal = float(np.median([r["nose_position_raw"] for r in originals]))

    # Sharpness: the blur sweeps (alone and with a dimmer exposure), misread by the anti-spoofing ensemble or the face model.
    min_sharpness, sharp_how = min_limit(family("none", "blur", "blur_gain"), "sharpness", misread, 1.0)
    # Exposure: the gain sweep, darker and brighter separately (the undegraded frames are level 1).
    from .sweep import GAINS, ROLLS, SCALES

    gain_rows = [dict(r, value=1.0) if r["kind"] == "none" else r for r in family("none", "gain")]
    darker = [1.0] + sorted((g for g in GAINS if g < 1), reverse=True)
    brighter = [1.0] + sorted(g for g in GAINS if g > 1)
    min_brightness, dark_how = level_limit(gain_rows, "brightness", darker, lower_is_worse=True, step=1.0)
    max_brightness, bright_how = level_limit(gain_rows, "brightness", brighter, lower_is_worse=False, step=1.0)
    # A dim or glaring print must never pass for live: the exposure limits also keep out every training print
    # the ensemble no longer called a clear spoof at a darker or brighter exposure.
    prints = [r for r in measured(train) if r["label"] == "spoof" and not r.get("crop_reason") and r["kind"] == "gain"]
    dim_prints = [r["quality"]["brightness"] for r in prints if r["value"] < 1 and r["live_label"] != "spoof"]
    glaring_prints = [r["quality"]["brightness"] for r in prints if r["value"] > 1 and r["live_label"] != "spoof"]
    if dim_prints and ceil_to(max(dim_prints) + 1e-9, 1.0) > min_brightness:
        min_brightness = ceil_to(max(dim_prints) + 1e-9, 1.0)
        dark_how["set_by_prints"] = f"just above the brightest dimmed training print not called a spoof ({max(dim_prints):.2f})"
    if glaring_prints and floor_to(min(glaring_prints) - 1e-9, 1.0) < max_brightness:
        max_brightness = floor_to(min(glaring_prints) - 1e-9, 1.0)
        bright_how["set_by_prints"] = f"just below the dimmest brightened training print not called a spoof ({min(glaring_prints):.2f})"
    # Clipping: the share of black or white face pixels, on the brighter levels (where clipping happens).
    clip_rows = [dict(r, quality={**r["quality"], "clipped": max(r["quality"]["dark_fraction"], r["quality"]["bright_fraction"])})
                 for r in gain_rows]
    max_clipped, clip_how = level_limit(clip_rows, "clipped", brighter, lower_is_worse=False, step=0.01)
    # Size: the scale sweep.
    scale_rows = [dict(r, value=1.0) if r["kind"] == "none" else r for r in family("none", "scale")]
    min_eye, size_how = level_limit(scale_rows, "eye_distance_px", [1.0] + sorted(SCALES, reverse=True), lower_is_worse=True, step=1.0)
    # Roll: the rotation sweep.
    roll_rows = [dict(r, value=0.0) if r["kind"] == "none" else r for r in family("none", "roll")]
    max_roll, roll_how = level_limit(roll_rows, "roll_deg", [0.0] + sorted(ROLLS), lower_is_worse=False, step=1.0, absolute=True)
    # Yaw and pitch: no sweep can turn a head in a photo, so the limit is the widest pose seen on the
    # undegraded training captures that the models read right, rounded up to 5 degrees.
    right = [r for r in originals if not misread(r)]
    yaws = [abs(r["quality"]["yaw_deg"]) for r in right]
    pitches = [abs(with_pose(r["quality"], r["nose_position_raw"], frontal)["pitch_deg"]) for r in right]
    max_yaw, max_pitch = ceil_to(max(yaws) + 1e-9, 5.0), ceil_to(max(pitches) + 1e-9, 5.0)

    limits = {
        "min_eye_distance_px": min_eye, "min_brightness": min_brightness, "max_brightness": max_brightness,
        "max_clipped_fraction": max_clipped if math.isfinite(max_clipped) else 1.0, "min_sharpness": min_sharpness,
        "max_yaw_deg": max_yaw, "max_pitch_deg": max_pitch, "max_roll_deg": max_roll if math.isfinite(max_roll) else 180.0,
        "frontal_nose_position": round(frontal, 4),
    }
    how = {
        "data": f"NUAA train live frames ({len({r['file'] for r in originals})} frames, every n-th, not enrolment frames), "
                "each degraded by every sweep of model_export/quality/sweep.py",
        "misread": "the anti-spoofing ensemble calls the live capture a spoof, or the face model's score against the subject's "
                   "reference (mean of 5 frames of another session) falls below the accept band",
        "min_sharpness": {"sweep": "Gaussian blur of the whole frame, alone and with exposure gain 0.5 or 0.35", **sharp_how},
        "min_brightness": {"sweep": "exposure gain below 1", **dark_how},
        "max_brightness": {"sweep": "exposure gain above 1", **bright_how},
        "max_clipped_fraction": {"sweep": "exposure gain, share of face pixels at or below 8 or at or above 247", **clip_how},
        "min_eye_distance_px": {"sweep": "the frame shrunk (subject further away)", **size_how},
        "max_roll_deg": {"sweep": "the frame rotated", **roll_how},
        "max_yaw_deg": "widest |yaw| among undegraded training captures read right, rounded up to 5 degrees (no yaw sweep is possible)",
        "max_pitch_deg": "widest |pitch| among undegraded training captures read right, rounded up to 5 degrees",
        "frontal_nose_position": "median nose-tip place between eye line and mouth on undegraded training captures",
    }
    today = dt.date.today().isoformat()
    frames = sorted({args.nuaa / "train" / r["label"] / r["person"] / r["file"] for r in train})
    manifest = {"name": "quality", "version": f"{today}-{VERSION_PREFIX}", "limits": limits, "calibration": how,
                "evaluation": None,  # filled by `ship` from the evaluation's report/metrics.json
                "build": {"seeds": {}, "randomness": "none: the sweep takes every n-th frame and the limits are rules on its rows",
                          "data": {"choice": data_record("NUAA train frames of the sweep", args.nuaa, frames)}}}
    (run / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(limits, indent=1))
    print(json.dumps(how, indent=1))
    return 0


HAND_WRITTEN_FROM = "## Cost on the request path"  # the report's sections from here on are written by hand


def evaluate_main(argv: list[str] | None = None) -> int:
    """`quality evaluate`: the run's limits on both splits, and the several-faces rule: reports into the run, nothing else."""
    ap = arguments("evaluate", evaluate_main.__doc__)
    ap.add_argument("--against", type=Path, default=MODELS_DIR / "quality", help="shipped limits whose hand-written report sections are kept")
    args = ap.parse_args(argv)
    run = not_shipped(args.run)
    if not (run / MANIFEST_FILE).is_file():
        raise SystemExit(f"{run / MANIFEST_FILE} is missing: run `python -m model_export quality choose` first")
    manifest = json.loads((run / MANIFEST_FILE).read_text())
    train, dev = sweeps(run)
    limits, frontal = manifest["limits"], manifest["limits"]["frontal_nose_position"]
    metrics = {"train": outcome_table(train, limits, frontal), "dev": outcome_table(dev, limits, frontal)}
    (run / "report").mkdir(exist_ok=True)
    (run / "report" / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    text = report({**manifest, "evaluation": metrics}, train, dev)
    shipped = args.against / "REPORT.md"
    if shipped.is_file() and HAND_WRITTEN_FROM in shipped.read_text():
        text = text.rstrip("\n") + "\n\n" + shipped.read_text()[shipped.read_text().index(HAND_WRITTEN_FROM):]
    (run / "REPORT.md").write_text(text)
    from .bystanders import evaluate_composites

    if evaluate_composites(run) is None:
        print("no several-faces composites in the run (quality bystanders --half choose|test): BYSTANDERS.md not written")
    print(f"wrote {run / 'REPORT.md'} and {run / 'report'}; next: python -m model_export quality ship")
    return 0


def ship_main(argv: list[str] | None = None) -> int:
    """`quality ship`: the run's limits (with their evaluation and build record) and reports into models/quality/."""
    args = shipping_parser("python -m model_export quality ship", "quality", ship_main.__doc__).parse_args(argv)
    manifest, metrics = read_run(args.run)
    manifest["evaluation"] = metrics
    path = ship(args.run, args.models_dir / "quality", with_build(manifest), ())
    print(f"shipped quality limits {manifest['version']} from {manifest['build']['code_commit']} into {path.parent}")
    return 0
