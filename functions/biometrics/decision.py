"""The decision: accepted, rejected or review, with reason codes, from the checks' calibrated results.

Policy, strictest first:
- the face could not be used (no face, several faces, too small, cut off) -> rejected;
- a spoof -> rejected (with BIOAUTH_SPOOF_ACTION=review: review, after the other checks); an uncertain
  liveness score -> review;
- a face score below the model's review band -> rejected; in the review band (between the
  manifest's `review` and `accept` thresholds, widened by the review margin setting) -> review;
- a signature that cannot be read -> rejected; a forged signature with a matching face -> review
  (the evidence conflicts, so a person decides); an uncertain signature -> review;
- otherwise accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Decision:
    outcome: str  # "accepted" | "rejected" | "review"
    reasons: list[str] = field(default_factory=list)


def decide(results: dict[str, dict | None], *, face_review_margin: float, spoof_action: str = "reject") -> Decision:
    """The decision from each step's recorded result (a missing step means it did not run)."""
    crop = results.get("face-crop") or {}
    if crop.get("reason"):
        return Decision("rejected", [crop["reason"]])

    spoof = results.get("antispoof") or {}
    if spoof.get("label") == "spoof" and spoof_action == "reject":
        return Decision("rejected", ["spoof_detected"])
    review: list[str] = []
    if spoof.get("label") == "spoof":
        review.append("spoof_suspected")
    elif spoof.get("label") == "uncertain":
        review.append("liveness_uncertain")

    face = results.get("face-match") or {}
    if face:
        # Cosine score against the calibrated bands recorded by the face-match step (from the
        # model's manifest); the margin widens the review band on both sides.
        score, accept_at, review_at = float(face["score"]), float(face["accept_at"]), float(face["review_at"])
        if score < review_at - face_review_margin:
            return Decision("rejected", ["face_mismatch"])
        if score < accept_at + face_review_margin:
            review.append("face_uncertain")

    sig = results.get("signature") or {}
    if sig.get("reason"):
        return Decision("rejected", [sig["reason"]])
    if sig.get("label") == "forged":
        review.append("signature_forged")
    elif sig.get("label") == "uncertain":
        review.append("signature_uncertain")

    flags = list(crop.get("flags") or [])  # e.g. other_faces_ignored: recorded, not a reason to refuse
    if review:
        return Decision("review", review + flags)
    return Decision("accepted", ["face_match", "signature_genuine", "live_face", *flags])
