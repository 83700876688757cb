"""The decision as a whole: `python -m model_export system calibrate | evaluate | ship`, in a run folder (runs/system/).

1. `calibrate` fits each check's LLR on that model's own calibration data
   (llr.py; `--only CHECK` refits one, `--keep-llr` keeps the shipped ones),
   composes attempts (attempts.py) on the calibration part, decides them with
   the fused policy and open thresholds, and chooses the thresholds there:
   `accept` at ln(1 / ACCEPT_ODDS_TARGET), never below the highest summed LLR
   of any calibration impostor attempt, `review` from even odds (0); see
   choose_thresholds. Writes <run>/llr.json and <run>/policy.json.
2. `evaluate` composes attempts on the evaluation part (people and writers
   that chose nothing) and decides them under `all` and `fused` side by side:
   <run>/REPORT.md, <run>/report/ (metrics.json, det.png, fused.png).
3. `ship` writes the run's LLRs into each shipped manifest's calibration.llr
   and the policy (with the evaluation's figures and the build record) and its
   report into models/decision/: the only step that writes there.

After a new model ships, its LLR is fitted again with
`system calibrate --only face|liveness|signature`, then `evaluate` and `ship`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from functions.manifests import (
    DECISION_POLICY_DIR,
    FACE_MODEL,
    POLICY_FILE,
    FusedThresholds,
    LlrCalibration,
    ModelManifest,
    llr_calibration,
    read_manifest,
)
from functions.biometrics.decision import ALL, FUSED
from functions.biometrics.signature_verification import COHORT, COHORT_AND_REFERENCES

from ..common.plots import probit_axes, pyplot, save
from ..common.paths import MODELS_DIR, RUNS_DIR, SHARED_DATA
from ..common.provenance import data_record, not_shipped
from ..common.shipping import METRICS_FILE, read_run, ship, shipping_parser, with_build
from ..face.pairs import CALIBRATION_SUBJECTS
from . import attempts as A
from . import llr as L
from .scores import DEFAULT_CACHE, score_faces, score_signatures

STEP = 0.25  # thresholds are rounded to this (natural-log units)
ACCEPT_ODDS_TARGET = 1e-4  # accept from odds of 10,000 to 1 (the informed-impostor target)
REVIEW_FROM = 0.0  # review from even odds
# How the accept rule came to be, stated in every report because it bears on how blind the figures are.
ACCEPT_RULE_HISTORY = (
    "How the accept rule was adopted: the first rule put accept just above every calibration impostor's summed LLR; "
    "on the evaluation attempts it accepted 95.8% of genuine attempts without review and 1% of look-alikes. The odds "
    "rule (accept from ln 10^4, the informed-impostor target's odds of 10,000 to 1, never below the highest calibration "
    "impostor) was adopted after seeing that evaluation. It is not fitted to the evaluation attempts, but the figures "
    "below are not fully blind: the choice between the two rules was made with them in view.")
TARGETS = {"genuine": ("accepted", ">=", 0.95), "zero_effort": ("accepted", "<=", 1e-5), "informed": ("accepted", "<=", 1e-4),
           "look_alike": ("accepted", "<=", 1e-3), "presentation_attack": ("accepted", "<=", 0.0)}
TITLES = {"genuine": "genuine", "zero_effort": "zero-effort impostor (own signature)", "informed": "informed impostor (skilled forgery)",
          "look_alike": f"look-alike (closest {A.LOOK_ALIKE_SHARE:.0%} of impostor faces) + skilled forgery",
          "presentation_attack": "presentation attack of the enrolled person + genuine signature"}
LLR_FILE = "llr.json"  # in the run: per check, the model and version it was fitted for and its calibration.llr
MODELS = {"face": FACE_MODEL, "liveness": "antispoof", "signature": "signature"}


def load_inputs(data: Path, cache: Path, models_dir: Path):
    """(faces, signatures, shipped manifests, signature trials by part): every score, from the cache when there."""
    faces = score_faces(data / "nuaa", cache, models_dir)
    sigs = score_signatures(data / "signatures", cache, models_dir)
    manifests = {k: read_manifest(models_dir / name) for k, name in MODELS.items()}
    comparison = manifests["signature"].extra["comparison"]
    with np.load(models_dir / "signature" / comparison["background"]["file"]) as z:
        background = z["features"].astype(np.float64)
    cohort = None
    if comparison.get("normalisation") in (COHORT, COHORT_AND_REFERENCES):  # the writer model also scores the shipped cohort
        with np.load(models_dir / "signature" / comparison["cohort"]["file"]) as z:
            cohort = z["features"].astype(np.float64)
    trials = A.signature_parts(sigs, manifests["signature"], background, cohort)
    return faces, sigs, manifests, trials


def fit_llrs(faces, trials, manifests: dict, only: str | None = None) -> dict[str, dict]:
    """Each check's LLR (or one of them) as its manifest would store it under calibration.llr.

    A signature model trained on every development writer (`signature calibrate --folds`) brings its LLR, fitted on
    out-of-fold scores: its validation writers were in its training, so their scores cannot calibrate it."""
    fits = {"face": lambda: L.fit_face_llr(faces, CALIBRATION_SUBJECTS), "liveness": lambda: L.fit_liveness_llr(faces),
            "signature": lambda: L.fit_signature_llr(trials["val"])}
    out = {}
    for check, fit in fits.items():
        if only and check != only:
            continue
        if check == "signature" and manifests["signature"].extra.get("comparison", {}).get("protocol") == "folds":
            out[check] = manifests["signature"].calibration["llr"]
            print("signature: the model's own out-of-fold LLR is kept (its validation writers were trained on)")
            continue
        _, out[check] = fit()
    return out


def choose_thresholds(cal: dict[str, A.Attempts]) -> dict:
    """Accept at the odds the informed-impostor target asks for, checked on calibration attempts; review from even odds.

    With calibrated LLRs and no prior, a fused value T says the attempt is e**T times likelier genuine than not;
    accepting from ln(1 / ACCEPT_ODDS_TARGET) asks the evidence for the informed-impostor target's odds
    (10,000 to 1). The calibration attempts set a floor (the cut is never below the highest calibration
    impostor's sum) and say what it keeps of genuine people there. Review from 0, where the evidence starts
    to favour the claim: below it the evidence is against the claim and the attempt is rejected.
    Why not fit the cut to the calibration attempts alone: on the calibration people the face separates
    everyone, so their impostors' sums say nothing about a look-alike the face model cannot tell apart,
    which is where the signature's evidence has to count.
    """
    impostor = np.concatenate([cal[k].fused for k in ("zero_effort", "informed", "look_alike")])
    impostor = impostor[~np.isnan(impostor)]
    genuine = np.where(np.isnan(cal["genuine"].fused), -np.inf, cal["genuine"].fused)
    highest = float(impostor.max())
    above_impostors = math.floor(highest / STEP) * STEP + STEP
    by_odds = math.ceil(math.log(1 / ACCEPT_ODDS_TARGET) / STEP) * STEP
    accept = max(above_impostors, by_odds)
    review = min(REVIEW_FROM, accept)
    return {"accept": accept, "review": review, "highest_calibration_impostor": round(highest, 4),
            "above_calibration_impostors": above_impostors, "by_odds": by_odds,
            "calibration_genuine_at_or_above_accept": round(float(np.mean(genuine >= accept)), 5),
            "calibration_genuine_below_review": round(float(np.mean(genuine < review)), 5),
            "calibration_impostors_at_or_above_review": round(float(np.mean(impostor >= review)), 5),
            "calibration_impostor_sums": int(len(impostor)), "calibration_genuine_attempts": int(len(genuine))}


def rates(att: A.Attempts, policy: str) -> dict:
    o = att.outcomes[policy]
    n = len(o)
    return {"n": n, **{k: int(np.sum(o == k)) for k in ("accepted", "review", "rejected")}}


def by_attack_type(att: A.Attempts, policy: str) -> dict:
    out = {}
    for t in sorted(set(att.attack_type.tolist())):
        m = att.attack_type == t
        out[t] = {"n": int(m.sum()), **{k: int(np.sum(att.outcomes[policy][m] == k)) for k in ("accepted", "review", "rejected")}}
    return out


def top_reasons(att: A.Attempts, policy: str, k: int = 4) -> list[tuple[str, int]]:
    from collections import Counter

    c = Counter(r[0] if r else "" for r in att.reasons[policy])
    return c.most_common(k)


def upper_bound(accepted: int, n: int) -> float:
    """One-sided 95% upper bound on a rate from `accepted` of `n` (the 'rule of three' at 0; Clopper-Pearson otherwise)."""
    if accepted == 0:
        return 3.0 / n
    from scipy.stats import beta

    return float(beta.ppf(0.95, accepted + 1, n - accepted))


def plot_det(ev: dict[str, A.Attempts], out: Path, thresholds: dict) -> None:
    from scipy.stats import norm

    genuine = ev["genuine"].fused
    g = np.sort(np.where(np.isnan(genuine), -np.inf, genuine))
    fig, ax = pyplot().subplots(figsize=(6.2, 5))
    for kind in ("zero_effort", "informed", "look_alike", "presentation_attack"):
        imp = ev[kind].fused
        i = np.sort(np.where(np.isnan(imp), -np.inf, imp))  # a veto is the lowest possible sum
        t = np.unique(np.r_[g[np.isfinite(g)], i[np.isfinite(i)]])
        far = 1 - np.searchsorted(i, t, side="left") / len(i)
        frr = np.searchsorted(g, t, side="left") / len(g)
        ok = (far > 0) & (frr > 0)
        ax.plot(norm.ppf(far[ok]), norm.ppf(frr[ok]), label=TITLES[kind])
    probit_axes(ax, [1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.2, 0.5], xlim=(5e-6, 0.6), ylim=(5e-5, 0.6))
    ax.set_xlabel("attempts of the kind at or above the cut (vetoes never)")
    ax.set_ylabel("genuine attempts below the cut (or vetoed)")
    ax.set_title(f"Fused LLR, evaluation attempts (accept at {thresholds['accept']:g})", fontsize=9)
    ax.legend(fontsize=7)
    save(fig, out)


def plot_fused(ev: dict[str, A.Attempts], out: Path, thresholds: dict) -> None:
    fig, ax = pyplot().subplots(figsize=(7, 3.8))
    bins = np.linspace(-25, 35, 121)
    for kind in A.KINDS:
        v = ev[kind].fused
        v = v[~np.isnan(v)]
        if len(v):
            ax.hist(v, bins=bins, density=True, histtype="step", label=f"{TITLES[kind]} ({len(v)} summed)")
    for name, x in (("review", thresholds["review"]), ("accept", thresholds["accept"])):
        ax.axvline(x, color="k", ls="--" if name == "accept" else ":", lw=1)
        ax.text(x, ax.get_ylim()[1] * 0.9, f" {name}", fontsize=7)
    ax.set_xlabel("fused LLR (natural log): face + liveness + signature")
    ax.set_ylabel("density")
    ax.legend(fontsize=6)
    save(fig, out)


def sweep(runs: dict[str, A.Attempts], cuts=tuple(np.arange(5.0, 14.01, 1.0))) -> list[dict]:
    """Accepted share per kind if `accept` were each cut (everything else as shipped): the operator's trade-off."""
    held = ("evidence_conflict", "liveness_uncertain", "spoof_suspected")  # rules above the sum
    out = []
    for cut in cuts:
        row = {"accept": float(cut)}
        for kind, att in runs.items():
            free = np.array([not any(r in held for r in rs) for rs in att.reasons[FUSED]])
            row[kind] = float(np.mean(free & (np.nan_to_num(att.fused, nan=-np.inf) >= cut)))
        out.append(row)
    return out


def pct(x: float) -> str:
    return f"{100 * x:.3f}%" if x < 0.01 else f"{100 * x:.1f}%"


def with_llr(manifest: ModelManifest, described: dict) -> ModelManifest:
    """`manifest` as the decision sees it with `described` as its calibration.llr (the shipped file untouched)."""
    return replace(manifest, calibration={**manifest.calibration, "llr": described})


def arguments(step: str, doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m model_export system {step}", description=doc)
    p.add_argument("--run", type=Path, default=RUNS_DIR / "system", help="run folder (never inside models/)")
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="score cache (each image scored once per model version)")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="the shipped models the decision combines (read only)")
    p.add_argument("--scale", type=float, default=1.0, help="share of the default number of attempts per kind (quick runs)")
    return p


def run_manifests(run: Path, models_dir: Path) -> tuple[dict[str, ModelManifest], dict[str, LlrCalibration]]:
    """The shipped manifests with the run's LLRs in place of their own; SystemExit when `calibrate` has not run."""
    if not (run / LLR_FILE).is_file():
        raise SystemExit(f"{run / LLR_FILE} is missing: run `python -m model_export system calibrate` first")
    fitted = json.loads((run / LLR_FILE).read_text())
    manifests = {k: with_llr(read_manifest(models_dir / name), fitted[k]["llr"]) for k, name in MODELS.items()}
    return manifests, {k: llr_calibration(m) for k, m in manifests.items()}


def calibrate_main(argv: list[str] | None = None) -> int:
    """`system calibrate [--only CHECK | --keep-llr]`: each check's LLR and the fused thresholds, into the run folder.

    Every LLR is fitted again unless `--only` names one (the others are the run's, or the shipped manifests') or
    `--keep-llr` keeps the shipped ones; the thresholds are then chosen on calibration attempts. Writes
    <run>/llr.json and <run>/policy.json (without figures: `evaluate` measures them); models/ is never written.
    """
    p = arguments("calibrate", calibrate_main.__doc__)
    p.add_argument("--only", choices=tuple(MODELS), help="refit this check's LLR only")
    p.add_argument("--keep-llr", action="store_true", help="keep the shipped manifests' LLRs, choose the thresholds only")
    args = p.parse_args(argv)
    run = not_shipped(args.run)
    run.mkdir(parents=True, exist_ok=True)
    faces, sigs, manifests, trials = load_inputs(args.data, args.cache, args.models_dir)
    previous = json.loads((run / LLR_FILE).read_text()) if (run / LLR_FILE).is_file() else {}
    described = {k: (previous[k]["llr"] if k in previous else m.calibration.get("llr")) for k, m in manifests.items()}
    if not args.keep_llr:
        fitted = fit_llrs(faces, trials, manifests, args.only)
        described |= fitted
        print(json.dumps({k: {x: v[x] for x in ("a", "b", "of", "low", "high", "median_llr")} for k, v in fitted.items()}))
    if any(v is None for v in described.values()):
        raise SystemExit("a check has no LLR yet: run `system calibrate` without --only or --keep-llr")
    (run / LLR_FILE).write_text(json.dumps({k: {"model": manifests[k].name, "version": manifests[k].version, "llr": v}
                                            for k, v in described.items()}, indent=2) + "\n")
    manifests, llrs = run_manifests(run, args.models_dir)
    counts = {k: max(1000, int(v * args.scale)) for k, v in A.ATTEMPTS.items()}
    cal_part = A.calibration_part(faces, CALIBRATION_SUBJECTS, trials["val"])
    open_policy = {FUSED: {"face_review_margin": 0.0, "policy": FUSED, "thresholds": FusedThresholds(math.inf, -math.inf, "open")}}
    cal = {k: A.run(cal_part, k, faces, manifests, llrs, open_policy, counts[k]) for k in A.KINDS}
    chosen = choose_thresholds(cal)
    version = datetime.now(timezone.utc).strftime("%Y.%m.%d") + "-" + hashlib.sha256(
        json.dumps([chosen["accept"], chosen["review"], {k: v.to_dict() for k, v in llrs.items()}], sort_keys=True).encode()).hexdigest()[:8]
    print("chosen", json.dumps(chosen))
    policy = {
        "name": "decision",
        "version": version,
        "thresholds": {"accept": chosen["accept"], "review": chosen["review"]},
        "meaning": "fused = face LLR (same person) + liveness LLR (live) + signature LLR (same writer), natural log; "
                   ">= accept: accepted; >= review: review; below: rejected; vetoes and the conflict rule first (functions/biometrics/decision.py)",
        "chosen": {
            "on": "calibration attempts: NUAA train of the face model's calibration subjects "
                  f"({', '.join(CALIBRATION_SUBJECTS)}) with their liveness, signature validation writers",
            "accept": f"ln(1 / {ACCEPT_ODDS_TARGET:g}) rounded up to {STEP} (the evidence at the informed-impostor target's odds), "
                      "never below the highest fused LLR of any calibration impostor attempt (zero-effort, informed, look-alike)",
            "review": "0: from even odds (the evidence favours the claim) up to accept; below, the evidence is against the claim",
            **chosen,
        },
        "llr": {check: {"model": manifests[check].name, "version": manifests[check].version, **llrs[check].to_dict()} for check in MODELS},
        "figures": None,  # filled by `ship` from the evaluation's report/metrics.json
        "report": "REPORT.md",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m model_export system calibrate; system evaluate; system ship",
        "build": {"seeds": {"llr_face_templates": L.TEMPLATE_SEED, "attempts": A.SEED}, "data": {
            "faces": data_record("NUAA photos (train and dev, live and printed)", args.data / "nuaa",
                                 [args.data / "nuaa" / f for f in faces.paths if ":" not in f]),
            "signatures": data_record("signatures of the validation and test writers", args.data / "signatures",
                                      [args.data / "signatures" / f for f in sigs.paths])}},
    }
    (run / POLICY_FILE).write_text(json.dumps(policy, indent=2) + "\n")
    print(f"wrote {run / LLR_FILE} and {run / POLICY_FILE}; next: python -m model_export system evaluate")
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """`system evaluate`: the run's LLRs and thresholds on composed attempts; REPORT.md and report/ into the run, nothing else."""
    args = arguments("evaluate", evaluate_main.__doc__).parse_args(argv)
    run = not_shipped(args.run)
    started = time.time()
    policy, _ = read_candidate(run)
    faces, _, _, trials = load_inputs(args.data, args.cache, args.models_dir)
    manifests, llrs = run_manifests(run, args.models_dir)
    counts = {k: max(1000, int(v * args.scale)) for k, v in A.ATTEMPTS.items()}
    thresholds = FusedThresholds(policy["thresholds"]["accept"], policy["thresholds"]["review"], policy["version"])
    policies = {ALL: {"face_review_margin": 0.0, "policy": ALL}, FUSED: {"face_review_margin": 0.0, "policy": FUSED, "thresholds": thresholds}}
    cal_part = A.calibration_part(faces, CALIBRATION_SUBJECTS, trials["val"])
    cal = {k: A.run(cal_part, k, faces, manifests, llrs, policies, counts[k]) for k in A.KINDS}
    ev_part = A.evaluation_part(faces, CALIBRATION_SUBJECTS, trials["test"])
    ev = {k: A.run(ev_part, k, faces, manifests, llrs, policies, counts[k]) for k in A.KINDS}

    figures = {part: {kind: {pol: rates(att, pol) for pol in policies} | {"pool": att.pool} for kind, att in runs.items()}
               for part, runs in (("calibration", cal), ("evaluation", ev))}
    for part, runs in (("calibration", cal), ("evaluation", ev)):
        for pol in policies:
            figures[part]["presentation_attack"][pol]["by_type"] = by_attack_type(runs["presentation_attack"], pol)
    reasons = {kind: {pol: top_reasons(att, pol) for pol in policies} for kind, att in ev.items()}
    figures["evaluation_sweep"] = sweep(ev)

    (run / "report").mkdir(parents=True, exist_ok=True)
    (run / "report" / METRICS_FILE).write_text(json.dumps(figures, indent=2) + "\n")
    plot_det(ev, run / "report" / "det.png", policy["thresholds"])
    plot_fused(ev, run / "report" / "fused.png", policy["thresholds"])
    write_report(run / "REPORT.md", {**policy, "figures": figures}, reasons, manifests, time.time() - started)
    for kind in A.KINDS:
        print(kind, {pol: figures["evaluation"][kind][pol] for pol in policies})
    return 0


def read_candidate(run: Path) -> tuple[dict, dict]:
    """The run's policy.json and llr.json; SystemExit when `calibrate` has not run."""
    if not (run / POLICY_FILE).is_file() or not (run / LLR_FILE).is_file():
        raise SystemExit(f"{run} has no {POLICY_FILE} or {LLR_FILE}: run `python -m model_export system calibrate` first")
    return json.loads((run / POLICY_FILE).read_text()), json.loads((run / LLR_FILE).read_text())


def ship_main(argv: list[str] | None = None) -> int:
    """`system ship`: the run's LLRs into each model's calibration.llr, its policy (figures, build) and report into models/decision/."""
    args = shipping_parser("python -m model_export system ship", "system", ship_main.__doc__).parse_args(argv)
    policy, metrics = read_run(args.run, POLICY_FILE)
    _, fitted = read_candidate(args.run)
    for check, name in MODELS.items():  # a model shipped since `calibrate` has other scores: its LLR would not fit
        shipped = read_manifest(args.models_dir / name)
        if (fitted[check]["model"], fitted[check]["version"]) != (shipped.name, shipped.version):
            raise SystemExit(f"{check}: the run was calibrated for {fitted[check]['model']} {fitted[check]['version']}, "
                             f"{shipped.name} {shipped.version} is shipped: run `system calibrate` again")
    for check, name in MODELS.items():
        L.store(args.models_dir, name, fitted[check]["llr"])
    policy["figures"] = metrics
    path = ship(args.run, args.models_dir / DECISION_POLICY_DIR, with_build(policy), (), POLICY_FILE)
    print(f"shipped decision {policy['version']} and {len(MODELS)} LLRs from {policy['build']['code_commit']} into {path.parent}")
    return 0


def write_report(path: Path, policy: dict, reasons: dict, manifests: dict, seconds: float) -> None:
    ev, cal = policy["figures"]["evaluation"], policy["figures"]["calibration"]
    t = policy["thresholds"]
    lines = [
        "# The decision as a whole: evaluation report",
        "",
        f"Generated by `python -m model_export system evaluate` on {datetime.now(timezone.utc):%Y-%m-%d} "
        f"(policy `{policy['version']}`, {seconds / 60:.0f} min). Models: "
        + ", ".join(f"{m.name} {m.version}" for m in manifests.values()) + ".",
        "",
        "## Protocol",
        "",
        "- An attempt is a face photo against an enrolled face template (the mean of 5 frames of one session, as the service",
        "  enrols), with the liveness result of that same photo, and a questioned signature against a writer's 5 references.",
        "  Face and signature come from different data sets and are drawn independently (with replacement) from their pools.",
        "- Every step record is made by the step's own result class with the shipped manifests (bands, zones, LLRs), and the",
        "  service's own `decide()` decides each attempt under both policies.",
        "- **Calibration attempts** (every choice): NUAA train frames of the face model's calibration subjects "
        f"({', '.join(CALIBRATION_SUBJECTS)}), sessions 1-2; signature validation writers.",
        "- **Evaluation attempts** (every figure below): NUAA dev frames (session 3, never used by any model's choices) of the",
        "  other nine people, against templates of all fifteen; signature test writers. Presentation attacks: NUAA dev printed",
        "  photos of the enrolled person, and simulated prints and screen replays made from every second NUAA dev live frame",
        "  (`tests/fixtures/spoof.py`).",
        "- Kinds: " + "; ".join(f"**{k}**: {TITLES[k]}" for k in A.KINDS) + ".",
        "",
        "## Thresholds (models/decision/policy.json)",
        "",
        f"Fused LLR = face + liveness + signature. Accept at >= **{t['accept']:g}**, review at >= **{t['review']:g}**, reject below.",
        f"- accept: {policy['chosen']['accept']} (highest calibration impostor: {policy['chosen']['highest_calibration_impostor']:.2f}; "
        f"calibration genuine attempts at or above it: {pct(policy['chosen']['calibration_genuine_at_or_above_accept'])});",
        f"- review: {policy['chosen']['review']}.",
        "",
        ACCEPT_RULE_HISTORY,
        "",
        "Per-check LLRs (natural log, each fitted on its model's own calibration data, clamped to what that data can show):",
        "",
        "| check | hypothesis | llr | clamp | median LLR: same / different |",
        "| --- | --- | --- | --- | --- |",
    ]
    for check, m in manifests.items():
        d = m.calibration["llr"]
        x = "logit(score)" if d["of"] == "logit" else "score"
        lines.append(f"| {check} | {d['hypothesis']} | {d['a']:.3f} x {x} {d['b']:+.3f} | [{d['low']:.2f}, {d['high']:.2f}] | "
                     f"{d['median_llr']['same']:+.2f} / {d['median_llr']['different']:+.2f} |")
    lines += ["", "## Evaluation attempts: `all` (today's rule) and `fused` side by side", "",
              "| attempt kind | attempts | all: accepted | review | rejected | fused: accepted | review | rejected | target (fused) | met? |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for kind in A.KINDS:
        a, f = ev[kind]["all"], ev[kind]["fused"]
        n = a["n"]
        what, op, target = TARGETS[kind]
        rate = f["accepted"] / n
        met = rate >= target if op == ">=" else rate <= target
        bound = "" if kind == "genuine" else f" (95% bound {pct(upper_bound(f['accepted'], n))})"
        lines.append(f"| {TITLES[kind]} | {n} | {a['accepted']} ({pct(a['accepted'] / n)}) | {pct(a['review'] / n)} | {pct(a['rejected'] / n)} | "
                     f"{f['accepted']} ({pct(rate)}){bound} | {pct(f['review'] / n)} | {pct(f['rejected'] / n)} | {op} {pct(target) if target else '0'} | "
                     f"{'yes' if met else '**no**'} |")
    lines += ["", "Pools the attempts were drawn from (face pairs x signature trials; attempts re-use them, so a rate can never be",
              "bounded below about 1 / the smaller pool):", "",
              "| attempt kind | face pairs | probe photos | signature trials | writers |", "| --- | ---: | ---: | ---: | ---: |"]
    for kind in A.KINDS:
        pl = ev[kind]["pool"]
        lines.append(f"| {kind} | {pl['face_pairs']} | {pl['probe_photos']} | {pl['signature_trials']} | {pl['signature_writers']} |")
    lines += ["", "Presentation attacks by type (evaluation):", "", "| type | attempts | all: accepted / review / rejected | fused: accepted / review / rejected |",
              "| --- | ---: | --- | --- |"]
    for typ, a in ev["presentation_attack"]["all"]["by_type"].items():
        f = ev["presentation_attack"]["fused"]["by_type"][typ]
        lines.append(f"| {typ} | {a['n']} | {a['accepted']} / {a['review']} / {a['rejected']} | {f['accepted']} / {f['review']} / {f['rejected']} |")
    lines += ["", "Most common first reason per kind (evaluation):", "", "| attempt kind | all | fused |", "| --- | --- | --- |"]
    for kind in A.KINDS:
        fmt = lambda rs: ", ".join(f"{r} {c}" for r, c in rs)
        lines.append(f"| {kind} | {fmt(reasons[kind]['all'])} | {fmt(reasons[kind]['fused'])} |")
    lines += ["", "Calibration attempts (where the thresholds were chosen), for comparison:", "",
              "| attempt kind | attempts | all: accepted / review / rejected | fused: accepted / review / rejected |", "| --- | ---: | --- | --- |"]
    for kind in A.KINDS:
        a, f = cal[kind]["all"], cal[kind]["fused"]
        lines.append(f"| {kind} | {a['n']} | {a['accepted']} / {a['review']} / {a['rejected']} | {f['accepted']} / {f['review']} / {f['rejected']} |")
    lines += ["", "## Trading review load against risk", "",
              "The accepted share of each kind if `accept` were moved (evaluation attempts, everything else as shipped; attempts",
              "under the cut go to review down to `review`). Shown for operators: nothing was chosen on these rows.", "",
              "| accept at | " + " | ".join(A.KINDS) + " |", "| ---: | " + " | ".join("---:" for _ in A.KINDS) + " |"]
    for row in policy["figures"]["evaluation_sweep"]:
        lines.append(f"| {row['accept']:g} | " + " | ".join(pct(row[k]) for k in A.KINDS) + " |")
    lines += ["", "## Figures", "", "- `report/det.png`: DET of the fused LLR, genuine against each attack kind (evaluation attempts; a veto counts as",
              "  the lowest sum).", "- `report/fused.png`: the fused LLR per kind, with the thresholds.", "",
              "![DET](report/det.png)", "![fused](report/fused.png)", ""]
    path.write_text("\n".join(lines) + "\n")


