"""Each check's score as evidence: a log-likelihood ratio fitted on that model's own calibration data.

`fit_llr` is logistic regression of one score with equal class weights (so
the fitted log-odds assume no prior: they are a likelihood ratio, in natural
log units) and Platt's soft targets ((n+1)/(n+2) and 1/(n+2)), which keep the
slope finite when the calibration classes do not overlap, as the face and
liveness calibration data do not. The result is clamped to
[-ln(n_same), ln(n_different)]: beyond that the data cannot speak
(functions/manifests.py, LlrCalibration).

One fit per model, each on the data its bands were chosen on:
- face (`fit_face_llr`): probe against the mean of ENROLMENT_FRAMES frames of another session, the service's
  rule (with two fused networks, the mean of their cosines), on the NUAA calibration subjects of
  models/face_sface (model_export/face/pairs.py). Call it again whenever the face score changes:
  `python -m model_export system calibrate --only face`;
- liveness (`fit_liveness_llr`): NUAA train, live frames against printed-photo attacks (model_export/antispoof);
- signature (`fit_signature_llr`): validation writers' genuine trials against their skilled forgeries, with the
  shipped model's writer model; a model trained on every development writer (`signature calibrate --folds`)
  brings its own, fitted the same way on out-of-fold scores, and keeps it. Fit it again whenever a new signature model ships:
  `python -m model_export system calibrate --only signature`, then `system evaluate` and `system ship`.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from functions.manifests import LlrCalibration

from ..common.shipping import write_calibration_llr

ENROLMENT_FRAMES = 5
TEMPLATE_DRAWS = 4  # templates per person and session: seeded draws of ENROLMENT_FRAMES frames
TEMPLATE_SEED = 23


def _transform(scores: np.ndarray, of: str) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    if of == "logit":
        p = np.clip(x, 1e-9, 1 - 1e-9)
        return np.log(p / (1 - p))
    return x


def fit_llr(same: np.ndarray, different: np.ndarray, of: str = "score", steps: int = 100) -> LlrCalibration:
    """Weighted logistic regression of the score (Newton's method on two parameters), equal class weights."""
    xs, xd = _transform(same, of), _transform(different, of)
    ns, nd = len(xs), len(xd)
    if ns < 2 or nd < 2:
        raise ValueError(f"an LLR needs both classes: {ns} same, {nd} different")
    x = np.r_[xs, xd]
    t = np.r_[np.full(ns, (ns + 1) / (ns + 2)), np.full(nd, 1 / (nd + 2))]
    w = np.r_[np.full(ns, 0.5 / ns), np.full(nd, 0.5 / nd)]
    # Centre and scale x for a well-conditioned fit; map back at the end.
    mu, sd = float(x.mean()), float(x.std()) or 1.0
    z = (x - mu) / sd
    design = np.c_[z, np.ones_like(z)]
    theta = np.zeros(2)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(design @ theta, -700, 700)))
        grad = design.T @ (w * (p - t))
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    a = theta[0] / sd
    b = theta[1] - theta[0] * mu / sd
    return LlrCalibration(a=float(a), b=float(b), of=of, low=-math.log(ns), high=math.log(nd))


def describe(cal: LlrCalibration, hypothesis: str, data: str, same: np.ndarray, different: np.ndarray) -> dict:
    """What the manifest stores under calibration.llr: the line, its clamp, what it was fitted on, and a check."""
    llr_same = np.array([cal.llr(v) for v in same])
    llr_diff = np.array([cal.llr(v) for v in different])
    return {
        **{k: round(v, 6) for k, v in cal.to_dict().items() if k != "of"}, "of": cal.of,
        "hypothesis": hypothesis,
        "meaning": f"llr = a * {'logit(score)' if cal.of == 'logit' else 'score'} + b, natural log, clamped to [low, high]",
        "method": "logistic regression of the score, equal class weights (no prior), Platt's soft targets; "
                  "clamp: -ln(same trials), +ln(different trials)",
        "data": data,
        "trials": {"same": int(len(same)), "different": int(len(different))},
        "median_llr": {"same": round(float(np.median(llr_same)), 3), "different": round(float(np.median(llr_diff)), 3)},
        "fitted_on": date.today().isoformat(),
    }


def store(models_dir, model_name: str, llr: dict) -> dict:
    """Write calibration.llr into the model's manifest (bands, version and everything else unchanged).

    Only `system ship` calls it: `system calibrate` keeps the fitted LLRs in its run folder.
    """
    write_calibration_llr(models_dir, model_name, llr)
    return llr


# --- the three checks -------------------------------------------------------------------------------


def face_templates(faces, people, split: str, draws: int = TEMPLATE_DRAWS, seed: int = TEMPLATE_SEED) -> list[dict]:
    """Enrolment templates as the service makes them: the unit mean of ENROLMENT_FRAMES usable live frames of one session."""
    rng = np.random.default_rng(seed)
    out = []
    live = (faces.kind == "live") & faces.usable & (faces.split == split)
    for person in sorted(people):
        for session in sorted(set(faces.session[live & (faces.person == person)])):
            pool = np.flatnonzero(live & (faces.person == person) & (faces.session == session))
            if len(pool) < ENROLMENT_FRAMES:
                continue
            for _ in range(draws):
                frames = rng.choice(pool, ENROLMENT_FRAMES, replace=False)
                centre = faces.embedding[frames].astype(np.float64).mean(0)
                second = faces.second_embedding[frames].astype(np.float64).mean(0)
                out.append({"person": person, "session": session, "frames": frames, "vector": centre / np.linalg.norm(centre),
                            "second": second / np.linalg.norm(second) if second.size else second})
    return out


def face_pair_scores(faces, probes: np.ndarray, templates: list[dict]) -> np.ndarray:
    """(probes, templates) the face-match step's score: the cosine between each probe's embedding and each template,
    averaged with the second fused network's cosine where the face score fuses two."""
    e = faces.embedding[probes].astype(np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    score = e @ np.stack([t["vector"] for t in templates]).T
    if faces.second_embedding.shape[1] == 0:
        return score
    e2 = faces.second_embedding[probes].astype(np.float64)
    e2 = e2 / np.linalg.norm(e2, axis=1, keepdims=True)
    return (score + e2 @ np.stack([t["second"] for t in templates]).T) / 2


def fit_face_llr(faces, calibration_people) -> tuple[LlrCalibration, dict]:
    """Same person vs different on the face model's calibration subjects (NUAA train, cross-session, service rule)."""
    templates = face_templates(faces, calibration_people, "train")
    probes = np.flatnonzero((faces.kind == "live") & faces.usable & (faces.split == "train") & np.isin(faces.person, list(calibration_people)))
    scores = face_pair_scores(faces, probes, templates)
    tp = np.array([t["person"] for t in templates])
    ts = np.array([t["session"] for t in templates])
    same = (faces.person[probes][:, None] == tp[None]) & (faces.session[probes][:, None] != ts[None])
    different = faces.person[probes][:, None] != tp[None]
    g, i = scores[same], scores[different]
    cal = fit_llr(g, i, "score")
    data = (f"NUAA train live frames of the face model's calibration subjects {', '.join(sorted(calibration_people))}: "
            f"a frame against the mean of {ENROLMENT_FRAMES} frames of another session (same person) or of another person")
    return cal, describe(cal, "same person", data, g, i)


def fit_liveness_llr(faces) -> tuple[LlrCalibration, dict]:
    """Live vs printed-photo attack on NUAA train (where the anti-spoofing thresholds were chosen)."""
    train = (faces.split == "train") & faces.usable
    live, attack = faces.live_score[train & (faces.kind == "live")], faces.live_score[train & (faces.kind == "print")]
    cal = fit_llr(live, attack, "logit")
    data = "NUAA train (sessions 1-2, subjects 0001-0009): live frames against printed-photo attacks with a face found"
    return cal, describe(cal, "live", data, live, attack)


def fit_signature_llr(trials: dict) -> tuple[LlrCalibration, dict]:
    """Same writer vs skilled forgery on validation writers (scores from model_export/system/attempts.signature_trials).

    Skilled forgeries, not random ones, are the alternative: the LLR then never
    credits a signature for merely not being someone else's, and a random
    forgery still lands at the low clamp.
    """
    genuine, skilled = trials["score"][trials["kind"] == "genuine"], trials["score"][trials["kind"] == "skilled"]
    cal = fit_llr(genuine, skilled, "logit")
    data = (f"validation writers of every set ({len(set(trials['writer'].tolist()))}, never trained on), "
            "5 references per writer: genuine trials against skilled forgeries")
    return cal, describe(cal, "same writer", data, genuine, skilled)


