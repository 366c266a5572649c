"""The model a stream runner updates: a typed interface, and who makes it.

The runner (:mod:`streamgmm.online.runner`) sits below the estimators: it never
imports one. It talks to an :class:`OnlineModel` (what
``streamgmm.GaussianMixture`` offers through
:class:`~streamgmm.online.partial_fit.StepwiseEMMixin`) made by an
:class:`OnlineModelFactory`. The estimator layer registers its factory when it is
imported (``import streamgmm`` does), with :func:`register_model_factory`; a
runner may also be given one explicitly.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core.errors import StreamGMMError
from ..core.stepwise import OnlineState

__all__ = ["OnlineModel", "OnlineModelFactory", "default_model_factory", "register_model_factory"]


@runtime_checkable
class OnlineModel(Protocol):
    """A mixture updated by stepwise EM, batch after batch.

    Attributes
    ----------
    n_components : int
    dtype : str, numpy dtype or None
        Compute dtype (None follows the rows' dtype).
    warmed_up : bool
        Whether stepwise updates have started (``online_state_`` exists). Before
        that, ``partial_fit`` collects the warm-up rows and fits them by batch EM.
    online_state_ : OnlineState
        Running statistics and counters (once warmed up).
    n_features_in_ : int
        Features, known after the first batch.
    batch_log_likelihood_ : float
        The last batch's mean log-likelihood, scored before its update.
    step_size_ : float
        The last step size.
    """

    n_components: int
    dtype: Any
    online_state_: OnlineState
    n_features_in_: int
    batch_log_likelihood_: float
    step_size_: float

    @property
    def warmed_up(self) -> bool: ...

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """One stepwise-EM update with the batch (or warm-up collection)."""
        ...

    def partial_fit_scored(
        self, X: np.ndarray, responsibilities: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``partial_fit`` of finite rows (n, D), returning their log-likelihoods (n,)
        under the parameters before the update, and their responsibilities (n, K) if asked."""
        ...

    def set_params(self, **params: Any) -> Any:
        """Change constructor parameters (the runner sets ``step_size`` after a drift alarm)."""
        ...


class OnlineModelFactory(Protocol):
    """Makes the stream's model: fresh (``online`` None, it warms up) or continuing ``online``.

    ``params`` are the model's constructor parameters
    (:meth:`streamgmm.online.settings.ModelSetup.estimator_params`).
    """

    def __call__(self, online: OnlineState | None, params: dict[str, Any]) -> OnlineModel: ...


_DEFAULT_FACTORY: OnlineModelFactory | None = None


def register_model_factory(factory: OnlineModelFactory) -> None:
    """Make ``factory`` the default of every runner not given one (the estimator layer calls it)."""
    global _DEFAULT_FACTORY
    _DEFAULT_FACTORY = factory


def default_model_factory() -> OnlineModelFactory:
    """The registered factory.

    Raises
    ------
    StreamGMMError
        None is registered (streamgmm's estimators were not imported).
    """
    if _DEFAULT_FACTORY is None:
        raise StreamGMMError(
            "no model factory is registered for stream runners: import streamgmm (its "
            "estimators register one), or pass model_factory= to StreamRunner"
        )
    return _DEFAULT_FACTORY
