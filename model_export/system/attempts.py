"""Whole verification attempts composed from cached scores, decided by the service's own decide().

An attempt is a face photo against an enrolled face template (with the
liveness result of that same photo) and a questioned signature against an
enrolled writer: the two modalities come from different data sets and are
drawn independently. Kinds:

- genuine: the person's own live frame (another session than the template) and their own genuine signature;
- zero_effort: another person's live frame, and that other person's own signature (a random forgery);
- informed: another person's live frame and a skilled forgery of the enrolled writer;
- look_alike: the closest LOOK_ALIKE_SHARE of impostor face pairs (highest scores) and a skilled forgery;
- presentation_attack: a printed photo (NUAA), or a simulated print or screen replay, of the enrolled person,
  and the enrolled writer's genuine signature.

Every step record is built by the step's own result class (FaceCropResult,
AntispoofResult, FaceMatchResult, SignatureResult) with the manifests' bands,
thresholds and LLR calibrations, so decide() reads exactly what it reads in
service. Two parts: `calibration` (the face model's calibration subjects on
NUAA train, liveness on NUAA train, signature validation writers: where every
threshold is chosen; a signature model trained on every development writer has
seen those writers, so its calibration attempts look easier than they are and
the floor they put under the accept cut is too low to rely on; the policy
records which of the odds rule and the floor set the cut) and `evaluation` (NUAA dev, session 3, of the other
people; signature test writers: nothing is chosen here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from functions.biometrics.decision import decide
from functions.biometrics.face_detection import FaceCropResult
from functions.biometrics.face_matching import FaceBands, FaceMatchResult
from functions.biometrics.liveness import AntispoofResult, label_for
from functions.biometrics.signature_verification import (
    SignatureResult,
    calibrated_score,
    normalised_scores,
    raw_score,
    writer_model_from_features,
    writer_scores,
    zone,
)
from functions.manifests import LlrCalibration, ModelManifest

from ..signature.data import load_splits, writers_of
from ..signature.trials import make_trials
from .llr import face_pair_scores, face_templates

KINDS = ("genuine", "zero_effort", "informed", "look_alike", "presentation_attack")
LOOK_ALIKE_SHARE = 0.02
ATTEMPTS = {"genuine": 20_000, "zero_effort": 300_000, "informed": 300_000, "look_alike": 100_000, "presentation_attack": 50_000}
SEED = 2027


# --- signatures ---------------------------------------------------------------------------------


def signature_trials(sigs, manifest: ModelManifest, background: np.ndarray, part: str, cohort: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every trial of one part's writers (5 references, as signature evaluation draws them), scored by the service's writer model
    (with the shipped cohort when the manifest normalises by it)."""
    idx = np.flatnonzero((sigs.part == part) & (sigs.reason == ""))
    sets, writers, genuine, features = sigs.sets[idx], sigs.writers[idx], sigs.genuine[idx], sigs.features[idx]
    comparison = manifest.extra["comparison"]
    thresholds = {"genuine": manifest.thresholds["genuine"], "forged": manifest.thresholds["forged"]}
    rows = {"kind": [], "writer": [], "set": [], "score": [], "distance": [], "svm": []}
    for t in make_trials(sets, writers, genuine, sorted(set(writers.tolist()))):
        writer = writer_model_from_features(features[t.refs], background, float(comparison["svm_c"]), manifest.sha256, cohort)
        for kind in ("genuine", "skilled", "random"):
            for i in getattr(t, kind):
                _, over_spread, svm = writer_scores(features[i], writer)
                rows["kind"].append(kind)
                rows["writer"].append(t.writer)
                rows["set"].append(t.set)
                raw = raw_score(*normalised_scores(over_spread, svm, writer, comparison), comparison)
                rows["score"].append(calibrated_score(raw, manifest.calibration))
                rows["distance"].append(over_spread)
                rows["svm"].append(svm)
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["label"] = np.array([zone(s, thresholds) for s in out["score"]])
    out["thresholds"] = thresholds
    return out


def signature_record(trials: dict, i: int, manifest: ModelManifest, llr: LlrCalibration | None) -> dict:
    score = float(trials["score"][i])
    return SignatureResult(
        label=str(trials["label"][i]), score=score, thresholds=trials["thresholds"], distances=[],
        distance=float(trials["distance"][i]), svm=float(trials["svm"][i]),
        rule=f"{manifest.extra['comparison']['rule']} against 5 references", model_version=manifest.version,
        model_sha256=manifest.sha256, llr=None if llr is None else llr.llr(score),
    ).to_record()


# --- faces --------------------------------------------------------------------------------------


@dataclass
class FacePairs:
    """Probe photos against enrolment templates: the face-match step's score for each pair."""

    probe: np.ndarray  # index into FaceImages
    template: np.ndarray  # index into `templates`
    score: np.ndarray
    templates: list[dict]


def face_pairs(faces, probes: np.ndarray, templates: list[dict], relation: str) -> FacePairs:
    """Pairs of one relation: 'same' (same person, another session), 'different' (another person), 'attack' (same person)."""
    tp = np.array([t["person"] for t in templates])
    ts = np.array([t["session"] for t in templates])
    pp, ps = faces.person[probes][:, None], faces.session[probes][:, None]
    if relation == "same":
        mask = (pp == tp[None]) & (ps != ts[None])
    elif relation == "different":
        mask = pp != tp[None]
    else:
        mask = pp == tp[None]
    ok = faces.usable[probes]
    scores = np.full(mask.shape, np.nan)
    if ok.any():
        scores[ok] = face_pair_scores(faces, probes[ok], templates)
    r, c = np.nonzero(mask)
    return FacePairs(probes[r], c, scores[r, c], templates)


def face_records(faces, i: int, score: float, face_manifest: ModelManifest, face_llr, spoof_manifest: ModelManifest, spoof_llr) -> dict:
    """The face-crop, antispoof and face-match records of one photo against one template (score NaN: unusable photo)."""
    reason = str(faces.reason[i]) or None
    flags = tuple(f for f in str(faces.flags[i]).split(",") if f)
    crop = FaceCropResult(reason, None, 0 if reason == "no_face" else 1, flags=flags).to_record()
    if reason:
        return {"face-crop": crop, "antispoof": None, "face-match": None}
    t = spoof_manifest.thresholds
    thresholds = {"live": t["live"], "spoof": t["spoof"]}
    live = float(faces.live_score[i])
    spoof = AntispoofResult(label_for(live, thresholds), live, thresholds, spoof_manifest.version,
                            llr=None if spoof_llr is None else spoof_llr.llr(live)).to_record()
    bands = FaceBands(accept=face_manifest.thresholds["accept"], review=face_manifest.thresholds["review"])
    match = FaceMatchResult(score=score, band=bands.band(score), bands=bands, model=face_manifest.name,
                            model_version=face_manifest.version, llr=None if face_llr is None else face_llr.llr(score)).to_record()
    return {"face-crop": crop, "antispoof": spoof, "face-match": match}


# --- the two parts --------------------------------------------------------------------------------


@dataclass
class Part:
    """One part's pools: face pairs per relation and signature trials per kind."""

    name: str
    genuine_faces: FacePairs
    impostor_faces: FacePairs
    attack_faces: FacePairs
    signatures: dict


def calibration_part(faces, calibration_people, sig_trials: dict) -> Part:
    people = sorted(calibration_people)
    templates = face_templates(faces, people, "train")
    live = np.flatnonzero((faces.kind == "live") & (faces.split == "train") & np.isin(faces.person, people))
    prints = np.flatnonzero((faces.kind == "print") & (faces.split == "train") & np.isin(faces.person, people))
    return Part("calibration", face_pairs(faces, live, templates, "same"), face_pairs(faces, live, templates, "different"),
                face_pairs(faces, prints, templates, "attack"), sig_trials)


def evaluation_part(faces, calibration_people, sig_trials: dict) -> Part:
    """Probes: NUAA dev (session 3) frames of people who chose nothing; templates: every person's enrolment frames."""
    others = sorted(set(faces.person[(faces.kind == "live")].tolist()) - set(calibration_people))
    templates = face_templates(faces, sorted(set(faces.person.tolist())), "train") + face_templates(
        faces, [p for p in others if not ((faces.split == "train") & (faces.person == p) & (faces.kind == "live")).any()], "dev")
    dev = faces.split == "dev"
    live = np.flatnonzero(dev & (faces.kind == "live") & np.isin(faces.person, others))
    attacks = np.flatnonzero(dev & (faces.kind != "live"))
    return Part("evaluation", face_pairs(faces, live, templates, "same"), face_pairs(faces, live, templates, "different"),
                face_pairs(faces, attacks, templates, "attack"), sig_trials)


# --- composing and deciding -----------------------------------------------------------------------


@dataclass
class Attempts:
    """Composed attempts of one kind: which face pair and which signature trial, and what decide() said per policy."""

    kind: str
    face: np.ndarray  # index into the face pool of the kind
    signature: np.ndarray  # index into the part's signature trials
    fused: np.ndarray  # the summed LLR (NaN where a veto decided before any sum)
    outcomes: dict[str, np.ndarray]  # policy -> outcome per attempt
    reasons: dict[str, list[list[str]]]
    attack_type: np.ndarray | None = None  # presentation attacks: print | simulated_print | simulated_replay
    pool: dict | None = None  # pool sizes (face pairs, signature trials) the attempts were drawn from


def pools(part: Part, kind: str) -> tuple[FacePairs, np.ndarray]:
    """The face pairs and the signature trials one kind draws from."""
    sig_kind = {"genuine": "genuine", "zero_effort": "random", "informed": "skilled", "look_alike": "skilled",
                "presentation_attack": "genuine"}[kind]
    sig = np.flatnonzero(part.signatures["kind"] == sig_kind)
    if kind == "genuine":
        return part.genuine_faces, sig
    if kind == "presentation_attack":
        return part.attack_faces, sig
    f = part.impostor_faces
    if kind == "look_alike":
        usable = np.flatnonzero(~np.isnan(f.score))
        k = max(1, int(round(LOOK_ALIKE_SHARE * len(usable))))
        top = usable[np.argsort(f.score[usable])[-k:]]
        return FacePairs(f.probe[top], f.template[top], f.score[top], f.templates), sig
    return f, sig


def compose(part: Part, kind: str, n: int | None = None, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Independent draws (with replacement) of a face pair and a signature trial."""
    f, sig = pools(part, kind)
    n = n or ATTEMPTS[kind]
    rng = np.random.default_rng([seed, KINDS.index(kind), 0 if part.name == "calibration" else 1])
    return rng.integers(0, len(f.probe), n), sig[rng.integers(0, len(sig), n)]


def run(part: Part, kind: str, faces, manifests: dict[str, ModelManifest], llrs: dict[str, LlrCalibration | None],
        policies: dict[str, dict], n: int | None = None) -> Attempts:
    """Compose a kind's attempts and decide each under every policy with the service's decide()."""
    f, sig_pool = pools(part, kind)
    fi, si = compose(part, kind, n)
    face_cache: dict[int, dict] = {}
    sig_cache: dict[int, dict] = {}
    outcomes = {p: np.empty(len(fi), dtype=object) for p in policies}
    reasons: dict[str, list[list[str]]] = {p: [] for p in policies}
    fused = np.full(len(fi), np.nan)
    for k, (a, s) in enumerate(zip(fi, si)):
        rec = face_cache.get(a)
        if rec is None:
            rec = face_cache[a] = face_records(faces, int(f.probe[a]), float(f.score[a]), manifests["face"], llrs["face"],
                                               manifests["liveness"], llrs["liveness"])
        srec = sig_cache.get(s)
        if srec is None:
            srec = sig_cache[s] = signature_record(part.signatures, int(s), manifests["signature"], llrs["signature"])
        results = {**rec, "signature": None if rec["face-crop"]["reason"] or (rec["antispoof"] or {}).get("label") == "spoof" else srec}
        for name, kwargs in policies.items():
            d = decide(results, **kwargs)
            outcomes[name][k] = d.outcome
            reasons[name].append(d.reasons)
            if d.explanation.get("fused") is not None and not d.explanation.get("veto"):
                fused[k] = d.explanation["fused"]
    attack_type = faces.kind[f.probe[fi]] if kind == "presentation_attack" else None
    return Attempts(kind, fi, si, fused, outcomes, reasons, attack_type,
                    {"face_pairs": int(len(f.probe)), "signature_trials": int(len(sig_pool)),
                     "probe_photos": int(len(set(f.probe.tolist()))), "signature_writers": int(len(set(part.signatures["writer"][sig_pool].tolist())))})


def signature_parts(sigs, manifest: ModelManifest, background: np.ndarray, cohort: np.ndarray | None = None) -> dict[str, dict]:
    splits = load_splits()
    assert set(writers_of(splits, "val")) >= set(sigs.writers[sigs.part == "val"].tolist())
    return {part: signature_trials(sigs, manifest, background, part, cohort) for part in ("val", "test")}
