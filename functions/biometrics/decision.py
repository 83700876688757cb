"""The decision: accepted, rejected or review, with reason codes and an explanation, from the checks' results.

Vetoes first, under either policy (each ends the decision at once):
- the face could not be used (no face, several faces, cut off) -> rejected;
- the capture is too poor to judge (too small, dark, bright, blurred, turned) -> rejected with a `retake_*`
  reason and the measured value and limit (`retake`): the device should take another photo, nobody is
  accused of anything;
- a spoof -> rejected (with BIOAUTH_SPOOF_ACTION=review: review, after the other vetoes);
- a face score far below its review band (under the manifest's `review`, widened by the review margin
  setting) -> rejected (`face_mismatch`): no signature can make up for another person's face;
- a signature that cannot be read -> rejected.

Then the policy (BIOAUTH_DECISION_POLICY):
- `all`, every check in its own accept zone: an uncertain liveness, a face in its review band, a forged or
  uncertain signature -> review; otherwise accepted.
- `fused`, the evidence summed: each check records a calibrated log-likelihood ratio (face: same person;
  liveness: live; signature: same writer); the checks look at independent things, so their LLRs add up.
  The sum is cut by the thresholds of the policy manifest (models/decision/policy.json, chosen by the system
  evaluation): >= accept -> accepted, >= review -> review, below -> rejected. Two rules stay above the sum:
  a clearly forged signature while the face matches is a conflict for a person (review, never accepted nor
  rejected by arithmetic), and an uncertain liveness caps the outcome at review, because a print of the
  enrolled person carries strong identity evidence, and identity evidence says nothing about liveness.
  Without every check's LLR (a model calibrated before scores were evidence) the `all` rule decides,
  and the explanation says so.

Every decision carries its explanation: the policy, each check's LLR, the fused value and the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..manifests import FusedThresholds

ALL, FUSED = "all", "fused"
POLICIES = (ALL, FUSED)
# Which step's result carries each check's evidence, and what it is evidence of.
EVIDENCE = {"face": ("face-match", "same person"), "liveness": ("antispoof", "live"), "signature": ("signature", "same writer")}


@dataclass(frozen=True)
class Decision:
    outcome: str  # "accepted" | "rejected" | "review"
    reasons: list[str] = field(default_factory=list)
    # Why: {"policy", "policy_version", "llr": {check: value}, "fused", "thresholds", "veto"} (see explain()).
    explanation: dict = field(default_factory=dict)
    retake: dict | None = None  # for a retake_* reason: {"reason", "measure", "value", "limit"}


def check_llrs(results: dict[str, dict | None]) -> dict[str, float | None]:
    """Each check's recorded LLR (None where the step did not run or its model has no LLR calibration)."""
    out: dict[str, float | None] = {}
    for check, (step, _) in EVIDENCE.items():
        value = (results.get(step) or {}).get("llr")
        out[check] = None if value is None else float(value)
    return out


def explain(policy: str, llrs: dict[str, float | None], thresholds: FusedThresholds | None, *, veto: str | None = None,
            note: str | None = None) -> dict:
    """The explanation a decision carries to the device, the reviewer and the audit trail."""
    known = [v for v in llrs.values() if v is not None]
    out = {
        "policy": policy,
        "policy_version": thresholds.version if thresholds is not None and policy == FUSED else None,
        "llr": {k: (None if v is None else round(v, 4)) for k, v in llrs.items()},
        "llr_of": {check: meaning for check, (_, meaning) in EVIDENCE.items()},
        "fused": round(sum(known), 4) if len(known) == len(llrs) else None,
        "thresholds": {"accept": thresholds.accept, "review": thresholds.review} if thresholds is not None and policy == FUSED else None,
        "veto": veto,
    }
    if note:
        out["note"] = note
    return out


def decide(results: dict[str, dict | None], *, face_review_margin: float, spoof_action: str = "reject",
           policy: str = ALL, thresholds: FusedThresholds | None = None) -> Decision:
    """The decision from each step's recorded result (a missing step means it did not run)."""
    if policy not in POLICIES:
        raise ValueError(f"decision policy must be one of {POLICIES}, not {policy!r}")
    llrs = check_llrs(results)

    def veto(reason: str, retake: dict | None = None) -> Decision:  # a veto decides under either policy, before any sum
        return Decision("rejected", [reason], explain(policy, llrs, thresholds, veto=reason), retake=retake)

    crop = results.get("face-crop") or {}
    if crop.get("reason"):
        return veto(crop["reason"], retake=crop.get("retake"))
    spoof = results.get("antispoof") or {}
    if spoof.get("label") == "spoof" and spoof_action == "reject":
        return veto("spoof_detected")
    face = results.get("face-match") or {}
    face_band = None
    if face:
        # Cosine score against the calibrated bands recorded by the face-match step (from the
        # model's manifest); the margin widens the review band on both sides.
        score, accept_at, review_at = float(face["score"]), float(face["accept_at"]), float(face["review_at"])
        if score < review_at - face_review_margin:
            return veto("face_mismatch")
        face_band = "accept" if score >= accept_at + face_review_margin else "review"
    sig = results.get("signature") or {}
    if sig.get("reason"):
        return veto(sig["reason"])

    doubts: list[str] = []  # the checks in doubt, in the order of the chain
    if spoof.get("label") == "spoof":
        doubts.append("spoof_suspected")
    elif spoof.get("label") == "uncertain":
        doubts.append("liveness_uncertain")
    if face_band == "review":
        doubts.append("face_uncertain")
    if sig.get("label") == "forged":
        doubts.append("signature_forged")
    elif sig.get("label") == "uncertain":
        doubts.append("signature_uncertain")
    flags = list(crop.get("flags") or [])  # e.g. other_faces_ignored: recorded, not a reason to refuse
    note = None
    if policy == FUSED and thresholds is None:
        policy, note = ALL, "no decision policy manifest: the 'all' rule decided"
    elif policy == FUSED and any(v is None for v in llrs.values()):
        missing = ", ".join(k for k, v in llrs.items() if v is None)
        policy, note = ALL, f"no calibrated LLR for {missing}: the 'all' rule decided"
    why = explain(policy, llrs, thresholds, note=note)

    if policy == ALL:
        if doubts:
            return Decision("review", doubts + flags, why)
        return Decision("accepted", ["face_match", "signature_genuine", "live_face", *flags], why)

    fused = float(why["fused"])
    if spoof.get("label") == "spoof":  # BIOAUTH_SPOOF_ACTION=review: a person decides, whatever the sum
        return Decision("review", doubts + flags, why)
    if sig.get("label") == "forged" and face_band == "accept":  # the evidence conflicts: a person decides
        return Decision("review", ["evidence_conflict", *doubts, *flags], why)
    if fused < thresholds.review:
        return Decision("rejected", ["evidence_insufficient", *doubts], why)
    if fused < thresholds.accept:
        return Decision("review", ["evidence_uncertain", *doubts, *flags], why)
    if spoof.get("label") == "uncertain":  # identity evidence cannot vouch for liveness
        return Decision("review", [*doubts, *flags], why)
    return Decision("accepted", ["evidence_sufficient", *flags], why)
