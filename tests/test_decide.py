"""The decision policy, case by case."""

import pytest

from functions.biometrics.decision import decide

LIVE = {"label": "live", "score": 0.98}
BANDS = {"accept_at": 0.42, "review_at": 0.32}
MATCH = {"score": 0.70, **BANDS}
GENUINE = {"label": "genuine", "score": 0.9}


def results(**kw):
    base = {"face-crop": {"reason": None}, "antispoof": LIVE, "face-match": MATCH, "signature": GENUINE}
    base.update({k.replace("_", "-"): v for k, v in kw.items()})
    return base


@pytest.mark.parametrize(
    "case, outcome, reasons",
    [
        (results(), "accepted", ["face_match", "signature_genuine", "live_face"]),
        (results(face_crop={"reason": "no_face"}, antispoof=None, face_match=None, signature=None), "rejected", ["no_face"]),
        (results(antispoof={"label": "spoof", "score": 0.02}, face_match=None, signature=None), "rejected", ["spoof_detected"]),
        (results(antispoof={"label": "uncertain", "score": 0.5}), "review", ["liveness_uncertain"]),
        (results(face_match={"score": 0.10, **BANDS}), "rejected", ["face_mismatch"]),
        (results(face_match={"score": 0.38, **BANDS}), "review", ["face_uncertain"]),
        (results(face_match={"score": 0.44, **BANDS}), "review", ["face_uncertain"]),  # within the margin above accept
        (results(face_match={"score": 0.30, **BANDS}), "review", ["face_uncertain"]),  # within the margin below review
        (results(signature={"label": "forged", "score": 0.1}), "review", ["signature_forged"]),
        (results(signature={"label": "uncertain", "score": 0.5}), "review", ["signature_uncertain"]),
        (results(signature={"reason": "no_ink"}), "rejected", ["no_ink"]),
        (results(antispoof={"label": "uncertain"}, signature={"label": "forged"}), "review", ["liveness_uncertain", "signature_forged"]),
        (results(face_match={"score": 0.05, **BANDS}, signature={"label": "forged"}), "rejected", ["face_mismatch"]),
        (results(face_crop={"reason": None, "flags": ["other_faces_ignored"]}), "accepted",
         ["face_match", "signature_genuine", "live_face", "other_faces_ignored"]),
    ],
)
def test_each_case_gets_the_policys_outcome_and_reasons(case, outcome, reasons):
    d = decide(case, face_review_margin=0.03)
    assert (d.outcome, d.reasons) == (outcome, reasons)


def test_margin_zero_keeps_the_models_own_bands():
    assert decide(results(face_match={"score": 0.319, **BANDS}), face_review_margin=0.0).outcome == "rejected"
    assert decide(results(face_match={"score": 0.32, **BANDS}), face_review_margin=0.0).outcome == "review"
    assert decide(results(face_match={"score": 0.419, **BANDS}), face_review_margin=0.0).outcome == "review"
    assert decide(results(face_match={"score": 0.42, **BANDS}), face_review_margin=0.0).outcome == "accepted"


def test_spoof_action_review_sends_a_spoof_to_a_person_but_a_mismatch_still_rejects():
    spoof = {"label": "spoof", "score": 0.1}
    assert (decide(results(antispoof=spoof), face_review_margin=0, spoof_action="review").outcome,
            decide(results(antispoof=spoof), face_review_margin=0, spoof_action="review").reasons) == ("review", ["spoof_suspected"])
    mismatch = results(antispoof=spoof, face_match={"score": 0.0, **BANDS})
    assert decide(mismatch, face_review_margin=0, spoof_action="review").reasons == ["face_mismatch"]
    assert decide(results(antispoof=spoof), face_review_margin=0).reasons == ["spoof_detected"]  # the default
