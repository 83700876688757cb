"""The decision policy, case by case."""

import pytest

from functions.steps.decide import decide

LIVE = {"label": "live", "score": 0.98}
MATCH = {"distance": 0.30, "threshold": 0.6, "strict_threshold": 0.41}
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
        (results(face_match={"distance": 0.80, "threshold": 0.6, "strict_threshold": 0.41}), "rejected", ["face_mismatch"]),
        (results(face_match={"distance": 0.50, "threshold": 0.6, "strict_threshold": 0.41}), "review", ["face_uncertain"]),
        (results(face_match={"distance": 0.39, "threshold": 0.6, "strict_threshold": 0.41}), "review", ["face_uncertain"]),
        (results(face_match={"distance": 0.62, "threshold": 0.6, "strict_threshold": 0.41}), "review", ["face_uncertain"]),
        (results(signature={"label": "forged", "score": 0.1}), "review", ["signature_forged"]),
        (results(signature={"label": "uncertain", "score": 0.5}), "review", ["signature_uncertain"]),
        (results(signature={"reason": "no_ink"}), "rejected", ["no_ink"]),
        (results(antispoof={"label": "uncertain"}, signature={"label": "forged"}), "review", ["liveness_uncertain", "signature_forged"]),
        (results(face_match={"distance": 0.80, "threshold": 0.6}, signature={"label": "forged"}), "rejected", ["face_mismatch"]),
    ],
)
def test_each_case_gets_the_policys_outcome_and_reasons(case, outcome, reasons):
    d = decide(case, face_review_margin=0.03)
    assert (d.outcome, d.reasons) == (outcome, reasons)


def test_margin_zero_keeps_the_models_own_band():
    band = {"threshold": 0.6, "strict_threshold": 0.41}
    assert decide(results(face_match={"distance": 0.61, **band}), face_review_margin=0.0).outcome == "rejected"
    assert decide(results(face_match={"distance": 0.45, **band}), face_review_margin=0.0).outcome == "review"
    assert decide(results(face_match={"distance": 0.40, **band}), face_review_margin=0.0).outcome == "accepted"


def test_without_a_strict_threshold_the_band_is_the_margin_around_the_threshold():
    assert decide(results(face_match={"distance": 0.58, "threshold": 0.6}), face_review_margin=0.03).outcome == "review"
    assert decide(results(face_match={"distance": 0.50, "threshold": 0.6}), face_review_margin=0.03).outcome == "accepted"


def test_spoof_action_review_sends_a_spoof_to_a_person_but_a_mismatch_still_rejects():
    spoof = {"label": "spoof", "score": 0.1}
    assert (decide(results(antispoof=spoof), face_review_margin=0, spoof_action="review").outcome,
            decide(results(antispoof=spoof), face_review_margin=0, spoof_action="review").reasons) == ("review", ["spoof_suspected"])
    mismatch = results(antispoof=spoof, face_match={"distance": 0.9, "threshold": 0.6, "strict_threshold": 0.41})
    assert decide(mismatch, face_review_margin=0, spoof_action="review").reasons == ["face_mismatch"]
    assert decide(results(antispoof=spoof), face_review_margin=0).reasons == ["spoof_detected"]  # the default
