"""Drift detectors on the per-batch mean log-likelihood: Page–Hinkley and ADWIN.

The series are what a stream runner feeds them: batch means of the per-sample log-likelihood
(around -23 nats for D=13), with batch-to-batch noise of 0.02-0.05 nats, drops of 0.3-1 nats
when the generating mixture changes, a slow rise while an online model improves, and the same
on another scale (a sensor stream: noise of 2 nats, a drop of 15). Every test runs both
detectors on 20 seeds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from streamgmm.core.errors import InvalidInputError, InvalidParameterError
from streamgmm.online.drift import (
    ADWIN,
    DETECTOR_KINDS,
    DriftDetector,
    PageHinkley,
    detector_from_state_dict,
    make_detector,
    robust_noise_scale,
)

KINDS = sorted(DETECTOR_KINDS)
SEEDS = range(20)
LEVEL = -23.4
N_BEFORE = 500  # stationary batches before a drift
MAX_DELAY = 20


def _alarms(detector: DriftDetector, values: np.ndarray) -> list[int]:
    return [i for i, value in enumerate(values) if detector.update(value)]


def _stationary(seed: int, n: int = 1000, sd: float = 0.03, level: float = LEVEL) -> np.ndarray:
    return level + sd * np.random.default_rng(seed).standard_normal(n)


def _with_drop(seed: int, sd: float, drop: float, level: float = LEVEL) -> np.ndarray:
    values = _stationary(seed, N_BEFORE + 3 * MAX_DELAY, sd, level)
    values[N_BEFORE:] -= drop
    return values


# ------------------------------------------------------------------------------ detection
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "level, sd, drop",
    [
        (LEVEL, 0.02, 0.3),
        (LEVEL, 0.05, 0.3),
        (LEVEL, 0.05, 1.0),
        (-150.0, 2.0, 15.0),  # a sensor stream: another scale altogether
        (4.2, 0.0005, 0.004),  # and a tiny one
    ],
)
def test_abrupt_drop_is_detected_within_20_batches(
    kind: str, level: float, sd: float, drop: float
) -> None:
    for seed in SEEDS:
        detector = make_detector(kind)
        alarms = _alarms(detector, _with_drop(seed, sd, drop, level))
        assert alarms, f"seed {seed}: no alarm"
        assert N_BEFORE <= alarms[0] < N_BEFORE + MAX_DELAY, f"seed {seed}: alarms at {alarms}"
        assert detector.last_direction == "down"


@pytest.mark.parametrize("kind", KINDS)
def test_decisions_do_not_depend_on_the_scale(kind: str) -> None:
    # Multiplying by a power of two is exact in floating point, so decisions must be identical.
    for seed in range(5):
        values = _with_drop(seed, 0.05, 0.3)
        reference = _alarms(make_detector(kind), values)
        for factor in (2.0**-12, 2.0**20):
            assert _alarms(make_detector(kind), values * factor) == reference


# ------------------------------------------------------------------------------ no false alarm
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sd", [0.02, 0.05])
def test_no_alarm_over_1000_stationary_batches(kind: str, sd: float) -> None:
    for seed in SEEDS:
        detector = make_detector(kind)
        assert _alarms(detector, _stationary(seed, 1000, sd)) == [], f"seed {seed}"
        assert detector.n_alarms == 0 and detector.n_seen == 1000


def _improving(seed: int, shape: str) -> np.ndarray:
    """An online model getting better: a fast-then-slow rise, or a steady one, plus noise."""
    t = np.arange(1000)
    rise = 0.8 * (1.0 - np.exp(-t / 150.0)) if shape == "saturating" else 0.0005 * t
    return _stationary(seed, 1000, 0.03) + rise


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", ["saturating", "linear"])
def test_no_alarm_while_the_model_improves(kind: str, shape: str) -> None:
    for seed in SEEDS:
        detector = make_detector(kind)
        assert _alarms(detector, _improving(seed, shape)) == [], f"seed {seed}"
    if kind == "adwin" and shape == "saturating":
        assert detector.n_increases > 0 and detector.last_direction == "up"  # seen, not alarmed


@pytest.mark.parametrize("kind", KINDS)
def test_drop_after_a_long_improvement_is_detected(kind: str) -> None:
    # The classical Page-Hinkley reference (mean since the start) would lag ~0.25 nats behind.
    for seed in SEEDS:
        values = _improving(seed, "linear")[: N_BEFORE + 3 * MAX_DELAY]
        values[N_BEFORE:] -= 0.3
        alarms = _alarms(make_detector(kind), values)
        assert alarms and N_BEFORE <= alarms[0] < N_BEFORE + MAX_DELAY, f"seed {seed}: {alarms}"


def test_one_outlying_batch_is_not_a_drift() -> None:
    for seed in SEEDS:
        values = _stationary(seed, 600)
        values[300] -= 10.0  # 300 noise sd: a burst of anomalies in one batch
        assert _alarms(PageHinkley(), values) == []


# ------------------------------------------------------------------------------ state
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cut", [0, 7, 29, 30, 250, N_BEFORE + 1, N_BEFORE + 30])
def test_restored_state_continues_identically(kind: str, cut: int) -> None:
    values = np.r_[_with_drop(3, 0.05, 0.5), _stationary(4, 200, 0.05, LEVEL - 0.5)]
    values[N_BEFORE + 100 :] -= 0.5  # a second drop
    uninterrupted = make_detector(kind)
    expected = [uninterrupted.update(v) for v in values]
    assert sum(expected) >= 2

    first = make_detector(kind)
    decisions = [first.update(v) for v in values[:cut]]
    saved = json.dumps(first.state_dict())  # what the runner commits
    restored = detector_from_state_dict(json.loads(saved))
    assert type(restored) is type(first) and restored.params() == first.params()
    decisions += [restored.update(v) for v in values[cut:]]
    assert decisions == expected
    assert json.dumps(restored.state_dict()) == json.dumps(uninterrupted.state_dict())
    assert restored.n_alarms == uninterrupted.n_alarms == sum(expected)


@pytest.mark.parametrize("kind", KINDS)
def test_reset_starts_over_but_keeps_the_counters(kind: str) -> None:
    values = _with_drop(5, 0.03, 0.5)
    detector = make_detector(kind)
    _alarms(detector, values)
    seen, alarms = detector.n_seen, detector.n_alarms
    detector.reset()
    assert (detector.n_seen, detector.n_alarms) == (seen, alarms)
    fresh = make_detector(kind)
    assert _alarms(detector, values) == _alarms(fresh, values)


def test_state_of_another_kind_or_version_is_refused() -> None:
    state = PageHinkley().state_dict()
    with pytest.raises(
        InvalidInputError, match="expected a 'adwin' detector state, got kind 'page_hinkley'"
    ):
        ADWIN.from_state_dict(state)
    with pytest.raises(InvalidInputError, match="version 99"):
        PageHinkley.from_state_dict({**state, "version": 99})
    with pytest.raises(InvalidInputError, match="malformed"):
        PageHinkley.from_state_dict({**state, "state": {"scale": 1.0}})
    with pytest.raises(InvalidInputError, match="kind 'cusum'"):
        detector_from_state_dict({"kind": "cusum"})
    bad = ADWIN()
    for v in range(20):
        bad.update(float(v % 3))
    broken = bad.state_dict()
    broken["state"]["rows"][1][0][0] = 3.0
    with pytest.raises(InvalidInputError, match="row 1"):
        ADWIN.from_state_dict(broken)


# ------------------------------------------------------------------------------ interface
def test_factory_and_parameters() -> None:
    assert isinstance(make_detector("PH"), PageHinkley)
    assert isinstance(make_detector("page-hinkley", threshold=30), PageHinkley)
    assert make_detector("adwin", delta=0.01).params()["delta"] == 0.01
    with pytest.raises(InvalidParameterError, match="unknown drift detector 'kswin'"):
        make_detector("kswin")
    with pytest.raises(InvalidParameterError, match="unexpected keyword"):
        make_detector("adwin", threshold=3)
    with pytest.raises(InvalidParameterError, match="threshold must be a finite number > 0"):
        PageHinkley(threshold=0)
    with pytest.raises(InvalidParameterError, match="min_samples must be an integer >= 5"):
        PageHinkley(min_samples=2)
    with pytest.raises(InvalidParameterError, match=r"delta must be in \(0, 1\)"):
        ADWIN(delta=1.5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, "x", None])
def test_non_finite_values_are_refused_and_change_nothing(kind: str, bad: object) -> None:
    detector = make_detector(kind)
    for v in _stationary(0, 40):
        detector.update(v)
    before = json.dumps(detector.state_dict())
    with pytest.raises(InvalidInputError, match="finite|numbers"):
        detector.update(bad)  # type: ignore[arg-type]
    assert json.dumps(detector.state_dict()) == before


# ------------------------------------------------------------------------------ internals
def test_noise_scale_ignores_trend_and_outliers() -> None:
    estimates = []
    for seed in range(200):
        values = _stationary(seed, 30, 0.04) + 0.01 * np.arange(30)  # trend of 0.25 sd per value
        values[seed % 30] += 5.0
        estimates.append(robust_noise_scale(values.tolist()))
    assert 0.85 < np.median(estimates) / 0.04 < 1.3
    assert robust_noise_scale([2.5] * 10) > 0.0


def test_adwin_keeps_log_memory_and_an_exact_window() -> None:
    detector = ADWIN(max_buckets=3)
    values = _stationary(11, 5000)
    _alarms(detector, values)
    n_buckets = sum(len(row) for row in detector._rows)
    assert detector.width == 5000  # stationary: the window never shrank
    assert n_buckets <= 3 * (math.log2(5000) + 1)
    assert detector.mean == pytest.approx(values.mean(), rel=1e-12)

    values[-40:] -= 0.3
    detector = ADWIN(max_buckets=3)
    _alarms(detector, values)
    # After the drop the window holds only recent values, and its mean is theirs.
    assert detector.width < 100
    np.testing.assert_allclose(detector.mean, values[-detector.width :].mean(), rtol=1e-12)
