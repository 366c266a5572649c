"""Change detectors for the per-batch mean log-likelihood of a stream.

The stream runner scores each batch with the current model *before* blending it in and feeds the
batch's mean log-likelihood to a detector. A drop of that value means the data no longer look
like what the model has learnt: that is the drift to report. A rise is the normal course of an
online model that keeps improving, and never raises an alarm.

Two standard detectors, behind one small interface (:class:`DriftDetector`):

:class:`PageHinkley`
    The one-sided Page–Hinkley test (Page 1954; Hinkley 1971) for a decrease of the mean, made
    scale-free. Cheap, O(1) memory, fast on abrupt drops.
:class:`ADWIN`
    Adaptive windowing (Bifet & Gavaldà 2007, "Learning from time-changing data with adaptive
    windowing", SDM): a window whose two parts are compared at every bucket boundary of an
    exponential histogram, O(log W) memory. Also reports increases, which only shrink its window.

Both are **scale-free**, because log-likelihood scales differ by orders of magnitude between
streams (speech cepstra and smart-watch sensors, 12 or 6 features, batches of 10 or 10,000
rows): PageHinkley expresses its tolerance and threshold in units of the series' noise, estimated
robustly during a warm-up, and ADWIN's bound is in units of its window's standard deviation. The
same defaults therefore work on every stream, and multiplying a series by a constant or adding
one does not change a decision.

State and exactly-once processing
    ``state_dict()`` returns plain JSON data (floats, ints, lists); ``from_state_dict`` (or
    :func:`detector_from_state_dict`) rebuilds a detector that continues *bitwise identically*:
    all arithmetic is on Python floats in a fixed order, and JSON round-trips finite floats
    exactly. The runner commits this state atomically with the model and the source position.

>>> detector = make_detector("page_hinkley")
>>> alarms = [detector.update(v) for v in batch_mean_loglik]      # doctest: +SKIP
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from statistics import fmean
from typing import Any, ClassVar, Literal

import numpy as np

from ..core.errors import InvalidInputError, InvalidParameterError

__all__ = [
    "DriftDetector",
    "PageHinkley",
    "ADWIN",
    "make_detector",
    "detector_from_state_dict",
    "DETECTOR_KINDS",
]

_STATE_VERSION = 1
#: 1 / Phi^-1(3/4): turns a median absolute deviation into a normal standard deviation.
_MAD_TO_SD = 1.482602218505602

Direction = Literal["down", "up"]


class DriftDetector(ABC):
    """A sequential change detector over a scalar series (higher is better).

    Attributes
    ----------
    n_seen : int
        Values given to :meth:`update` since construction (kept by :meth:`reset`).
    n_alarms : int
        Alarms raised since construction (kept by :meth:`reset`).
    last_direction : {"down", "up"} or None
        Direction of the most recent change detected ("up" only from ADWIN, never an alarm).
    """

    kind: ClassVar[str]

    def __init__(self) -> None:
        self.n_seen = 0
        self.n_alarms = 0
        self.last_direction: Direction | None = None

    def update(self, value: float) -> bool:
        """Add the next value; return True when a decrease is detected on this value.

        Parameters
        ----------
        value : float
            The next value of the series (a batch's mean log-likelihood, scored before the model
            was updated with that batch). Must be finite.

        Raises
        ------
        InvalidInputError
            When ``value`` is not a finite number; the detector is left unchanged.
        """
        x = _finite(value)
        self.n_seen += 1
        alarm = self._update(x)
        if alarm:
            self.n_alarms += 1
        return alarm

    @abstractmethod
    def _update(self, x: float) -> bool: ...

    @abstractmethod
    def reset(self) -> None:
        """Forget the series seen so far and start a new warm-up; lifetime counters are kept."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The constructor parameters (JSON data)."""

    @abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this detector exactly, as JSON-serialisable data."""
        return {
            "kind": self.kind,
            "version": _STATE_VERSION,
            "params": self.params(),
            "counters": {"n_seen": self.n_seen, "n_alarms": self.n_alarms},
            "last_direction": self.last_direction,
            "state": self._state(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> DriftDetector:
        """Rebuild a detector from :meth:`state_dict`; it continues bitwise identically.

        Raises
        ------
        InvalidInputError
            When ``state`` is not a state of this detector kind and version, or is incomplete.
        """
        if not isinstance(state, dict) or state.get("kind") != cls.kind:
            found = state.get("kind") if isinstance(state, dict) else type(state).__name__
            raise InvalidInputError(f"expected a {cls.kind!r} detector state, got kind {found!r}")
        if state.get("version") != _STATE_VERSION:
            raise InvalidInputError(
                f"{cls.__name__} state version {state.get('version')!r}; this streamgmm reads "
                f"version {_STATE_VERSION}"
            )
        try:
            detector = cls(**state["params"])
            detector.n_seen = int(state["counters"]["n_seen"])
            detector.n_alarms = int(state["counters"]["n_alarms"])
            if state["last_direction"] not in (None, "down", "up"):
                raise ValueError(f"last_direction {state['last_direction']!r}")
            detector.last_direction = state["last_direction"]
            detector._load_state(state["state"])
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, InvalidParameterError):
                raise
            raise InvalidInputError(
                f"incomplete or malformed {cls.__name__} state: {error!r}"
            ) from None
        return detector

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"


# ------------------------------------------------------------------------------ Page-Hinkley
class PageHinkley(DriftDetector):
    """One-sided Page–Hinkley test for a decrease of the mean, in units of the series' noise.

    After a warm-up of ``min_samples`` values, each value ``x_t`` updates a reference level
    ``m_t`` (the mean of the values since the warm-up began, exponentially weighted over about
    ``window`` values once there are that many) and the cumulative statistic

        U_t = sum_{s <= t} ((x_s - m_s) / sigma + delta),
        alarm when  max_{s <= t} U_s - U_t > threshold.

    ``U`` climbs by about ``delta`` per value while the level holds or rises, and falls once
    values sit more than ``delta`` noise units below the reference; the alarm fires when it has
    fallen ``threshold`` units below its running maximum. Each standardised deviation is clipped
    to ``±(0.6 threshold + delta)``, so a single outlying batch cannot raise an alarm alone: the
    fastest alarm takes two values.

    Scale. ``sigma`` is the noise standard deviation estimated from the warm-up values, robustly
    (:func:`robust_noise_scale`: median absolute deviations of the first differences and of the
    residuals around a Theil–Sen line, whichever is larger). The line and the differences remove
    a slow trend (an online model still improving during the warm-up), the medians ignore a few
    outlying batches. ``sigma`` is then frozen until the next reset, so a drift cannot inflate
    it. Because ``delta`` and ``threshold`` are in units of ``sigma``, one set of defaults serves
    streams whose log-likelihood noise is 0.001 or 10 nats.

    Reference level. The classical test uses the mean of everything since the start. On a series
    that rises for a long time (an online model improving) that mean lags far below the current
    level, and a later drop smaller than the lag would go unseen. Weighting the mean over the
    last ``window`` values bounds the lag to about ``slope * window``. ``window=None`` restores the
    classical cumulative mean.

    After an alarm the test restarts, with a new warm-up (and a new ``sigma``) on the new regime.

    Parameters
    ----------
    delta : float, default 1.0
        Tolerated decrease per value, in noise standard deviations. Drops of the mean smaller than
        ``delta`` sigma are not detected, however long they last.
    threshold : float, default 20.0
        Alarm threshold (lambda), in noise standard deviations. An abrupt drop of ``d`` sigma is
        detected after about ``threshold / (d - delta)`` values: 4 values for 6 sigma, 20 for
        2 sigma.
    min_samples : int, default 30
        Warm-up length: values used to estimate ``sigma`` before testing starts (at least 5).
    window : int or None, default 100
        Effective memory of the reference level, in values; None for the cumulative mean.

    Notes
    -----
    For independent Gaussian noise the mean number of values between false alarms exceeds
    10^15 at the defaults (Siegmund's approximation for a one-sided CUSUM,
    ``exp(2 delta (threshold + 1.166)) / (2 delta^2)``), and is still above 10^6 if the warm-up
    underestimates sigma by 40%. What does raise false alarms is dependence between consecutive
    values, which the test (like ADWIN) assumes away: on the BasicMotions sensor stream scored in
    batches shorter than one 100-sample recording (consecutive batches then share an activity),
    it raised 0 to 3 alarms per 1,000 stationary batches; with batches of a whole recording or
    more, and on Japanese Vowels with batches of 20 to 256 frames, none (20 streams of 1,000
    batches each). Use batches that span the data's natural segments, or a larger threshold.
    """

    kind: ClassVar[str] = "page_hinkley"

    def __init__(
        self,
        delta: float = 1.0,
        threshold: float = 20.0,
        min_samples: int = 30,
        window: int | None = 100,
    ) -> None:
        super().__init__()
        self.delta = _positive_float("delta", delta, allow_zero=True)
        self.threshold = _positive_float("threshold", threshold)
        self.min_samples = _int_at_least("min_samples", min_samples, 5)
        self.window = None if window is None else _int_at_least("window", window, 1)
        self._clip = 0.6 * self.threshold + self.delta
        self.reset()

    def reset(self) -> None:
        self._warm_up: list[float] = []
        self.scale: float | None = None  # sigma, once the warm-up is over
        self._level = 0.0
        self._n_level = 0
        self._cusum = 0.0
        self._peak = 0.0

    @property
    def statistic(self) -> float:
        """Drop of the cumulative statistic below its maximum, in sigma (0 during warm-up)."""
        return self._peak - self._cusum

    def _update(self, x: float) -> bool:
        if self.scale is None:
            self._warm_up.append(x)
            if len(self._warm_up) >= self.min_samples:
                self._start_testing()
            return False
        self._n_level += 1
        memory = self._n_level if self.window is None else min(self._n_level, self.window)
        self._level += (x - self._level) / memory
        # Clipping keeps one outlying batch (a burst of anomalies, which the anomaly flags
        # report) from raising an alarm on its own: an alarm needs two or more low values.
        z = min(max((x - self._level) / self.scale, -self._clip), self._clip)
        self._cusum += z + self.delta
        self._peak = max(self._peak, self._cusum)
        if self._peak - self._cusum > self.threshold:
            self.last_direction = "down"
            self.reset()
            return True
        return False

    def _start_testing(self) -> None:
        """End of the warm-up: estimate sigma, start the reference level at the warm-up mean."""
        values = self._warm_up
        self.scale = robust_noise_scale(values)
        self._level = fmean(values)
        self._n_level = len(values)
        self._cusum = self._peak = 0.0
        self._warm_up = []

    def params(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "threshold": self.threshold,
            "min_samples": self.min_samples,
            "window": self.window,
        }

    def _state(self) -> dict[str, Any]:
        return {
            "warm_up": list(self._warm_up),
            "scale": self.scale,
            "level": self._level,
            "n_level": self._n_level,
            "cusum": self._cusum,
            "peak": self._peak,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._warm_up = [float(v) for v in state["warm_up"]]
        self.scale = None if state["scale"] is None else float(state["scale"])
        self._level = float(state["level"])
        self._n_level = int(state["n_level"])
        self._cusum = float(state["cusum"])
        self._peak = float(state["peak"])


def robust_noise_scale(values: list[float]) -> float:
    """Noise standard deviation of a short series, insensitive to a linear trend and to outliers.

    The larger of two robust estimates, both exact for independent normal noise:

    - from the first differences ``d``: ``1.4826 * MAD(d) / sqrt(2)`` (``d`` has standard
      deviation ``sigma * sqrt(2)``; centring on the median difference removes a linear trend);
    - from the residuals ``r`` around the Theil–Sen line (median of all pairwise slopes):
      ``1.4826 * MAD(r)``.

    Differences alone underrate a level that wanders over several values (dependent values, as
    when batches are shorter than the data's natural segments); the residuals see it. Falls back
    to mean absolute deviations when more than half of the deviations are zero, and never returns
    less than a few units in the last place of the values, so a constant series does not divide
    by zero.

    Parameters
    ----------
    values : sequence of float, length >= 3

    Returns
    -------
    float
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 3:
        raise InvalidInputError(f"robust_noise_scale needs at least 3 values, got {x.size}")
    diffs = np.diff(x)
    from_diffs = _mad_sd(diffs - np.median(diffs)) / math.sqrt(2.0)
    i, j = np.triu_indices(x.size, k=1)
    slope = np.median((x[j] - x[i]) / (j - i))
    residuals = x - slope * np.arange(x.size)
    from_residuals = _mad_sd(residuals - np.median(residuals))
    floor = 64.0 * math.ulp(max(1.0, float(np.max(np.abs(x)))))
    return max(from_diffs, from_residuals, floor)


def _mad_sd(deviations: np.ndarray) -> float:
    """Normal-consistent scale of centred deviations: 1.4826 median |dev| (or from mean |dev|)."""
    absolute = np.abs(deviations)
    scale = _MAD_TO_SD * float(np.median(absolute))
    if scale == 0.0:
        # sqrt(pi / 2) * mean |dev| estimates the standard deviation of normal deviations.
        scale = math.sqrt(math.pi / 2.0) * float(np.mean(absolute))
    return scale


# ------------------------------------------------------------------------------ ADWIN
class ADWIN(DriftDetector):
    """Adaptive windowing (ADWIN2) for a change of the mean; alarms on decreases only.

    The detector keeps a window ``W`` of the most recent values, compressed into an exponential
    histogram: at most ``max_buckets`` buckets hold 1 value each, as many hold 2, then 4, ...,
    each bucket keeping only its count, mean and sum of squared deviations, so memory and time
    per value are O(max_buckets * log W). After each value, every split of ``W`` at a bucket
    boundary into an older part ``W0`` and a newer part ``W1`` (each at least ``min_window``
    values) is tested:

        |mean(W1) - mean(W0)| > eps,
        eps = s_W * (sqrt(2 ln(2/delta') / m) + 2 ln(2/delta') / (3 m)),

    with ``m = 1 / (1/|W0| + 1/|W1|)``, ``delta' = delta / ln|W|`` and ``s_W`` the standard
    deviation of the whole window. The paper's bound assumes values in [0, 1]; log-likelihoods
    are unbounded, so here its range term is expressed in units of ``s_W`` too, which makes the
    test invariant to shifting and scaling the series. When a split is significant, the older
    part of the most significant split is dropped (the window adapts to the new regime, and the
    same change is not reported again) and the test is repeated on what is left.

    A significant split where the newer part is *lower* is an alarm (:meth:`update` returns True,
    ``last_direction == "down"``). A *higher* newer part only shrinks the window
    (``last_direction == "up"``, counted in ``n_increases``): an improving model never alarms.

    Parameters
    ----------
    delta : float, default 0.002
        Confidence: the bound on the false-alarm probability of the test at one time step (the
        paper's default). Smaller values make the detector slower and more conservative.
    max_buckets : int, default 5
        Buckets of each size kept before two are merged (the paper's M); more is finer cut points
        and more memory.
    min_window : int, default 5
        Fewest values in each part of a split, and so in the window before any test (twice this).

    Notes
    -----
    Like the paper's, the bound assumes independent values; a series whose values depend on each
    other for many steps (a slowly wandering model) makes the detector oversensitive.
    """

    kind: ClassVar[str] = "adwin"

    def __init__(self, delta: float = 0.002, max_buckets: int = 5, min_window: int = 5) -> None:
        super().__init__()
        self.delta = _positive_float("delta", delta)
        if self.delta >= 1.0:
            raise InvalidParameterError(f"delta must be in (0, 1), got {delta!r}")
        self.max_buckets = _int_at_least("max_buckets", max_buckets, 2)
        self.min_window = _int_at_least("min_window", min_window, 1)
        self.n_increases = 0
        self.reset()

    def reset(self) -> None:
        # _rows[i] holds buckets of 2**i values, oldest first; higher rows are older.
        # A bucket is [count, mean, sum of squared deviations].
        self._rows: list[list[list[float]]] = []

    @property
    def width(self) -> int:
        """Number of values in the current window."""
        return sum(int(bucket[0]) for row in self._rows for bucket in row)

    @property
    def mean(self) -> float:
        """Mean of the current window (NaN when empty)."""
        total = _merge_all(self._buckets_oldest_first())
        return total[1] if total[0] else math.nan

    def _update(self, x: float) -> bool:
        self._insert(x)
        first: Direction | None = None
        while True:
            direction = self._cut_once()
            if direction is None:
                break
            first = first or direction
        if first is None:
            return False
        self.last_direction = first
        if first == "up":
            self.n_increases += 1
            return False
        return True

    def _insert(self, x: float) -> None:
        if not self._rows:
            self._rows.append([])
        self._rows[0].append([1.0, x, 0.0])
        # Cascade: a row with too many buckets merges its two oldest into one of the next size.
        for i in range(len(self._rows)):
            row = self._rows[i]
            if len(row) <= self.max_buckets:
                break
            merged = _merge(row.pop(0), row.pop(0))
            if i + 1 == len(self._rows):
                self._rows.append([])
            self._rows[i + 1].append(merged)  # newer than everything already in that row

    def _buckets_oldest_first(self) -> list[list[float]]:
        return [bucket for row in reversed(self._rows) for bucket in row]

    def _cut_once(self) -> Direction | None:
        """Test every split; drop the older part of the most significant one. Direction or None."""
        buckets = self._buckets_oldest_first()
        total = _merge_all(buckets)
        n = total[0]
        if n < 2 * self.min_window:
            return None
        sd = math.sqrt(total[2] / n)
        log_term = math.log(2.0 * math.log(n) / self.delta)  # ln(2 / delta'), delta' = delta / ln n
        # Suffix statistics (newer parts), so that each split costs O(1).
        suffixes: list[list[float]] = [[0.0, 0.0, 0.0]] * (len(buckets) + 1)
        for i in range(len(buckets) - 1, -1, -1):
            suffixes[i] = _merge(buckets[i], suffixes[i + 1])
        best_ratio, best_split, best_diff = 1.0, -1, 0.0
        older = [0.0, 0.0, 0.0]
        for i in range(len(buckets) - 1):
            older = _merge(older, buckets[i])
            newer = suffixes[i + 1]
            if older[0] < self.min_window or newer[0] < self.min_window:
                continue
            m = 1.0 / (1.0 / older[0] + 1.0 / newer[0])
            eps = sd * (math.sqrt(2.0 * log_term / m) + 2.0 * log_term / (3.0 * m))
            diff = newer[1] - older[1]
            # Significant when |diff| > eps; among those, the largest |diff| / eps wins.
            if eps == 0.0:
                ratio = math.inf if diff != 0.0 else 0.0
            else:
                ratio = abs(diff) / eps
            if ratio > best_ratio:
                best_ratio, best_split, best_diff = ratio, i, diff
        if best_split < 0:
            return None
        self._drop_oldest(best_split + 1)
        return "down" if best_diff < 0 else "up"

    def _drop_oldest(self, count: int) -> None:
        """Remove the ``count`` oldest buckets."""
        for _ in range(count):
            self._rows[-1].pop(0)
            if not self._rows[-1]:
                self._rows.pop()

    def params(self) -> dict[str, Any]:
        return {"delta": self.delta, "max_buckets": self.max_buckets, "min_window": self.min_window}

    def _state(self) -> dict[str, Any]:
        return {
            "rows": [[list(b) for b in row] for row in self._rows],
            "n_increases": self.n_increases,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        rows = [[[float(v) for v in bucket] for bucket in row] for row in state["rows"]]
        for i, row in enumerate(rows):
            if any(len(bucket) != 3 or bucket[0] != 2.0**i for bucket in row):
                raise ValueError(
                    f"row {i} of the histogram must hold [count=2**{i}, mean, m2] buckets"
                )
        self._rows = rows
        self.n_increases = int(state["n_increases"])


def _merge(a: list[float], b: list[float]) -> list[float]:
    """Merge two [count, mean, sum of squared deviations] summaries (Chan et al.)."""
    n = a[0] + b[0]
    if n == 0.0:
        return [0.0, 0.0, 0.0]
    if a[0] == 0.0:
        return list(b)
    if b[0] == 0.0:
        return list(a)
    delta = b[1] - a[1]
    mean = a[1] + delta * (b[0] / n)
    m2 = a[2] + b[2] + delta * delta * (a[0] * b[0] / n)
    return [n, mean, m2]


def _merge_all(buckets: list[list[float]]) -> list[float]:
    total = [0.0, 0.0, 0.0]
    for bucket in buckets:
        total = _merge(total, bucket)
    return total


# ------------------------------------------------------------------------------ factory
DETECTOR_KINDS: dict[str, type[DriftDetector]] = {
    PageHinkley.kind: PageHinkley,
    ADWIN.kind: ADWIN,
}
_ALIASES = {"ph": PageHinkley.kind, "pagehinkley": PageHinkley.kind}


def make_detector(kind: str, **params: Any) -> DriftDetector:
    """Build a detector by name: ``"page_hinkley"`` (or ``"ph"``) or ``"adwin"``.

    Parameters
    ----------
    kind : str
        Case-insensitive; ``-`` and ``_`` are interchangeable.
    **params
        Constructor parameters of that detector.

    Raises
    ------
    InvalidParameterError
        For an unknown kind, or parameters the detector does not take or refuses.
    """
    if not isinstance(kind, str):
        raise InvalidParameterError(f"kind must be a string, got {type(kind).__name__}")
    key = kind.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in DETECTOR_KINDS:
        raise InvalidParameterError(
            f"unknown drift detector {kind!r}; choose one of {sorted(DETECTOR_KINDS)} (or 'ph')"
        )
    cls = DETECTOR_KINDS[key]
    try:
        return cls(**params)
    except TypeError as error:
        raise InvalidParameterError(f"{cls.__name__}: {error}") from None


def detector_from_state_dict(state: dict[str, Any]) -> DriftDetector:
    """Rebuild whichever detector wrote ``state`` (see :meth:`DriftDetector.state_dict`)."""
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind not in DETECTOR_KINDS:
        raise InvalidInputError(
            f"not a drift detector state (kind {kind!r}; known {sorted(DETECTOR_KINDS)})"
        )
    return DETECTOR_KINDS[kind].from_state_dict(state)


# ------------------------------------------------------------------------------ validation
def _finite(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"a drift detector takes numbers, got {value!r}") from None
    if not math.isfinite(x):
        raise InvalidInputError(
            f"a drift detector takes finite values, got {x}; skip empty batches (no mean "
            "log-likelihood) instead of passing NaN"
        )
    return x


def _positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < 0.0 or (x == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidParameterError(f"{name} must be a finite number {bound}, got {value!r}")
    return x


def _int_at_least(name: str, value: Any, low: int) -> int:
    integral = isinstance(value, numbers.Integral) or (
        isinstance(value, float) and value.is_integer()
    )
    if isinstance(value, bool) or not integral or int(value) < low:
        raise InvalidParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)
