"""`python -m model_export face evaluate`: SFace at its calibrated bands, through the service's path; read-only.

Three test sets, none of which chose anything:

(a) NUAA live frames, cross-session, of the subjects that did not calibrate
    the bands (the manifest's `calibration.subjects` did): single-frame pairs
    and the service's own rule (a probe against the mean of 5 enrolment
    frames of another session).
(b) faces/master.csv: 300 labelled pairs of photos of public figures.
(c) large photos: the faces/ photos above 2 MP, detected at full size and on
    the scaled copy the service uses.

Writes REPORT.md and report/ (evaluation.json, metrics.json, DET and score
plots) into --out; never the manifest. `face ship` takes them into models/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from functions.biometrics.face_detection import crop_face, detect_faces
from functions.onnx_models import OnnxModel
from functions.settings import Settings

from ..common.images import read_rgb
from ..common.paths import SHARED_DATA
from ..common.provenance import not_shipped
from ..common.shipping import METRICS_FILE
from .fetch import DEFAULT_RUN
from .pairs import (
    CALIBRATION_SUBJECTS,
    ENROLMENT_FRAMES,
    Embedder,
    Sample,
    band_outcomes,
    embed_sample,
    enrolment_pairs,
    faces_pair_scores,
    faces_pairs,
    frame_pairs,
    nuaa_samples,
    rates,
    verification_summary,
)

LARGE_SIDE = 4000  # a phone photo's longer side


def large_photo_pairs(faces_dir: Path, pairs, embedder: Embedder, settings: Settings) -> dict:
    """The labelled pairs with every photo resized to a LARGE_SIDE px longer side, detected at full size and scaled."""
    import cv2

    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    out = {}
    for label, max_side in (("detected_on_scaled_copy", None), ("detected_at_full_size", 10**6)):
        samples = {}
        for name in names:
            image = read_rgb(faces_dir / name)
            f = LARGE_SIDE / max(image.shape[:2])
            image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)
            kw = {} if max_side is None else {"detection_max_side": max_side}
            found = crop_face(image, min_score=settings.min_face_score, min_eye_distance_px=settings.min_eye_distance_px,
                              multiple_faces=settings.multiple_faces, **kw)
            sample = Sample(faces_dir / name, name, "", reason=found.reason)
            if found.ok:
                sample.embedding = embedder.embed(image, found.detection.keypoints)
            samples[name] = sample
        g, i, missing = faces_pair_scores(pairs, samples)
        out[label] = {"failed_photos": sorted(n for n, s in samples.items() if s.reason), "pairs_missing": missing,
                      "genuine_min": round(float(g.min()), 4) if len(g) else None,
                      "impostor_max": round(float(i.max()), 4) if len(i) else None, "scores": (g, i)}
    return out


def large_photo_check(faces_dir: Path, names: list[str], embedder: Embedder, settings: Settings) -> dict:
    """Detection at full size against the scaled copy: keypoint shift (share of the inter-eye distance) and embedding change."""
    rows = []
    for name in names:
        image = read_rgb(faces_dir / name)
        if image.shape[0] * image.shape[1] < 2_000_000:
            continue
        full = [f for f in detect_faces(image, max_side=10**6) if f.score >= settings.min_face_score]
        scaled = [f for f in detect_faces(image) if f.score >= settings.min_face_score]
        row = {"photo": name, "size": f"{image.shape[1]}x{image.shape[0]}", "faces_full": len(full), "faces_scaled": len(scaled)}
        if full and scaled:
            a, b = full[0], scaled[0]
            shift = max(float(np.hypot(*np.subtract(a.keypoints[k], b.keypoints[k]))) for k in a.keypoints)
            ea, eb = embedder.embed(image, a.keypoints), embedder.embed(image, b.keypoints)
            row["keypoint_shift"] = round(shift / b.inter_eye_px, 4)
            row["cosine_full_vs_scaled"] = round(float(ea @ eb / np.linalg.norm(ea) / np.linalg.norm(eb)), 4)
        rows.append(row)
    return {"photos": rows}


# --- plots and report --------------------------------------------------------------------------


def plot_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ticks = [1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5]
    clip = lambda v: norm.ppf(np.clip(v, 1e-5, 1 - 1e-5))
    for (label, (genuine, impostor)), style in zip(curves.items(), ("-", "--", ":", "-.")):
        _, fmr, fnmr = rates(genuine, impostor)
        ax.plot(clip(fmr), clip(fnmr), style, label=label)
    ax.set_xticks(clip(np.array(ticks)), [f"{t:g}" for t in ticks])
    ax.set_yticks(clip(np.array(ticks)), [f"{t:g}" for t in ticks])
    ax.set_xlim(clip(1e-5), clip(0.5))
    ax.set_ylim(clip(1e-5), clip(0.5))
    ax.set_xlabel("false match rate")
    ax.set_ylabel("false non-match rate")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scores(genuine: np.ndarray, impostor: np.ndarray, bands: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(-0.3, 1.0, 131)
    ax.hist(impostor, bins=bins, density=True, alpha=0.6, label="different people")
    ax.hist(genuine, bins=bins, density=True, alpha=0.6, label="same person")
    ax.axvline(bands["review"], color="orange", ls="--", label=f"review from {bands['review']:.3f}")
    ax.axvline(bands["accept"], color="green", ls="--", label=f"accept from {bands['accept']:.2f}")
    ax.set_yscale("log")
    ax.set_xlabel("cosine similarity (SFace)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pct(v: float) -> str:
    return f"{v * 100:.2f} %"


def write_report(results: dict, path: Path) -> None:
    """REPORT.md from the evaluation's figures (report/evaluation.json holds all of them)."""
    r = results
    cs, en = r["nuaa_cross_session"], r["nuaa_cross_session_enrolment_rule"]
    lines = [
        "# face_sface: evaluation report",
        "",
        "Generated by `python -m model_export face evaluate` (model_export/face/evaluate.py); every figure is in",
        "`report/evaluation.json`. Photos go through the service's own crop (MediaPipe, dominant-face policy,",
        "detection on a copy scaled to at most 1024 px) and SFace's alignment. The previous model's figures",
        "(dlib's ResNet, removed) are in MODEL_CARD.md.",
        "",
        "## Protocol",
        "",
        f"- NUAA live frames, identities = subject folders. Calibration subjects {', '.join(r['protocol']['calibration_subjects'])}"
        " chose the bands (`face calibrate`); the figures below are on the other subjects"
        f" ({', '.join(r['protocol']['reported_subjects'])}), which nothing was tuned on.",
        f"- Pairs: {r['protocol']['pairs']}. Service rule: {r['protocol']['enrolment_rule']}.",
        "- faces/master.csv: 300 labelled pairs (38 same, 262 different) of photos of public figures.",
        "",
        "## NUAA cross-session (reported subjects)",
        "",
        "| model | genuine pairs | impostor pairs | EER | FNMR at FMR 1e-2 | FNMR at FMR 1e-3 |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| SFace (served) | {cs['genuine_pairs']} | {cs['impostor_pairs']} | {pct(cs['eer'])} | {pct(cs['fnmr_at_fmr_0.01'])} | {pct(cs['fnmr_at_fmr_0.001'])} |",
    ]
    lines.append(f"| SFace, service rule (mean of {ENROLMENT_FRAMES} enrolment frames) | {en['genuine_pairs']} | {en['impostor_pairs']} | "
                 f"{pct(en['eer'])} | {pct(en['fnmr_at_fmr_0.01'])} | {pct(en['fnmr_at_fmr_0.001'])} |")
    lines += ["", "![DET](report/det_nuaa_cross_session.png)"]
    b = r["bands"]
    lines += ["", f"## Bands: accept at cosine >= {b['accept']}, review from {b['review']}, reject below", "",
              "| data | genuine accepted | genuine to review | genuine rejected | impostors accepted | impostors to review | impostors rejected |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, key in (("NUAA calibration subjects (chose the bands)", "bands_on_calibration"),
                       ("NUAA reported subjects, single frames", "bands_on_nuaa_cross_session"),
                       ("NUAA reported subjects, service rule", "bands_on_nuaa_enrolment_rule")):
        o = r[key]
        lines.append(f"| {label} | {pct(o['genuine_accepted'])} | {pct(o['genuine_review'])} | {pct(o['genuine_rejected'])} | "
                     f"{o['impostor_accepted']} | {o['impostor_review']} | {o['impostor_rejected']} |")
    fo = r["faces_pairs"]["bands"]
    lines.append(f"| faces/master.csv | {pct(fo['genuine_accepted'])} | {pct(fo['genuine_review'])} | {pct(fo['genuine_rejected'])} | "
                 f"{fo['impostor_accepted']} | {fo['impostor_review']} | {fo['impostor_rejected']} |")
    lines += ["", "Impostor pairs accepted on the reported subjects, by pair of people: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(r["impostor_pairs_accepted_by_people"].items(), key=lambda kv: -kv[1])),
              "", "![scores](report/scores_nuaa_cross_session.png)", "", "## Per subject (reported subjects, single frames)", "",
              "| subject | genuine pairs | EER | FNMR at 1e-3 | lowest genuine | genuine accepted | impostor pairs | highest impostor | impostors accepted |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for person, v in r["per_subject"].items():
        if "genuine_pairs" in v:
            lines.append(f"| {person} | {v['genuine_pairs']} | {pct(v['eer'])} | {pct(v['fnmr_at_fmr_0.001'])} | {v['genuine_min']} | "
                         f"{pct(v['genuine_accepted'])} | {v['impostor_pairs']} | {v['impostor_max']} | {v['impostors_accepted']} |")
        else:
            lines.append(f"| {person} | - (one session) | | | | | {v['impostor_pairs']} | {v['impostor_max']} | {v['impostors_accepted']} |")
    a = r["acquisition"]
    f = r["faces_pairs"]
    lines += ["", "## Failure to acquire", "",
              f"{a['failed']} of {a['frames']} NUAA live frames gave no usable face. {a['with_other_faces']} frames show more than one"
              f" face (people behind the subject); in {a['other_faces_ignored']} of them another face was confident enough to count, the"
              " subject's face was dominant and taken, and the frame flagged `other_faces_ignored` (policy 'reject' would have refused them).",
              "", "## faces/master.csv (300 pairs)", "", "| model | right at the accept edge | lowest genuine | highest impostor | EER |", "| --- | --- | --- | --- | --- |",
              f"| SFace | {f['correct_at_accept']}/300 | {f['genuine_min']} | {f['impostor_max']} | {pct(f['eer'])} |",
              "", "![faces](report/scores_faces_pairs.png)", "", "## Large photos", "",
              "The 300 pairs with every photo resized to a 4000 px longer side:", "",
              "| detection | photos without a face | right at the accept edge | lowest genuine | highest impostor |", "| --- | --- | --- | --- | --- |"]
    for label, v in r["large_photos"]["faces_pairs_at_4000px"].items():
        lines.append(f"| {label.replace('_', ' ')} | {len(v['failed_photos'])} | {v['correct_at_accept']}/300 | {v['genuine_min']} | {v['impostor_max']} |")
    photos = [x for x in r["large_photos"]["photos"] if "keypoint_shift" in x]
    if photos:
        shifts = [x["keypoint_shift"] for x in photos]
        cos = [x["cosine_full_vs_scaled"] for x in photos]
        lines += ["", f"The {len(photos)} faces/ photos above 2 MP, detected at full size and on the scaled copy: the same faces found in"
                  f" each; keypoints move by a median {np.median(shifts) * 100:.1f} % of the inter-eye distance (at most {max(shifts) * 100:.1f} %),"
                  f" and the two chips' embeddings agree at cosine {min(cos):.3f} or more."]
    path.write_text("\n".join(lines) + "\n")


def evaluate(model: OnnxModel, nuaa: Path, faces: Path) -> tuple[dict, dict]:
    """(every figure, what the plots need) at the manifest's bands."""
    settings = Settings.from_env({})
    bands = model.manifest.thresholds
    calibration_people = set(model.manifest.calibration.get("subjects", CALIBRATION_SUBJECTS))
    samples = nuaa_samples(nuaa, model, settings)
    cal = [s for s in samples if s.person in calibration_people]
    rep = [s for s in samples if s.person not in calibration_people]
    cal_pairs, rp = frame_pairs(cal), frame_pairs(rep)
    rep_enrol, cal_enrol = enrolment_pairs(rep), enrolment_pairs(cal)

    per_subject = {}
    for person in sorted({s.person for s in rep}):
        g = rp.genuine[rp.genuine_person == person]
        i = rp.impostor[(rp.impostor_people == person).any(1)]
        row = {"impostor_pairs": int(len(i)), "impostor_max": round(float(i.max()), 4), "impostors_accepted": int((i >= bands["accept"]).sum())}
        if len(g):
            row.update(verification_summary(g, i))
            row.update(genuine_min=round(float(g.min()), 4), genuine_accepted=round(float(np.mean(g >= bands["accept"])), 4))
        per_subject[person] = row
    lookalike = {}
    for a, b in rp.impostor_people[rp.impostor >= bands["accept"]]:
        key = "-".join(sorted((a, b)))
        lookalike[key] = lookalike.get(key, 0) + 1

    embedder = Embedder.of(model)
    pairs = faces_pairs(faces)
    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    faces_samples = {n: embed_sample(Sample(faces / n, n, ""), read_rgb(faces / n), embedder, settings) for n in names}
    faces_g, faces_i, missing = faces_pair_scores(pairs, faces_samples)
    faces_result = {"missing": missing, "genuine_min": round(float(faces_g.min()), 4), "impostor_max": round(float(faces_i.max()), 4),
                    **verification_summary(faces_g, faces_i),
                    "correct_at_accept": int((faces_g >= bands["accept"]).sum() + (faces_i < bands["accept"]).sum()),
                    "bands": band_outcomes(faces_g, faces_i, bands)}

    large = large_photo_check(faces, sorted(p.name for p in faces.glob("*.jpg")), embedder, settings)
    large_pairs = large_photo_pairs(faces, pairs, embedder, settings)
    for row in large_pairs.values():
        g, i = row.pop("scores")
        row["correct_at_accept"] = int((g >= bands["accept"]).sum() + (i < bands["accept"]).sum())
        row["bands"] = band_outcomes(g, i, bands)
    large["faces_pairs_at_4000px"] = large_pairs

    results = {
        "model": model.manifest.summary(),
        "protocol": {
            "calibration_subjects": sorted(calibration_people),
            "reported_subjects": sorted({s.person for s in rep}),
            "pairs": "single frames, different sessions of one person (genuine) or two people (impostor)",
            "enrolment_rule": f"probe frame vs mean of {ENROLMENT_FRAMES} frames of another session, 20 draws per person-session",
        },
        "acquisition": {
            "frames": len(samples),
            "failed": sum(1 for s in samples if s.reason),
            "reasons": sorted({s.reason for s in samples if s.reason}),
            "with_other_faces": sum(1 for s in samples if s.faces_found > 1),
            "other_faces_ignored": sum(1 for s in samples if s.flags),
        },
        "nuaa_calibration": verification_summary(cal_pairs.genuine, cal_pairs.impostor),
        "nuaa_cross_session": verification_summary(rp.genuine, rp.impostor),
        "nuaa_cross_session_enrolment_rule": verification_summary(rep_enrol.genuine, rep_enrol.impostor),
        "bands": bands,
        "bands_on_calibration": band_outcomes(cal_pairs.genuine, cal_pairs.impostor, bands),
        "bands_on_calibration_enrolment_rule": band_outcomes(cal_enrol.genuine, cal_enrol.impostor, bands),
        "bands_on_nuaa_cross_session": band_outcomes(rp.genuine, rp.impostor, bands),
        "bands_on_nuaa_enrolment_rule": band_outcomes(rep_enrol.genuine, rep_enrol.impostor, bands),
        "impostor_pairs_accepted_by_people": lookalike,
        "per_subject": per_subject,
        "faces_pairs": faces_result,
        "large_photos": large,
    }
    return results, {"reported": rp, "enrolment": rep_enrol, "faces": (faces_g, faces_i)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export face evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_RUN, help="model folder to evaluate (a run, or models/face_sface)")
    parser.add_argument("--out", type=Path, help="where REPORT.md and report/ go (default: --model, which must then be a run)")
    parser.add_argument("--nuaa", type=Path, default=SHARED_DATA / "nuaa")
    parser.add_argument("--faces", type=Path, default=SHARED_DATA / "faces")
    parser.add_argument("--report-only", action="store_true", help="rewrite REPORT.md from report/evaluation.json")
    args = parser.parse_args(argv)
    out = not_shipped(args.out or args.model)
    report_dir = out / "report"
    if args.report_only:
        write_report(json.loads((report_dir / "evaluation.json").read_text()), out / "REPORT.md")
        return 0

    results, scores = evaluate(OnnxModel(args.model), args.nuaa, args.faces)
    print(json.dumps(results, indent=1))
    report_dir.mkdir(parents=True, exist_ok=True)
    rp, enrol, bands = scores["reported"], scores["enrolment"], results["bands"]
    plot_det({f"sface ({results['nuaa_cross_session']['eer'] * 100:.2f}% EER)": (rp.genuine, rp.impostor),
              f"sface, mean of {ENROLMENT_FRAMES} enrolment frames": (enrol.genuine, enrol.impostor)},
             report_dir / "det_nuaa_cross_session.png", "NUAA cross-session, reported subjects")
    plot_scores(rp.genuine, rp.impostor, bands, report_dir / "scores_nuaa_cross_session.png", "NUAA cross-session, reported subjects")
    plot_scores(*scores["faces"], bands, report_dir / "scores_faces_pairs.png", "faces/master.csv, 300 pairs")
    (report_dir / "evaluation.json").write_text(json.dumps(results, indent=1) + "\n")
    metrics = {k: results[k] for k in ("acquisition", "nuaa_cross_session", "nuaa_cross_session_enrolment_rule",
                                       "bands_on_nuaa_cross_session", "bands_on_nuaa_enrolment_rule", "faces_pairs")}
    (report_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1) + "\n")
    write_report(results, out / "REPORT.md")
    print(f"wrote {out / 'REPORT.md'} and {report_dir}")
    return 0
