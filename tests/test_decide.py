"""The decision policy, case by case."""

from pathlib import Path

import pytest

from functions.biometrics.decision import decide
from functions.manifests import FusedThresholds, LlrCalibration, read_policy
from functions.settings import REPO_ROOT, Settings
from functions.steps.decide import policy_thresholds

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
        (results(face_crop={"reason": "retake_blurred", "retake": {"reason": "retake_blurred", "measure": "sharpness", "value": 12.0,
                                                                  "limit": 30.0}}, antispoof=None, face_match=None, signature=None),
         "rejected", ["retake_blurred"]),
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


# --- the fused policy: vetoes first, then the summed LLRs against the policy manifest's thresholds ----------

THRESHOLDS = FusedThresholds(accept=15.0, review=5.0, version="test")


def fused_results(face=10.0, live=7.0, sig=2.0, **kw):
    """Step records with LLRs: face 10 + liveness 7 + signature 2 = 19 by default (above accept)."""
    base = results(antispoof={**LIVE, "llr": live}, face_match={**MATCH, "llr": face}, signature={**GENUINE, "llr": sig})
    base.update({k.replace("_", "-"): v for k, v in kw.items()})
    return base


def fused(case, **kw):
    return decide(case, face_review_margin=0.0, policy="fused", thresholds=THRESHOLDS, **kw)


@pytest.mark.parametrize(
    "case, outcome, reasons",
    [
        (fused_results(), "accepted", ["evidence_sufficient"]),
        (fused_results(sig=-3.0), "review", ["evidence_uncertain"]),  # 14: between review and accept
        (fused_results(face=-5.0, face_match={"score": 0.33, **BANDS, "llr": -5.0}), "rejected",
         ["evidence_insufficient", "face_uncertain"]),  # in the face's review band, sum 4 < 5
        # an uncertain signature no longer sends a person to review when the rest is strong
        (fused_results(signature={"label": "uncertain", "score": 0.5, "llr": 0.5}), "accepted", ["evidence_sufficient"]),
        # the vetoes hold whatever the sum
        (fused_results(face_crop={"reason": "no_face"}), "rejected", ["no_face"]),
        (fused_results(antispoof={"label": "spoof", "score": 0.02, "llr": -7.0}), "rejected", ["spoof_detected"]),
        (fused_results(face_match={"score": 0.10, **BANDS, "llr": 12.0}), "rejected", ["face_mismatch"]),
        (fused_results(signature={"reason": "no_ink"}), "rejected", ["no_ink"]),
        # a forged signature with a matching face is a conflict for a person, even when the sum would accept
        (fused_results(signature={"label": "forged", "score": 0.1, "llr": -1.0}), "review", ["evidence_conflict", "signature_forged"]),
        # identity evidence cannot vouch for liveness: an uncertain liveness caps at review
        (fused_results(antispoof={"label": "uncertain", "score": 0.5, "llr": 6.0}), "review", ["liveness_uncertain"]),
        (fused_results(face_crop={"reason": None, "flags": ["other_faces_ignored"]}), "accepted", ["evidence_sufficient", "other_faces_ignored"]),
    ],
)
def test_fused_policy_keeps_the_vetoes_and_cuts_the_sum(case, outcome, reasons):
    d = fused(case)
    assert (d.outcome, d.reasons) == (outcome, reasons)


def test_spoof_action_review_under_the_fused_policy_goes_to_a_person_whatever_the_sum():
    d = fused(fused_results(antispoof={"label": "spoof", "score": 0.1, "llr": -7.0}), spoof_action="review")
    assert (d.outcome, d.reasons) == ("review", ["spoof_suspected"])


def test_the_explanation_names_each_checks_llr_the_sum_the_thresholds_and_the_policy():
    d = fused(fused_results(face=10.0, live=7.0, sig=-3.0))
    e = d.explanation
    assert e["policy"] == "fused" and e["policy_version"] == "test"
    assert e["llr"] == {"face": 10.0, "liveness": 7.0, "signature": -3.0}
    assert e["llr_of"] == {"face": "same person", "liveness": "live", "signature": "same writer"}
    assert e["fused"] == 14.0
    assert e["thresholds"] == {"accept": 15.0, "review": 5.0}
    assert e["veto"] is None


def test_a_veto_is_named_in_the_explanation():
    e = fused(fused_results(face_match={"score": 0.05, **BANDS, "llr": -12.0})).explanation
    assert e["veto"] == "face_mismatch" and e["llr"]["face"] == -12.0


def test_policy_all_explains_too_without_thresholds():
    d = decide(fused_results(), face_review_margin=0.0, policy="all", thresholds=THRESHOLDS)
    assert d.outcome == "accepted" and d.reasons == ["face_match", "signature_genuine", "live_face"]
    assert d.explanation["policy"] == "all" and d.explanation["thresholds"] is None and d.explanation["fused"] == 19.0


def test_without_every_llr_the_fused_policy_falls_back_to_the_all_rule_and_says_so():
    case = fused_results(signature={"label": "uncertain", "score": 0.5})  # a signature model without calibration.llr
    d = fused(case)
    assert (d.outcome, d.reasons) == ("review", ["signature_uncertain"])
    assert d.explanation["policy"] == "all" and "signature" in d.explanation["note"]
    d = decide(fused_results(), face_review_margin=0.0, policy="fused", thresholds=None)
    assert d.explanation["policy"] == "all" and "policy manifest" in d.explanation["note"]


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError):
        decide(results(), face_review_margin=0.0, policy="any")


def test_the_shipped_policy_manifest_is_read():
    shipped = read_policy(REPO_ROOT / "models")
    assert shipped.review <= shipped.accept and shipped.version
    assert policy_thresholds(REPO_ROOT / "models") == shipped
    assert policy_thresholds(Path("/nonexistent")) is None


def test_the_policy_setting_is_read_and_checked():
    assert Settings.from_env({}).decision_policy == "fused"
    assert Settings.from_env({"BIOAUTH_DECISION_POLICY": "ALL"}).decision_policy == "all"
    with pytest.raises(ValueError):
        Settings.from_env({"BIOAUTH_DECISION_POLICY": "sum"})


def test_llr_is_clamped_to_the_calibrations_range():
    cal = LlrCalibration(a=40.0, b=-16.0, of="score", low=-9.0, high=11.0)
    assert cal.llr(0.4) == 0.0
    assert cal.llr(1.0) == 11.0 and cal.llr(-1.0) == -9.0
    logit = LlrCalibration(a=1.0, b=0.0, of="logit")
    assert abs(logit.llr(0.5)) < 1e-12 and logit.llr(1.0) == 12.0  # never beyond LLR_LIMIT


def test_a_retake_carries_the_measured_value_and_the_limit_into_the_decision():
    retake = {"reason": "retake_dark", "measure": "brightness", "value": 11.5, "limit": 19.0}
    d = decide(results(face_crop={"reason": "retake_dark", "retake": retake}, antispoof=None, face_match=None, signature=None),
               face_review_margin=0.03)
    assert (d.outcome, d.reasons, d.retake) == ("rejected", ["retake_dark"], retake)
    assert decide(results(), face_review_margin=0.03).retake is None
    under_fused = fused(fused_results(face_crop={"reason": "retake_dark", "retake": retake}))
    assert (under_fused.outcome, under_fused.reasons, under_fused.retake) == ("rejected", ["retake_dark"], retake)
    assert under_fused.explanation["veto"] == "retake_dark"
