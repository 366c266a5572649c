"""The domain of every ``GaussianMixture`` parameter, defined once.

One table, :data:`DOMAINS`, says which values each constructor parameter takes
(as scikit-learn's ``_parameter_constraints`` do for its own). Both places that
accept these values read it:

- the estimator, through :func:`streamgmm.validation.check_estimator_parameters`;
- the YAML configs, whose pydantic fields are generated from it
  (:func:`streamgmm.config.schema.domain_type`), so ``model.max_iter`` in a job
  config and ``GaussianMixture(max_iter=...)`` accept exactly the same values and
  refuse the others in the same words (``tests/flows/test_parameter_domains.py``).

Pure Python: no pydantic here (the config layer adds that on top).

Where streamgmm differs from scikit-learn
-----------------------------------------
``max_iter >= 1``: recent scikit-learn (1.9 here) accepts ``max_iter=0`` and
returns the initial parameters with ``lower_bound_ = -inf``, a model that looks
fitted but is not. streamgmm refuses it, as older scikit-learn did ("Estimation
requires at least one iteration"); the initial parameters alone come from
:func:`streamgmm.core.init.initial_parameters`. Reals must be finite
(``tol=inf`` or ``reg_covar=nan`` are refused, not propagated).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from .covariance import COVARIANCE_TYPES
from .errors import InvalidParameterError
from .init import INIT_METHODS

__all__ = ["DOMAINS", "DTYPE_NAMES", "NAN_POLICIES", "Domain"]

#: What ``nan_policy`` does with rows holding NaN or inf: stop, or skip and count them.
NAN_POLICIES: tuple[str, ...] = ("raise", "drop")

#: Compute dtypes by name (``dtype=None`` follows the data).
DTYPE_NAMES: tuple[str, ...] = ("float32", "float64")


@dataclass(frozen=True)
class Domain:
    """The values one parameter accepts.

    Parameters
    ----------
    kind : {"int", "real", "choice", "bool"}
        Integers exclude ``bool``; reals are finite ``numbers.Real`` (not ``bool``).
    low, high : float, optional
        Bounds (None: unbounded on that side).
    closed : {"both", "left", "right", "neither"}
        Which of the given bounds belong to the domain.
    choices : tuple of str
        The allowed values of a "choice".
    none : str, optional
        When given, ``None`` is allowed and means this (e.g. "decaying steps").
    bool_too : bool
        ``True`` and ``False`` are allowed besides the integers (``average``).
    hint : str
        Why, or the usual value; appended to the message in parentheses.
    """

    kind: Literal["int", "real", "choice", "bool"]
    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"
    choices: tuple[str, ...] = ()
    none: str | None = None
    bool_too: bool = False
    hint: str = ""

    # ------------------------------------------------------------------ wording
    def _range(self) -> str:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        low, high = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            return f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"
        if self.low is not None:
            return f"{'>=' if left else '>'} {low}"
        if self.high is not None:
            return f"{'<=' if right else '<'} {high}"
        return ""

    def describe(self, yaml: bool = False) -> str:
        """The domain in words, e.g. "an integer >= 1", "a real number in (0.5, 1]".

        Parameters
        ----------
        yaml : bool
            Spell ``None``/``True``/``False`` as YAML does (``null``/``true``/``false``).
        """
        none, true, false = ("null", "true", "false") if yaml else ("None", "True", "False")
        if self.kind == "bool":
            return f"{true} or {false}"
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            noun = "an integer" if self.kind == "int" else "a real number"
            if self.kind == "real" and self.high is None:
                noun = "a finite real number"  # inf would pass ">= 0" in words
            text = f"{noun} {self._range()}".rstrip()
        if self.bool_too:
            text = f"{true}, {false} or {text}"
        if self.none is not None:
            text = f"{none} ({self.none}) or {text}"
        return text

    # ----------------------------------------------------------------- checking
    def _in_range(self, value: float) -> bool:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and not (value >= self.low if left else value > self.low):
            return False
        if self.high is not None and not (value <= self.high if right else value < self.high):
            return False
        return True

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in the domain."""
        if value is None:
            return self.none is not None
        is_bool = isinstance(value, (bool, np.bool_))
        if self.kind == "bool" or (self.bool_too and is_bool):
            return is_bool
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if is_bool:
            return False
        if self.kind == "int":
            return isinstance(value, numbers.Integral) and self._in_range(int(value))
        return (
            isinstance(value, numbers.Real)
            and math.isfinite(float(value))
            and self._in_range(float(value))
        )

    def problem(self, value: Any, yaml: bool = False) -> str | None:
        """None when ``value`` is allowed, else "expected ..." (with the hint)."""
        if self.contains(value):
            return None
        hint = f" ({self.hint})" if self.hint else ""
        return f"expected {self.describe(yaml)}{hint}"

    def check(self, name: str, value: Any) -> None:
        """Raise :class:`InvalidParameterError` naming ``name``, the value and the domain."""
        problem = self.problem(value)
        if problem is not None:
            raise InvalidParameterError(f"{name}={value!r} is invalid: {problem}")


def _number(value: float | None) -> str:
    """1 for 1.0, 0.5 for 0.5: bounds as a user would write them."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


#: The domain of each ``GaussianMixture`` parameter that has one (array-valued
#: initial parameters, ``n_jobs``, ``scheduler`` and ``persist`` are checked where
#: they are used). ``random_state`` also takes a ``numpy.random.RandomState`` and
#: ``dtype`` a numpy dtype in the estimator; configs spell both as here.
DOMAINS: Mapping[str, Domain] = MappingProxyType(
    {
        "n_components": Domain("int", low=1),
        "covariance_type": Domain("choice", choices=COVARIANCE_TYPES),
        "tol": Domain("real", low=0),
        "reg_covar": Domain("real", low=0),
        "max_iter": Domain("int", low=1, hint="EM needs at least one iteration"),
        "n_init": Domain("int", low=1),
        "init_params": Domain("choice", choices=INIT_METHODS),
        # What numpy.random.RandomState accepts as a seed.
        "random_state": Domain("int", low=0, high=2**32 - 1, none="a fresh seed"),
        "warm_start": Domain("bool"),
        "verbose": Domain("int", low=0),
        "verbose_interval": Domain("int", low=1),
        "chunk_size": Domain("int", low=1),
        "init_sample_size": Domain(
            "int", low=1, none="every row, initialised exactly as scikit-learn does"),
        "nan_policy": Domain("choice", choices=NAN_POLICIES),
        "dtype": Domain("choice", choices=DTYPE_NAMES, none="follow the data"),
        "step_decay": Domain(
            "real", low=0.5, high=1.0, closed="right",
            hint="stepwise EM converges only for such decays; 0.7 is a good default",
        ),
        "step_offset": Domain("real", low=0),
        "step_size": Domain(
            "real", low=0.0, high=1.0, closed="right", none="decaying steps",
            hint="a constant step, e.g. 0.05 to forget with a window of about 20 batches",
        ),
        "average": Domain("int", low=0, bool_too=True),
        "warm_up_size": Domain("int", low=1, none="10 * n_components * n_features rows"),
        # BayesianGaussianMixture's priors (array-valued ones, and degrees_of_freedom_prior
        # whose bound is n_features - 1, are checked in streamgmm.core.variational).
        "weight_concentration_prior_type": Domain(
            "choice", choices=("dirichlet_process", "dirichlet_distribution")
        ),
        "weight_concentration_prior": Domain(
            "real", low=0, closed="neither", none="1 / n_components"
        ),
        "mean_precision_prior": Domain("real", low=0, closed="neither", none="1"),
        # SVI's effective data size N (BayesianGaussianMixture.partial_fit).
        "total_samples": Domain(
            "real", low=0, closed="neither", none="the data weight seen so far",
            hint="the size of the data set the posterior stands for, e.g. a window of rows",
        ),
        "weight_threshold": Domain(
            "real", low=0, high=1, closed="left",
            hint="the weight below which a component counts as switched off, e.g. 0.01",
        ),
    }
)
