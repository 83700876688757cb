"""Examples for the OpenAPI description (functions/http/openapi.py): one request and one answer per operation.

The verification is a real record of the local host with every shipped model (ids and times shortened), so a
client author sees what each step records; tests/test_openapi.py validates every example against its schema.
Images are cut short: a real one is a whole base64 JPEG or PNG.
"""

from __future__ import annotations

VID = "0fe5f77560fe4f7197c34ecdc5b9ca1e"
AT = "2026-12-07T17:20:22.497+00:00"
FACE_B64 = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0a..."
SIGNATURE_B64 = "iVBORw0KGgoAAAANSUhEUgAAAUAAAADwCAAAAABm0nW4AAAA..."
LLR_OF = {"face": "same person", "liveness": "live", "signature": "same writer"}
EXPLANATION = {
    "policy": "fused", "policy_version": "2026.12.07-b5c50cdf",
    "llr": {"face": 10.2267, "liveness": 5.8081, "signature": 5.5706}, "llr_of": LLR_OF,
    "fused": 21.6054, "thresholds": {"accept": 9.25, "review": 0.0}, "veto": None,
}


def _run(result: dict, started: str, finished: str, ms: float) -> dict:
    return {"result": result, "duration_ms": ms, "started_at": f"2026-12-07T17:20:{started}+00:00",
            "finished_at": f"2026-12-07T17:20:{finished}+00:00", "attempt": 1}


STEPS = {
    "face-crop": _run({
        "reason": None, "faces_found": 1, "flags": [],
        "detection": {"box": [171.6, 59.8, 112.8, 112.8], "score": 0.9427,
                      "keypoints": {"right_eye": [204.8, 89.8], "left_eye": [253.0, 94.5], "nose_tip": [226.8, 119.8],
                                    "mouth_center": [225.2, 141.4], "right_ear": [177.1, 95.8], "left_ear": [279.4, 105.0]},
                      "inter_eye_px": 48.4},
        "chip_size": 112, "context_size": 256,
        "quality": {"measures": {"sharpness": 85.3785, "brightness": 157.1143, "contrast": 61.5382, "dark_fraction": 0.0243,
                                 "bright_fraction": 0.0006, "eye_distance_px": 48.4439, "yaw_deg": 1.8787, "pitch_deg": 12.3937,
                                 "roll_deg": 5.5675},
                    "limits_version": "2026-12-07-quality", "retakes": []},
        "crops": {"chip": f"crops/{VID}/chip.png", "context": f"crops/{VID}/context.jpg",
                  "antispoof_minifasnet_v2_x2.7": f"crops/{VID}/antispoof_minifasnet_v2_x2.7.png",
                  "antispoof_minifasnet_v1se_x4.0": f"crops/{VID}/antispoof_minifasnet_v1se_x4.0.png"},
    }, "22.429", "22.440", 10.44),
    "antispoof": _run({
        "label": "live", "score": 0.943684, "thresholds": {"live": 0.7815, "spoof": 0.4158},
        "model_version": "2026.12.01-minifasnet_pair",
        "member_scores": {"minifasnet_v2_x2.7": 0.948354, "minifasnet_v1se_x4.0": 0.925006},
        "llr": 5.8081, "score_meaning": "probability of live",
    }, "22.440", "22.447", 6.26),
    "face-match": _run({
        "score": 0.93675, "band": "accept", "accept_at": 0.41, "review_at": 0.322, "is_match": True,
        "model": "face_sface", "model_version": "1.0.0", "rule": "centroid",
        "reference_scores": [0.92436, 0.91702, 0.93074], "llr": 10.2267,
    }, "22.447", "22.480", 32.68),
    "signature": _run({
        "label": "genuine", "score": 0.9974, "thresholds": {"genuine": 0.9135, "forged": 0.2648},
        "distances": [0.2241, 0.3348, 0.2577, 0.2414], "distance": 0.8303, "svm": 0.5755,
        "rule": "fusion against 4 references",
        "model": {"name": "signature", "version": "2026.12.01-signet-lite",
                  "sha256": "e5bbc3d2ea450dcb27657ea6983b45973451162fa92c27774e6460240a198544"},
        "llr": 5.5706,
    }, "22.480", "22.491", 10.65),
    "decide": _run({"outcome": "accepted", "reasons": ["evidence_sufficient"], "explanation": EXPLANATION, "retake": None},
                   "22.496", "22.497", 0.71),
}

VERIFICATION = {
    "id": VID, "subject_id": "astronaut", "device_id": "kiosk-12", "status": "accepted",
    "decision": {"outcome": "accepted", "reasons": ["evidence_sufficient"], "by": "service", "decided_at": AT,
                 "explanation": EXPLANATION},
    "failure": None, "steps": STEPS, "created_at": "2026-12-07T17:20:22.429+00:00", "updated_at": AT,
}

# A case the fused policy sent to a person (a signature in its uncertain zone), and the same case once closed.
CASE_STEPS = {**STEPS, "signature": _run({
    **STEPS["signature"]["result"], "label": "uncertain", "score": 0.41, "llr": -7.5}, "22.480", "22.491", 10.65)}
CASE_EXPLANATION = {**EXPLANATION, "llr": {**EXPLANATION["llr"], "signature": -7.5}, "fused": 8.5348}
CASE_DECISION = {"outcome": "review", "reasons": ["evidence_uncertain"], "by": "service", "decided_at": AT,
                 "explanation": CASE_EXPLANATION}
LINK = "/api/v1/blobs/{ref}?expires=1796664322&sig=3q2-7w"
REVIEW_CASE = {
    **VERIFICATION, "status": "review", "decision": CASE_DECISION,
    "steps": {**CASE_STEPS, "decide": _run({"outcome": "review", "reasons": ["evidence_uncertain"],
                                            "explanation": CASE_EXPLANATION, "retake": None}, "22.496", "22.497", 0.71),
              "review": _run({"status": "not_configured", "at": AT}, "22.498", "22.498", 0.2)},
    "images": {name: LINK.format(ref=f"{VID}-{name}") for name in ("face", "signature", "face_chip", "face_context")},
    "references": {
        "face": [f"/api/v1/references/astronaut/face/{i}?case={VID}&by=reviewer-ann&expires=1796664322&sig=9a1-x{i}"
                 for i in range(3)],
        "signature": [f"/api/v1/references/astronaut/signature/{i}?case={VID}&by=reviewer-ann&expires=1796664322&sig=c4e-y{i}"
                      for i in range(4)],
        "face_photos_retained": True,
    },
}
VERDICT = {"verdict": "accept", "presentation": "bona_fide", "note": "same person; the signature is hurried but hers"}
REVIEWED = {
    **{k: v for k, v in REVIEW_CASE.items() if k not in ("images", "references")},
    "status": "accepted",
    "decision": {"outcome": "accepted", "reasons": ["reviewer_accept"], "by": "reviewer", "decided_at": "2026-12-07T17:31:02.114+00:00",
                 "service_outcome": "review", "explanation": CASE_EXPLANATION},
    "review": {**VERDICT, "reviewer": "reviewer-ann", "reviewed_at": "2026-12-07T17:31:02.114+00:00"},
}

KEY = {"key_id": "k7f3a9c2", "principal_id": "kiosk-12", "role": "device", "name": "front desk kiosk",
       "created_at": "2026-12-07T09:00:00.000+00:00", "created_by": "local-admin", "revoked_at": None, "replaces": None}

# By component name: the request body or answer an operation shows when its schema is that component.
EXAMPLES: dict[str, dict] = {
    "VerificationRequest": {"subject_id": "astronaut", "device_id": "kiosk-12", "face_image": FACE_B64,
                            "signature_image": SIGNATURE_B64},
    "VerificationAccepted": {"id": VID, "status": "queued", "status_url": f"/api/v1/verifications/{VID}"},
    "Verification": VERIFICATION,
    "EnrolmentRequest": {"face_images": [FACE_B64, FACE_B64, FACE_B64],
                         "signature_images": [SIGNATURE_B64, SIGNATURE_B64, SIGNATURE_B64, SIGNATURE_B64]},
    "Enrolment": {"subject_id": "astronaut", "faces": 3, "signatures": 4, "face_model": "face_sface/1.0.0",
                  "face_model_version": "1.0.0", "images_retained": True, "enrolled_at": "2026-12-07T17:20:20.102+00:00"},
    "Renewal": {"subject_id": "astronaut", "faces": 3, "face_model": "face_sface/1.0.0", "face_model_version": "1.0.0",
                "renewed_at": "2026-12-07T17:20:22.790+00:00"},
    "ReviewInbox": {"cases": [{"id": VID, "subject_id": "astronaut", "device_id": "kiosk-12",
                               "created_at": "2026-12-07T17:20:22.429+00:00", "reasons": ["evidence_uncertain"]}], "count": 1},
    "ReviewCase": REVIEW_CASE,
    "ReviewVerdictRequest": VERDICT,
    "AuditTrail": {"events": [
        {"action": "verification.created", "actor_id": "kiosk-12", "actor_role": "device", "subject_id": "astronaut",
         "device_id": "kiosk-12", "verification_id": VID, "details": {"mode": "sync"},
         "at": "2026-12-07T17:20:22.429+00:00", "id": "18ef0868c59bc1a8dac412da126e"},
        {"action": "verification.decided", "actor_id": "bioauth", "actor_role": "service", "subject_id": "astronaut",
         "device_id": "kiosk-12", "verification_id": VID,
         "details": {"outcome": "accepted", "reasons": ["evidence_sufficient"], "explanation": EXPLANATION,
                     "models": {"antispoof": "2026.12.01-minifasnet_pair", "face-match": "1.0.0",
                                "signature": "2026.12.01-signet-lite"}},
         "at": AT, "id": "18ef0868c9aa200432a65fbc5584"}], "count": 2},
    "KeyList": {"keys": [KEY]},
    "NewKey": {"role": "device", "principal_id": "kiosk-12", "name": "front desk kiosk"},
    "Key": {**KEY, "token": "bioauth_k7f3a9c2_q0V9wT2m8fXr4yLk3bN6sJ1pHcD5aE7u"},
    "Rotation": {"keep_old": True},
    "Health": {
        "status": "ok", "problems": [],
        "storage": {"blobs": "files+aes-gcm", "records": "sqlite", "queues": "sqlite", "audit": "sqlite"},
        "models": [{"name": "antispoof", "version": "2026.12.01-minifasnet_pair",
                    "sha256": "4c88bc9ff5a32a56ae2814f9fab24a7f6273bcb25f761aa1e8b8e096960d81e0"},
                   {"name": "face_sface", "version": "1.0.0",
                    "sha256": "ae6a6ac44d2bdc87924e75fb23d8212430dd24f037f5e035c21deff99afc8b61"}],
        "queues": {"face-crop": {"oldest_message_seconds": 0.0}, "decide": {"oldest_message_seconds": None}},
        "pollers": [{"queue": "face-crop", "alive": True, "seconds_since_poll": 0.0, "consecutive_errors": 0, "last_error": None}],
        "blob_write": {"ok": True, "ms": 9.3},
    },
    "Principal": {"id": "kiosk-12", "role": "device", "name": "front desk kiosk", "key_id": "k7f3a9c2"},
    "Liveness": {"status": "ok"},
}
