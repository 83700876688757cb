"""ISO/IEC 30107-3 error rates and the three-zone calibration used for the anti-spoofing model."""

from __future__ import annotations

import numpy as np
import pytest

from model_export.common.metrics import calibrate_thresholds, equal_error_rate, error_rates, three_zone_rates


def test_error_rates_count_attacks_accepted_and_live_rejected():
    scores = np.array([0.1, 0.2, 0.6, 0.4, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1])
    point = error_rates(scores, labels, 0.5)
    assert point.apcer == pytest.approx(1 / 3)  # the attack at 0.6 passes
    assert point.bpcer == pytest.approx(1 / 3)  # the live face at 0.4 fails
    assert point.acer == pytest.approx(1 / 3)


def test_threshold_is_inclusive_for_live():
    point = error_rates(np.array([0.5, 0.5]), np.array([0, 1]), 0.5)
    assert point.apcer == 1.0 and point.bpcer == 0.0


def test_eer_of_separable_scores_is_zero_with_threshold_in_the_gap():
    scores = np.array([0.05, 0.1, 0.2, 0.7, 0.8, 0.95])
    labels = np.array([0, 0, 0, 1, 1, 1])
    eer, thr = equal_error_rate(scores, labels)
    assert eer == 0.0
    assert 0.2 < thr <= 0.7
    assert error_rates(scores, labels, thr).acer == 0.0


def test_eer_of_two_normals_one_apart_at_sigma_0_1_is_2_3_percent_at_the_midpoint():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.3, 0.1, 2000), rng.normal(0.7, 0.1, 2000)])
    labels = np.concatenate([np.zeros(2000), np.ones(2000)])
    eer, thr = equal_error_rate(scores, labels)
    assert eer == pytest.approx(0.023, abs=0.01)  # Phi(-2) for two unit-separated normals at sigma 0.1
    assert thr == pytest.approx(0.5, abs=0.03)


def test_band_is_ordered_and_contains_operating_point():
    rng = np.random.default_rng(1)
    scores = np.clip(np.concatenate([rng.normal(0.3, 0.15, 500), rng.normal(0.7, 0.15, 500)]), 0, 1)
    labels = np.concatenate([np.zeros(500), np.ones(500)])
    cal = calibrate_thresholds(scores, labels, target_rate=0.01)
    assert cal["spoof"] <= cal["operating"] <= cal["live"]
    zones = three_zone_rates(scores, labels, cal["live"], cal["spoof"])
    # By construction at most ~1% of attacks pass as live and ~1% of live faces are rejected outright.
    assert zones["apcer_accepted_as_live"] <= 0.011
    assert zones["bpcer_rejected_as_spoof"] <= 0.011
    assert zones["attacks_to_review"] > 0 and zones["live_to_review"] > 0
