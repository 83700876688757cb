"""Signature calibration over writer-disjoint folds: each fold's writers are scored by that fold's own network."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the training stack is not installed (pip install -r model_export/requirements.txt)")

from model_export.signature.evaluate import CalibrationGroup, choose, same_writer_llr  # noqa: E402
from model_export.signature.trials import make_trials  # noqa: E402

DIM = 16
GENUINE_PER_WRITER, FORGED_PER_WRITER = 10, 5


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def signature_set(writers: list[str]):
    """Labels of a tiny data set: every writer signs GENUINE_PER_WRITER times and is forged FORGED_PER_WRITER times."""
    rows = [(w, True) for w in writers for _ in range(GENUINE_PER_WRITER)] + [(w, False) for w in writers for _ in range(FORGED_PER_WRITER)]
    names = np.array([w for w, _ in rows])
    return np.full(len(rows), "cedar"), names, np.array([g for _, g in rows])


def features_of(names: np.ndarray, genuine: np.ndarray, readable: set[str], seed: int) -> np.ndarray:
    """Features a network gives: a writer's signatures near their own centre, forgeries a little off it, but only for the
    writers in `readable`; every other row is noise (a network that says nothing about writers it was not meant to score)."""
    rng = np.random.default_rng(seed)
    centres = {w: unit(rng.normal(size=DIM)) for w in sorted(set(names))}
    drift = {w: unit(rng.normal(size=DIM)) for w in sorted(set(names))}
    out = unit(rng.normal(size=(len(names), DIM)))
    for i, (w, g) in enumerate(zip(names, genuine)):
        if w in readable:
            out[i] = unit(centres[w] + 0.8 * (not g) * drift[w] + 0.05 * rng.normal(size=DIM))
    return out


def scan_and_pad(f: np.ndarray) -> dict[str, np.ndarray]:
    return {"scan": f, "pad": f}


@pytest.fixture(scope="module")
def folds():
    writers = [f"w{i}" for i in range(8)]
    sets, names, genuine = signature_set(writers)
    groups = []
    for k, held_out in enumerate((writers[:4], writers[4:])):
        features = features_of(names, genuine, set(held_out), seed=k)
        rng = np.random.default_rng(10 + k)
        background, cohort = unit(rng.normal(size=(20, DIM))), unit(rng.normal(size=(20, DIM)))
        trials = make_trials(sets, names, genuine, held_out)
        groups.append(CalibrationGroup(scan_and_pad(features), trials, background, cohort))
    return groups


@pytest.fixture(scope="module")
def chosen(folds):
    return choose(folds)


def test_every_folds_writers_are_calibration_writers_scored_by_their_own_network(chosen):
    figures = chosen["calibration_figures"]["scan"]["all"]
    assert figures["writers"] == 8
    assert figures["trials"]["genuine"] == 8 * (GENUINE_PER_WRITER - 5) and figures["trials"]["skilled"] == 8 * FORGED_PER_WRITER
    # Each fold's network reads only its own fold's writers: scored by the other fold's network, the pooled EER would be ~50%.
    assert figures["skilled_eer_pooled"] < 0.1
    assert 0.0 <= chosen["thresholds"]["forged"] <= chosen["thresholds"]["genuine"] <= 1.0


def test_a_fold_scored_by_the_wrong_network_is_noise(folds):
    swapped = [CalibrationGroup(folds[1].features, folds[0].trials, folds[1].background, folds[1].cohort)]
    assert choose(swapped)["calibration_figures"]["scan"]["all"]["skilled_eer_pooled"] > 0.2


def test_the_decisions_llr_is_fitted_on_the_same_out_of_fold_scores(chosen):
    llr = same_writer_llr(chosen["calibrated_scores"], "two folds of eight writers")
    assert llr["a"] > 0 and llr["median_llr"]["same"] > 0 > llr["median_llr"]["different"]
    assert llr["trials"] == {"same": 2 * 8 * (GENUINE_PER_WRITER - 5), "different": 2 * 8 * FORGED_PER_WRITER}  # scans and pads
